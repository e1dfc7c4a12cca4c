"""The backend's way into the key-value store: pick a node, forward, explain failures.

The store lives in the nodes; each serves it on its own client port
(cluster/node/kv_routes.py). The backend only forwards, for the dashboard,
scripts and lessons that talk to one address. It adds two things a raw
client would have to do itself:

* **choosing the entry node**: the one asked for (``?node=n3``), otherwise
  the leader when one is known (a follower would forward to it anyway, one
  hop more), otherwise any node that is up;
* **one-sentence reasons**: a node that refuses the connection, closes it
  mid-request or does not answer in time becomes a 503 that says which node
  and what happened, so the page and the CLI can show it as it is.

Connections are kept alive and pooled per node (one ``requests.Session``
each), as a benchmark client would: opening a TCP connection per request
would cost more than the request.

Retries: a request that never left (the connection was refused) is tried on
the next candidate, which is always safe. A request that was sent and then
lost its answer is NOT retried here: its outcome is unknown, and only the
client can retry it safely, with its session headers (``X-Client-Id``,
``X-Request-Seq``), which the gateway passes through.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from backend.raft_view import RaftView
from backend.view import ClusterView

# The node answers 503 by itself after REQUEST_TIMEOUT_S × time scale, capped
# (cluster/node/kv_service.py); the gateway waits that long plus this margin,
# so normally the node's own reason reaches the user, and only a frozen node
# (SIGSTOP: it accepts the connection, then says nothing) runs into ours.
NODE_REQUEST_TIMEOUT_S = 5.0
NODE_MAX_REQUEST_TIMEOUT_S = 60.0
ANSWER_MARGIN_S = 2.0
# A node on loopback accepts in microseconds; a refused or hanging connect
# means it is gone, and the next candidate should be tried quickly.
CONNECT_TIMEOUT_S = 1.0
# Kept-alive connections per node: the dashboard needs one or two, a
# benchmark through the gateway tens; more would only hold sockets open.
POOL_CONNECTIONS_PER_NODE = 64
# Sessions for node addresses no longer in use (a removed node) are closed
# beyond this many, oldest first.
MAX_SESSIONS = 64
# Headers of the client session (exactly-once writes) passed through to the node.
SESSION_HEADERS = ("X-Client-Id", "X-Request-Seq")


class GatewayError(Exception):
    """A request the gateway could not place; ``status`` is 400 or 503."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class NodeAnswer:
    """What a node answered: its HTTP status and JSON body, and which node it was."""

    status: int
    body: dict[str, Any]
    node: str


@dataclass(frozen=True)
class _Entry:
    id: str
    client_addr: str


def answer_timeout_s(time_scale: float) -> float:
    node_s = min(NODE_MAX_REQUEST_TIMEOUT_S, NODE_REQUEST_TIMEOUT_S * max(1.0, time_scale))
    return node_s + ANSWER_MARGIN_S


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request cannot have reached the node (so any node may get it)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        inner = getattr(reason, "reason", reason)
        return isinstance(inner, NewConnectionError | ConnectionRefusedError)
    return False


class KvGateway:
    def __init__(self, view: ClusterView, raft: RaftView) -> None:
        self._view = view
        self._raft = raft
        self._lock = threading.Lock()
        self._sessions: dict[str, requests.Session] = {}  # client_addr → session, oldest first

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            session.close()

    # -- choosing the node ---------------------------------------------------

    def states(self) -> dict[str, str]:
        return {n["id"]: n["state"] for n in self._view.node_dicts()}

    def leader(self) -> str | None:
        return self._raft.leader(self.states())

    def candidates(self, requested: str | None) -> list[_Entry]:
        """Entry nodes to try, best first; GatewayError when there is none."""
        nodes = self._view.node_dicts()
        by_id = {n["id"]: n for n in nodes}
        if requested is not None:
            node = by_id.get(requested)
            if node is None:
                known = ", ".join(by_id) or "none yet"
                raise GatewayError(400, f"unknown node {requested!r}; nodes are {known}")
            if node["state"] != "up" or not node["client_addr"]:
                raise GatewayError(503, f"{requested} is {node['state']}; it cannot serve requests")
            return [_Entry(requested, node["client_addr"])]
        up = [n for n in nodes if n["state"] == "up" and n["client_addr"]]
        if not up:
            raise GatewayError(503, "no node is up to take the request")
        leader = self._raft.leader({n["id"]: n["state"] for n in nodes})
        # The leader first; then the nodes that know a leader (they forward in
        # one hop); then the rest, which may still be electing one.
        def rank(node: dict[str, Any]) -> int:
            if node["id"] == leader:
                return 0
            return 1 if self._raft.fields(node["id"])["leader_hint"] else 2

        return [_Entry(n["id"], n["client_addr"]) for n in sorted(up, key=rank)]

    # -- forwarding ----------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        requested: str | None,
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> NodeAnswer:
        """Send one request to the best entry node; GatewayError(503) says why it failed."""
        timeout_s = (CONNECT_TIMEOUT_S, answer_timeout_s(self._view.time_scale()))
        refused: list[str] = []
        for entry in self.candidates(requested):
            url = f"http://{entry.client_addr}{path}"
            try:
                reply = self._session(entry.client_addr).request(
                    method,
                    url,
                    params=params,
                    data=body,
                    json=json_body,
                    headers=dict(headers or {}),
                    timeout=timeout_s,
                )
            except requests.RequestException as exc:
                if _never_sent(exc):
                    refused.append(entry.id)
                    continue  # safe: the node never saw it
                raise GatewayError(503, _lost_reason(entry.id, exc, timeout_s[1])) from None
            try:
                answer = reply.json()
            except ValueError:
                answer = None
            if not isinstance(answer, dict):
                raise GatewayError(
                    503, f"{entry.id} answered {reply.status_code} without a JSON object"
                )
            return NodeAnswer(reply.status_code, answer, entry.id)
        raise GatewayError(
            503, f"{', '.join(refused)} refused the connection (down or restarting); retry"
        )

    def _session(self, client_addr: str) -> requests.Session:
        with self._lock:
            session = self._sessions.get(client_addr)
            if session is None:
                session = requests.Session()
                adapter = HTTPAdapter(pool_connections=1, pool_maxsize=POOL_CONNECTIONS_PER_NODE)
                session.mount("http://", adapter)
                session.trust_env = False  # loopback: never through a proxy from the environment
                self._sessions[client_addr] = session
                while len(self._sessions) > MAX_SESSIONS:
                    oldest = next(iter(self._sessions))
                    self._sessions.pop(oldest).close()
            return session


def key_path(key: str) -> str:
    """The node's path for ``key``; every byte escaped, since a key may hold '/' or '?'."""
    return "/kv/" + quote(key, safe="")


def _lost_reason(node: str, exc: requests.RequestException, answer_s: float) -> str:
    if isinstance(exc, requests.ReadTimeout):
        return (
            f"timeout: {node} did not answer within {answer_s:g} s (paused?); "
            "a write's outcome is unknown, retry with the same session"
        )
    return (
        f"{node} closed the connection before answering (killed?); "
        "a write's outcome is unknown, retry with the same session"
    )
