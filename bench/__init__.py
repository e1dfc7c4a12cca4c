"""Benchmarks of the real system: numbers printed as JSON, not pass/fail tests.

Each benchmark starts ``run.py`` the way a user does and measures what a user
would feel: how many telemetry events per second reach a real browser page
and how late (``bench.telemetry``), how long a cluster takes to start and how
much memory a node costs (``bench.startup``). ``python -m bench`` runs them
all. Results go to stdout as one JSON object; progress goes to stderr.

Benchmarks are not timed tests on purpose: a shared 2-core laptop makes any
threshold flaky, and a flaky test teaches people to ignore failures. The
numbers are for reading, comparing and plotting.
"""
