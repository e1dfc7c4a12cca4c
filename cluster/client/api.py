"""A small typed client for the backend's REST API.

Scripts, benchmarks, tests and the ``clusterlab`` command line all talk to a
running ``run.py`` through this one class, so each of them gets the same
clear errors: every failure (backend not running, a wrong token, a refused
request) becomes one ``ClientError`` whose message can be shown to a person
as it is, never a stack trace from ``requests``.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict, cast
from urllib.parse import quote

import requests

DEFAULT_URL = "http://127.0.0.1:5000"
URL_ENV = "CLUSTERLAB_URL"
TOKEN_ENV = "CLUSTERLAB_TOKEN"
# A kill waits until the process is reaped and a restart until it is spawned;
# both finish well inside this on a loaded laptop.
DEFAULT_TIMEOUT_S = 10.0
# A KV request or membership change waits for a commit, which a node gives up
# on after 5 s × time scale (at most 60 s) and a new node's start after 20 s ×
# time scale (at most 120 s); the backend answers 503 by then, so wait longer.
KV_TIMEOUT_S = 75.0
MEMBERS_TIMEOUT_S = 200.0
CONSISTENCIES = ("linearizable", "stale")


class NodeInfo(TypedDict):
    id: str
    state: str  # "starting" | "up" | "paused" | "down"
    pid: int | None
    addr: str
    client_addr: str
    rtt_ms: dict[str, float]
    counters: dict[str, int]
    restarts: NotRequired[int]
    exit_code: NotRequired[int | None]
    # Raft, from the node's latest RaftState (None / 0 before its first one)
    role: NotRequired[str | None]  # "follower" | "pre_candidate" | "candidate" | "leader"
    term: NotRequired[int]
    vote: NotRequired[str | None]
    commit_index: NotRequired[int]
    last_applied: NotRequired[int]
    log_length: NotRequired[int]
    snapshot_index: NotRequired[int]
    voters: NotRequired[list[str]]
    fsync: NotRequired[str | None]


class LinkInfo(TypedDict):
    a: str
    b: str
    up: bool


class ClusterInfo(TypedDict):
    nodes: list[NodeInfo]
    links: list[LinkInfo]
    leader: str | None
    time_scale: float
    run_id: str


class KvWrite(TypedDict):
    """A committed write: where it is in the log, and which node took it."""

    key: str
    index: int
    term: int
    node: str
    value: NotRequired[str]  # put
    deleted: NotRequired[bool]  # delete: whether the key existed


class KvRead(TypedDict):
    key: str
    value: str
    node: str  # the node whose state machine answered
    consistency: str
    applied_index: NotRequired[int]


class MemberChange(TypedDict):
    ok: bool
    action: str
    node: str
    index: int
    term: int
    voters: list[str]
    via: str


class ClientError(Exception):
    """Anything that went wrong, as one sentence for a person.

    ``status`` is the HTTP status when the backend answered (404: no such
    key; 503: no leader, timeout, node down — safe to retry), else None.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ClusterClient:
    def __init__(
        self, url: str = DEFAULT_URL, token: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s
        self._session = requests.Session()

    def close(self) -> None:
        self._session.close()

    # -- reading -----------------------------------------------------------

    def cluster(self) -> ClusterInfo:
        return cast(ClusterInfo, self._call("GET", "/api/cluster"))

    def stats(self) -> dict[str, Any]:
        return cast(dict[str, Any], self._call("GET", "/api/stats"))

    def auth_check(self) -> bool:
        """True if the token is the instructor token."""
        try:
            self._call("GET", "/api/auth/check", auth=True)
        except ClientError as exc:
            if str(exc).startswith("401"):
                return False
            raise
        return True

    # -- changing (instructor token) ---------------------------------------

    def fault(self, action: str, node: str) -> NodeInfo:
        """kill | restart | wipe | pause | resume a node; returns its new view."""
        answer = self._call("POST", "/api/faults", {"action": action, "node": node}, auth=True)
        return cast(NodeInfo, answer["node"])

    def change_faults(self, body: dict[str, Any]) -> dict[str, Any]:
        """Any ``POST /api/faults`` request (partition, oneway, heal, link...); the answer."""
        return cast(dict[str, Any], self._call("POST", "/api/faults", body, auth=True))

    def faults(self) -> dict[str, Any]:
        """``GET /api/faults``: the faults in force, the rules version and who applies it."""
        return cast(dict[str, Any], self._call("GET", "/api/faults"))

    def set_time_scale(self, time_scale: float) -> dict[str, Any]:
        return cast(
            dict[str, Any],
            self._call("POST", "/api/time-scale", {"time_scale": time_scale}, auth=True),
        )

    def set_load(self, msgs_per_s: int) -> dict[str, Any]:
        return cast(
            dict[str, Any], self._call("POST", "/api/load", {"msgs_per_s": msgs_per_s}, auth=True)
        )

    def members(self, action: str, node: str | None = None) -> MemberChange:
        """Add (``node`` optional: the launcher names it) or remove a voting member."""
        body: dict[str, Any] = {"action": action}
        if node is not None:
            body["node"] = node
        return cast(
            MemberChange,
            self._call("POST", "/api/members", body, auth=True, timeout_s=MEMBERS_TIMEOUT_S),
        )

    # -- the key-value store (reads: anyone; writes: instructor token) ------

    def kv_put(self, key: str, value: str | bytes, node: str | None = None) -> KvWrite:
        """Write ``key``; returns once committed. ``node``: the entry node (default: leader)."""
        data = value.encode("utf-8") if isinstance(value, str) else value
        path = _kv_path(key)
        return cast(
            KvWrite,
            self._call(
                "PUT", path, auth=True, params=_node(node), data=data, timeout_s=KV_TIMEOUT_S
            ),
        )

    def kv_get(
        self, key: str, consistency: str = "linearizable", node: str | None = None
    ) -> KvRead | None:
        """The value of ``key``, or None if there is none."""
        if consistency not in CONSISTENCIES:
            raise ClientError(f"consistency must be one of {', '.join(CONSISTENCIES)}")
        params = {"consistency": consistency, **_node(node)}
        try:
            answer = self._call("GET", _kv_path(key), params=params, timeout_s=KV_TIMEOUT_S)
        except ClientError as exc:
            if exc.status == 404:
                return None
            raise
        return cast(KvRead, answer)

    def kv_delete(self, key: str, node: str | None = None) -> KvWrite:
        return cast(
            KvWrite,
            self._call(
                "DELETE", _kv_path(key), auth=True, params=_node(node), timeout_s=KV_TIMEOUT_S
            ),
        )

    # -- lessons and chaos (changing: instructor token) ----------------------

    def scenarios(self) -> list[dict[str, Any]]:
        """Every lesson: name, title, summary, concepts, steps (``GET /api/scenarios``)."""
        return cast(list[dict[str, Any]], self._call("GET", "/api/scenarios"))

    def lesson(self) -> dict[str, Any]:
        """The current lesson: status, step, narration, checks (``GET /api/scenarios/current``)."""
        return cast(dict[str, Any], self._call("GET", "/api/scenarios/current"))

    def lesson_run(self, name: str, play: bool = True, pause_s: float = 2.0) -> dict[str, Any]:
        body = {"play": play, "pause_s": pause_s}
        path = f"/api/scenarios/{quote(name, safe='')}/run"
        return cast(dict[str, Any], self._call("POST", path, body, auth=True))

    def lesson_command(self, command: str) -> dict[str, Any]:
        """``next``, ``play`` or ``reset`` the current lesson."""
        path = f"/api/scenarios/current/{command}"
        return cast(dict[str, Any], self._call("POST", path, {}, auth=True))

    def chaos(self, seed: int | None = None, duration_s: float | None = None) -> dict[str, Any]:
        """The chaos run; with a seed, the schedule it would give (nothing runs)."""
        params = {} if seed is None else {"seed": str(seed), "duration_s": str(duration_s)}
        return cast(dict[str, Any], self._call("GET", "/api/chaos", params=params))

    def chaos_start(
        self, seed: int, duration_s: float, kinds: list[str] | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"on": True, "seed": seed, "duration_s": duration_s}
        if kinds:
            body["kinds"] = kinds
        return cast(dict[str, Any], self._call("POST", "/api/chaos", body, auth=True))

    def chaos_stop(self) -> dict[str, Any]:
        return cast(dict[str, Any], self._call("POST", "/api/chaos", {"on": False}, auth=True))

    # -- the one place that talks HTTP -------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        auth: bool = False,
        *,
        params: dict[str, str] | None = None,
        data: bytes | None = None,
        timeout_s: float | None = None,
    ) -> Any:
        headers = {}
        if auth:
            if not self.token:
                raise ClientError(
                    f"this needs the instructor token: pass --token or set {TOKEN_ENV}"
                )
            headers["Authorization"] = f"Bearer {self.token}"
        wait_s = max(self.timeout_s, timeout_s or 0.0)
        try:
            response = self._session.request(
                method,
                self.url + path,
                json=body,
                data=data,
                params=params,
                headers=headers,
                timeout=wait_s,
            )
        except requests.Timeout:
            raise ClientError(
                f"the backend at {self.url} did not answer within {wait_s:g} s"
            ) from None
        except requests.RequestException:
            raise ClientError(
                f"cannot reach the clusterlab backend at {self.url}: is run.py running? "
                f"(set --url or {URL_ENV})"
            ) from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status_code >= 400:
            detail = answer.get("error") if isinstance(answer, dict) else None
            message = f"{response.status_code} {detail or response.reason}"
            if response.status_code == 401:
                message += f" (pass --token or set {TOKEN_ENV})"
            raise ClientError(message, response.status_code)
        if answer is None:
            raise ClientError(f"{self.url}{path} did not answer with JSON; is that a clusterlab?")
        return answer


def _kv_path(key: str) -> str:
    if not key:
        raise ClientError("a key must not be empty")
    return "/api/kv/" + quote(key, safe="")


def _node(node: str | None) -> dict[str, str]:
    return {"node": node} if node else {}
