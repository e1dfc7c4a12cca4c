"""Fixtures for tests that run real node processes on loopback.

* ``hub``: a ``HubStandIn`` (launcher_testkit.py), a real TCP telemetry
  receiver, stopped afterwards.
* ``start_cluster``: ``start_cluster(nodes=5, **settings)`` starts a
  ``Launcher`` reporting to ``hub`` and returns a ``Cluster``; afterwards the
  launcher is stopped and every pid it ever spawned is killed by pid, even if
  the test or ``stop`` failed.

Plain helpers (``wait_until``, ``node_status``, ``pid_gone``...) live in
launcher_testkit.py: ``from launcher_testkit import wait_until``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from launcher_testkit import TEST_SECRET, Cluster, HubStandIn, kill_pids

from cluster.config import ClusterConfig
from cluster.launcher import Launcher


@pytest.fixture
def hub() -> Iterator[HubStandIn]:
    stand_in = HubStandIn()
    try:
        yield stand_in
    finally:
        stand_in.stop()


@pytest.fixture
def start_cluster(hub: HubStandIn, tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    """``start_cluster(nodes=5, **settings)`` → a started ``Cluster``; stopped afterwards."""
    clusters: list[Cluster] = []

    def start(nodes: int = 5, **settings: Any) -> Cluster:
        config = ClusterConfig(nodes=nodes, heartbeat_interval_ms=100).merged(settings).validate()
        data_dir = tmp_path / f"run{len(clusters)}"
        launcher = Launcher(
            config, data_dir, TEST_SECRET, f"test-run-{len(clusters)}", "127.0.0.1", hub.port
        )
        cluster = Cluster(launcher, hub, data_dir)
        clusters.append(cluster)
        launcher.start()
        return cluster

    try:
        yield start
    finally:
        for cluster in clusters:
            # Callbacks arrive on another thread; read the pids directly too.
            cluster.pids.update(s.pid for s in cluster.launcher.status() if s.pid is not None)
            try:
                cluster.launcher.stop(timeout_s=3.0)
            finally:
                kill_pids(cluster.pids)
