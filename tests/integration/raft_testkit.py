"""Helpers for Raft tests on real node processes: find the leader, write, read.

Everything goes through the nodes' real client ports (``GET /raft``,
``PUT/GET/DELETE /kv/<key>``, ``POST /members``) with ``requests``; nothing
is mocked. Deadlines are generous: two shared cores, and an fsync per Ready.
"""

from __future__ import annotations

from typing import Any

import requests
from launcher_testkit import Cluster, wait_until

RAFT_TIMEOUT_S = 2.0
# A node's own deadline for a request is 5 s (kv_service.REQUEST_TIMEOUT_S);
# the client waits a little longer so it sees the node's 503 rather than its own timeout.
KV_TIMEOUT_S = 8.0
ELECTION_DEADLINE_S = 20.0


def raft_of(cluster: Cluster, node: str) -> dict[str, Any] | None:
    """``GET /raft`` of a node, None if it does not answer."""
    try:
        response = requests.get(f"http://{cluster.client_addr(node)}/raft", timeout=RAFT_TIMEOUT_S)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result
    except requests.RequestException:
        return None


def leaders(cluster: Cluster, nodes: list[str]) -> dict[str, dict[str, Any]]:
    """The nodes that say they lead, with their state."""
    found = {}
    for node in nodes:
        state = raft_of(cluster, node)
        if state is not None and state["role"] == "leader":
            found[node] = state
    return found


def wait_leader(
    cluster: Cluster, nodes: list[str], deadline_s: float = ELECTION_DEADLINE_S, not_in: Any = ()
) -> str:
    """Wait until exactly one of ``nodes`` leads and every answering one agrees; return it."""

    def agreed() -> str | None:
        states = {n: raft_of(cluster, n) for n in nodes}
        leading = [n for n, s in states.items() if s is not None and s["role"] == "leader"]
        if len(leading) != 1 or leading[0] in not_in:
            return None
        leader = leading[0]
        term = states[leader]["term"]  # type: ignore[index]
        for state in states.values():
            if state is not None and (state["leader"] != leader or state["term"] != term):
                return None
        return leader

    result: str = wait_until(agreed, deadline_s, interval_s=0.1, what="one agreed leader")
    return result


def put(
    cluster: Cluster,
    node: str,
    key: str,
    value: str | bytes,
    session: requests.Session | None = None,
    headers: dict[str, str] | None = None,
    timeout_s: float = KV_TIMEOUT_S,
) -> requests.Response:
    http = session or requests
    return http.put(
        f"http://{cluster.client_addr(node)}/kv/{key}",
        data=value.encode() if isinstance(value, str) else value,
        headers=headers,
        timeout=timeout_s,
    )


def get(
    cluster: Cluster,
    node: str,
    key: str,
    consistency: str = "linearizable",
    session: requests.Session | None = None,
    timeout_s: float = KV_TIMEOUT_S,
) -> requests.Response:
    http = session or requests
    return http.get(
        f"http://{cluster.client_addr(node)}/kv/{key}",
        params={"consistency": consistency},
        timeout=timeout_s,
    )


def value_at(cluster: Cluster, node: str, key: str, consistency: str) -> str | None:
    """The value a node answers with, None on 404 or any failure."""
    try:
        response = get(cluster, node, key, consistency, timeout_s=3.0)
    except requests.RequestException:
        return None
    if response.status_code != 200:
        return None
    value: str = response.json()["value"]
    return value


def put_ok(cluster: Cluster, node: str, key: str, value: str) -> dict[str, Any]:
    """PUT, retrying 503s (elections) until a deadline; the committed answer."""

    def attempt() -> dict[str, Any] | None:
        try:
            response = put(cluster, node, key, value)
        except requests.RequestException:
            return None
        if response.status_code == 200:
            body: dict[str, Any] = response.json()
            return body
        assert response.status_code == 503, response.text
        return None

    result: dict[str, Any] = wait_until(attempt, 30.0, interval_s=0.2, what=f"PUT {key}")
    return result
