"""Client sessions on real processes: a retried write applies exactly once (thesis §6.3).

The story a client lives through: it writes, the answer is lost, so it sends
the same write again (same ``X-Client-Id`` and ``X-Request-Seq``) — maybe to
another node. Meanwhile someone else overwrote the key. Applying the retry
would silently undo the other client's write; the session makes the cluster
answer the retry from memory instead.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from launcher_testkit import Cluster
from raft_testkit import put, raft_of, value_at, wait_leader

pytestmark = pytest.mark.integration

StartCluster = Callable[..., Cluster]
NODES = ["n1", "n2", "n3"]


def session(client_id: str, seq: int) -> dict[str, str]:
    return {"X-Client-Id": client_id, "X-Request-Seq": str(seq)}


def test_a_retried_write_applies_once(start_cluster: StartCluster) -> None:
    # Reference: thesis §6.3 (implementing linearizable semantics with client sessions).
    cluster = start_cluster(nodes=3)
    leader = wait_leader(cluster, NODES)
    followers = [n for n in NODES if n != leader]
    first = put(cluster, followers[0], "balance", "100", headers=session("alice", 1))
    assert first.status_code == 200, first.text
    # Another client writes the key after alice's write committed.
    other = put(cluster, leader, "balance", "250", headers=session("bob", 1))
    assert other.status_code == 200, other.text
    # Alice never saw her answer and retries, through another node.
    retry = put(cluster, followers[1], "balance", "100", headers=session("alice", 1))
    assert retry.status_code == 200, retry.text
    # The retry is a new log entry (it committed again) but was not applied again.
    assert retry.json()["index"] > other.json()["index"]
    assert value_at(cluster, leader, "balance", "linearizable") == "250"
    # Her next write is new and applies.
    after = put(cluster, followers[1], "balance", "90", headers=session("alice", 2))
    assert after.status_code == 200, after.text
    assert value_at(cluster, followers[0], "balance", "linearizable") == "90"
    # An even older retry (seq 1 after seq 2) is refused, not applied.
    stale = put(cluster, leader, "balance", "100", headers=session("alice", 1))
    assert stale.status_code == 409, stale.text
    assert "stale" in stale.json()["error"]
    assert value_at(cluster, leader, "balance", "linearizable") == "90"


def test_bad_session_headers_are_refused(start_cluster: StartCluster) -> None:
    cluster = start_cluster(nodes=3)
    leader = wait_leader(cluster, NODES)
    no_seq = put(cluster, leader, "k", "v", headers={"X-Client-Id": "carol"})
    assert no_seq.status_code == 400
    zero = put(cluster, leader, "k", "v", headers=session("carol", 0))
    assert zero.status_code == 400
    state = raft_of(cluster, leader)
    assert state is not None and state["role"] == "leader"
