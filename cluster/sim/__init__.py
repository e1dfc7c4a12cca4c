"""A whole cluster of pure Raft cores in one process, over a seeded simulated
network, with invariant checkers and a linearizability checker.

``python -m cluster.sim --seeds N`` runs N seeded scenarios; a failure prints
the command that reproduces it. ``harness.Harness`` is the hand-driven
variant used by unit tests and lessons.
"""
