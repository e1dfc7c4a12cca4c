"""Raft over a routed network: cutting a ring link does not stop the commits.

Five real nodes on a ring. Raft's messages are ordinary routed messages
(``node.send``), so when the link between the leader and its ring neighbour
is cut, its AppendEntries to that neighbour simply take the long way round,
three hops, and the cluster keeps committing writes without an election.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from launcher_testkit import Cluster, try_status, wait_until

from cluster.schema.control import SetLink

pytestmark = pytest.mark.integration

StartCluster = Callable[..., Cluster]
NODES = [f"n{i}" for i in range(1, 6)]
HTTP_TIMEOUT_S = 10.0
WRITES_DURING_CUT = 20


def raft_of(cluster: Cluster, node: str) -> dict[str, Any] | None:
    try:
        reply = requests.get(f"http://{cluster.client_addr(node)}/raft", timeout=HTTP_TIMEOUT_S)
    except requests.RequestException:
        return None
    return reply.json() if reply.ok else None


def leader_of(cluster: Cluster) -> str | None:
    for node in NODES:
        state = raft_of(cluster, node)
        if state and state["role"] == "leader":
            return node
    return None


def put(cluster: Cluster, node: str, key: str, value: str) -> dict[str, Any]:
    reply = requests.put(
        f"http://{cluster.client_addr(node)}/kv/{key}", data=value, timeout=HTTP_TIMEOUT_S
    )
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


def ring_neighbour(node: str) -> str:
    index = NODES.index(node)
    return NODES[(index + 1) % len(NODES)]


def test_raft_keeps_committing_while_a_ring_link_is_cut(start_cluster: StartCluster) -> None:
    cluster = start_cluster(nodes=5, topology="ring", fsync="off")
    wait_until(lambda: all(cluster.hub.connected(n) for n in NODES), 30, what="hub")
    wait_until(
        lambda: all(len((try_status(cluster.client_addr(n)) or {"routing": {"table": {}}})
                        ["routing"]["table"]) == 4 for n in NODES),
        30,
        what="routes everywhere",
    )  # fmt: skip
    leader = wait_until(lambda: leader_of(cluster), 30, what="a leader")
    put(cluster, leader, "before", "0")
    term_before = raft_of(cluster, leader)["term"]  # type: ignore[index]

    neighbour = ring_neighbour(leader)
    for here, there in ((leader, neighbour), (neighbour, leader)):
        cluster.hub.send_command(here, SetLink(there, False, None, 0.0, 0.0, 0.0, 1000.0))
    wait_until(
        lambda: (try_status(cluster.client_addr(leader)) or {"peers": {neighbour: 1}})["peers"]
        .get(neighbour) is None,
        10,
        what="the cut to reach the leader",
    )

    started_s = time.monotonic()
    for i in range(WRITES_DURING_CUT):
        answer = put(cluster, leader, f"k{i}", str(i))
        assert answer["term"] == term_before, "the cut caused an election"
    took_s = time.monotonic() - started_s
    print(f"{WRITES_DURING_CUT} writes committed across the cut in {took_s:.2f} s")

    # The cut-off neighbour is still a full member: it applied every write,
    # and a linearizable read there sees the last one.
    def read_last() -> bool:
        reply = requests.get(
            f"http://{cluster.client_addr(neighbour)}/kv/k{WRITES_DURING_CUT - 1}",
            timeout=HTTP_TIMEOUT_S,
        )
        return reply.ok and reply.json()["value"] == str(WRITES_DURING_CUT - 1)

    wait_until(read_last, 10, what=f"{neighbour} to serve the last write")
    # Its AppendEntries went the long way round: sent by the leader to another hop.
    detours = [
        e
        for e in cluster.hub.events("MsgSent", leader)
        if e.kind == "AppendEntries" and e.dst == neighbour and e.to != neighbour
    ]
    assert detours, "no AppendEntries to the cut-off neighbour was routed around the ring"
