"""Raft on real node processes: election, replication, failover, partitions, crash recovery.

What only real processes show: a leader elected over real TCP, writes made
durable with a real fsync before they are acknowledged, a leader killed with
SIGKILL, a majority frozen with SIGSTOP (a real partition of the leader: its
sockets stay open but nobody answers), and a whole cluster killed and
restarted from its data directories.

Every request goes to the nodes' client ports; processes are stopped by pid
(conftest.py) whatever happens.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import requests
from launcher_testkit import Cluster, wait_until
from raft_testkit import get, put, put_ok, raft_of, value_at, wait_leader

pytestmark = pytest.mark.integration

StartCluster = Callable[..., Cluster]


def ids(count: int) -> list[str]:
    return [f"n{i}" for i in range(1, count + 1)]


@pytest.mark.parametrize("size", [3, 5])
def test_a_cluster_elects_exactly_one_leader_that_everyone_follows(
    start_cluster: StartCluster, size: int
) -> None:
    # Reference: §5.2 (election), §5.4.1 (Election Safety: at most one leader per term).
    cluster = start_cluster(nodes=size)
    leader = wait_leader(cluster, ids(size))
    states = [raft_of(cluster, n) for n in ids(size)]
    assert all(s is not None for s in states)
    assert [s["role"] for s in states if s is not None].count("leader") == 1
    leader_state = raft_of(cluster, leader)
    assert leader_state is not None
    assert leader_state["voters"] == ids(size)
    assert leader_state["fsync"] == "always"
    # §8: a new leader commits a no-op of its own term.
    assert leader_state["commit_index"] >= 1


def test_writes_commit_and_are_readable_from_every_node(start_cluster: StartCluster) -> None:
    cluster = start_cluster(nodes=3)
    leader = wait_leader(cluster, ids(3))
    follower = next(n for n in ids(3) if n != leader)
    # Any node accepts a write: the follower forwards it to the leader.
    via_follower = put_ok(cluster, follower, "colour", "blue")
    assert via_follower["key"] == "colour" and via_follower["value"] == "blue"
    assert via_follower["index"] >= 2 and via_follower["term"] >= 1
    via_leader = put_ok(cluster, leader, "shape", "round")
    assert via_leader["index"] > via_follower["index"]
    for node in ids(3):
        # Linearizable: right away, on every node (ReadIndex, §6.4).
        response = get(cluster, node, "colour")
        assert response.status_code == 200, response.text
        assert response.json()["value"] == "blue"
        # Stale: the local copy, which catches up shortly.
        wait_until(
            lambda n=node: value_at(cluster, n, "shape", "stale") == "round",  # type: ignore[misc]
            10,
            what=f"stale read of shape on {node}",
        )
    missing = get(cluster, follower, "no-such-key")
    assert missing.status_code == 404
    deleted = requests.delete(f"http://{cluster.client_addr(follower)}/kv/colour", timeout=8)
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True
    assert get(cluster, leader, "colour").status_code == 404


def test_killing_the_leader_elects_a_new_one_and_keeps_acknowledged_writes(
    start_cluster: StartCluster,
) -> None:
    # Reference: §5.4 (Leader Completeness: committed entries survive a change of leader).
    cluster = start_cluster(nodes=3)
    old = wait_leader(cluster, ids(3))
    acknowledged = {f"k{i}": f"v{i}" for i in range(10)}
    for key, value in acknowledged.items():
        put_ok(cluster, old, key, value)
    old_term = raft_of(cluster, old)["term"]  # type: ignore[index]
    cluster.launcher.kill(old)  # SIGKILL
    survivors = [n for n in ids(3) if n != old]
    new = wait_leader(cluster, survivors)
    assert new != old
    committed = put_ok(cluster, survivors[0], "after", "failover")
    assert committed["term"] > old_term
    for key, value in acknowledged.items():
        assert value_at(cluster, survivors[1], key, "linearizable") == value
    # The old leader comes back as a follower and catches up.
    cluster.launcher.restart(old)
    wait_until(
        lambda: value_at(cluster, old, "after", "stale") == "failover",
        20,
        what="the restarted old leader to catch up",
    )


def test_a_leader_cut_off_from_the_majority_cannot_commit(start_cluster: StartCluster) -> None:
    # Reference: §5.4.2 / §6.2 (check-quorum): a minority-side leader commits nothing.
    cluster = start_cluster(nodes=5)
    leader = wait_leader(cluster, ids(5))
    put_ok(cluster, leader, "before", "partition")
    minority = [leader, next(n for n in ids(5) if n != leader)]
    majority = [n for n in ids(5) if n not in minority]
    commit_before = raft_of(cluster, leader)["commit_index"]  # type: ignore[index]
    for node in majority:
        cluster.launcher.pause(node)  # SIGSTOP: sockets open, nobody answers
    try:
        started = time.monotonic()
        response = put(cluster, leader, "during", "partition")
        assert response.status_code == 503, response.text
        error = response.json()["error"]
        assert error, "a 503 must say why"
        print(f"minority leader answered 503 after {time.monotonic() - started:.1f} s: {error}")
        for node in minority:
            state = raft_of(cluster, node)
            assert state is not None
            assert state["commit_index"] == commit_before, f"{node} committed while partitioned"
        # Check-quorum (thesis §6.2): the cut-off leader steps down.
        wait_until(
            lambda: raft_of(cluster, leader)["role"] != "leader",  # type: ignore[index]
            10,
            what="the minority leader to step down",
        )
    finally:
        for node in majority:
            cluster.launcher.resume(node)
    wait_leader(cluster, ids(5))
    put_ok(cluster, minority[1], "after", "healed")
    assert value_at(cluster, leader, "before", "linearizable") == "partition"


def test_every_acknowledged_write_survives_killing_every_node(
    start_cluster: StartCluster,
) -> None:
    # Reference: §5 Figure 2 (persistent state) — fsync before acknowledging.
    cluster = start_cluster(nodes=3)
    leader = wait_leader(cluster, ids(3))
    acknowledged: dict[str, str] = {}
    session = requests.Session()
    for i in range(40):
        node = ids(3)[i % 3]
        response = put(cluster, node, f"key{i}", f"value{i}", session=session)
        if response.status_code == 200:
            acknowledged[f"key{i}"] = f"value{i}"
    assert len(acknowledged) >= 30
    for node in ids(3):
        cluster.launcher.kill(node)
    for node in ids(3):
        cluster.launcher.restart(node)
    new_leader = wait_leader(cluster, ids(3))
    print(f"leader before: {leader}, after restarting all: {new_leader}")
    for key, value in acknowledged.items():
        assert value_at(cluster, ids(3)[hash(key) % 3], key, "linearizable") == value, key
    # Each node's own state machine has everything (stale reads, after catching up).
    for node in ids(3):
        wait_until(
            lambda n=node: all(  # type: ignore[misc]
                value_at(cluster, n, k, "stale") == v for k, v in acknowledged.items()
            ),
            20,
            what=f"{node} to apply every acknowledged write",
        )
