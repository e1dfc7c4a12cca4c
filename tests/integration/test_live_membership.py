"""Membership changes with real processes: a new node joins and catches up, one leaves.

Thesis §4: one server at a time. The launcher starts the new process (fresh
ports and data directory, no configuration: it waits to be added), the hub
tells every node where it listens (``AddPeer``), and ``POST /members`` on
any node proposes the change through Raft. A snapshot threshold of 50
entries makes the leader compact its log first, so the newcomer must be sent
the snapshot (§7, InstallSnapshot) before the rest of the log.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from launcher_testkit import Cluster, wait_until
from raft_testkit import put_ok, raft_of, value_at, wait_leader

pytestmark = pytest.mark.integration

StartCluster = Callable[..., Cluster]
NODES = ["n1", "n2", "n3"]
SNAPSHOT_THRESHOLD_ENTRIES = 50
RETRY_503_S = 30.0


def members(cluster: Cluster, node: str, action: str, target: str) -> requests.Response:
    return requests.post(
        f"http://{cluster.client_addr(node)}/members",
        json={"action": action, "node": target},
        timeout=10,
    )


def send_command(cluster: Cluster) -> Callable[[str, Any], None]:
    def send(node: str, command: Any) -> None:
        # A node not connected to the hub right now learns it from its config on restart.
        with contextlib.suppress(KeyError, OSError):
            cluster.hub.send_command(node, command)

    return send


def test_a_node_is_added_catches_up_and_another_is_removed(start_cluster: StartCluster) -> None:
    cluster = start_cluster(nodes=3, snapshot_threshold_entries=SNAPSHOT_THRESHOLD_ENTRIES)
    leader = wait_leader(cluster, NODES)
    written = {f"key{i}": f"value{i}" for i in range(120)}
    session = requests.Session()
    for key, value in written.items():
        response = session.put(
            f"http://{cluster.client_addr(leader)}/kv/{key}", data=value, timeout=10
        )
        assert response.status_code == 200, response.text
    wait_until(
        lambda: (raft_of(cluster, leader) or {}).get("snapshot_index", 0) > 0,
        10,
        what="the leader to compact its log",
    )

    status = cluster.launcher.add_node(send_command(cluster))
    assert status.id == "n4"
    follower = next(n for n in NODES if n != leader)
    added = members(cluster, follower, "add", "n4")
    assert added.status_code == 200, added.text
    assert added.json()["voters"] == ["n1", "n2", "n3", "n4"]
    wait_until(
        lambda: (raft_of(cluster, "n4") or {}).get("voters") == ["n1", "n2", "n3", "n4"],
        20,
        what="n4 to learn the configuration",
    )
    # It got the compacted part as a snapshot, and everything else after it.
    wait_until(
        lambda: all(value_at(cluster, "n4", k, "stale") == v for k, v in written.items()),
        30,
        what="n4 to catch up",
    )
    assert any(
        e.node == "n4" and e.source == "leader" for e in cluster.hub.events("SnapshotSaved")
    ), "n4 should have installed the leader's snapshot"
    put_ok(cluster, "n4", "from", "n4")

    # Remove a follower: commit the change first, then stop its process.
    leaving = next(n for n in NODES if n != leader)
    removed = members(cluster, "n4", "remove", leaving)
    assert removed.status_code == 200, removed.text
    assert leaving not in removed.json()["voters"]
    cluster.launcher.remove_node(leaving, send_command(cluster))
    assert leaving not in cluster.launcher.node_ids()
    remaining = [n for n in [*NODES, "n4"] if n != leaving]
    wait_leader(cluster, remaining)
    committed = put_ok(cluster, remaining[0], "after", "removal")
    assert committed["index"] > added.json()["index"]
    for node in remaining:
        assert value_at(cluster, node, "after", "linearizable") == "removal"
    # A restarted member's config no longer names the removed node, and it rejoins.
    cluster.launcher.restart(remaining[0])
    wait_until(
        lambda: value_at(cluster, remaining[0], "from", "linearizable") == "n4",
        30,
        what=f"{remaining[0]} to come back after the removal",
    )


def test_membership_requests_are_checked(start_cluster: StartCluster) -> None:
    cluster = start_cluster(nodes=3)
    leader = wait_leader(cluster, NODES)
    assert members(cluster, leader, "add", "n2").status_code == 409  # already a voter
    bad = requests.post(
        f"http://{cluster.client_addr(leader)}/members", json={"action": "promote"}, timeout=10
    )
    assert bad.status_code == 400


def test_the_leader_can_remove_itself(start_cluster: StartCluster) -> None:
    # Reference: thesis §4.2.2 — a leader removed from the configuration steps
    # down once the change is committed; the others elect a new leader.
    cluster = start_cluster(nodes=3)
    leader = wait_leader(cluster, NODES)
    put_ok(cluster, leader, "before", "removal")
    deadline_s = time.monotonic() + RETRY_503_S
    while True:
        removed = members(cluster, leader, "remove", leader)
        if removed.status_code != 503 or time.monotonic() > deadline_s:
            break
        # On a loaded machine a late heartbeat can cost the leader its term
        # (check-quorum): a 503 says so and may be retried, by the new leader.
        time.sleep(0.5)
        leader = wait_leader(cluster, NODES)
    assert removed.status_code == 200, removed.text
    assert leader not in removed.json()["voters"]
    cluster.launcher.remove_node(leader, send_command(cluster))
    remaining = [n for n in NODES if n != leader]
    new_leader = wait_leader(cluster, remaining)
    assert new_leader != leader
    put_ok(cluster, remaining[0], "after", "removal")
    assert value_at(cluster, remaining[1], "before", "linearizable") == "removal"
