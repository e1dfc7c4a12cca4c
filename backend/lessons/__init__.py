"""Lessons: ready-made experiments with narration, run against the live cluster.

A lesson is a TOML file under ``scenarios/`` (``scenario.py`` reads it
strictly). The runner (``runner.py``) plays it step by step in a backend
thread: each step shows its narration, performs its action through the very
functions the REST API uses (``lab.py``), waits for a condition and checks
what the class should have seen (``conditions.py``). docs/lessons.md is the
course; this package is the machinery.
"""
