"""A small typed client for the backend's REST API.

Scripts, benchmarks, tests and the ``clusterlab`` command line all talk to a
running ``run.py`` through this one class, so each of them gets the same
clear errors: every failure (backend not running, a wrong token, a refused
request) becomes one ``ClientError`` whose message can be shown to a person
as it is, never a stack trace from ``requests``.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict, cast

import requests

DEFAULT_URL = "http://127.0.0.1:5000"
URL_ENV = "CLUSTERLAB_URL"
TOKEN_ENV = "CLUSTERLAB_TOKEN"
# A kill waits until the process is reaped and a restart until it is spawned;
# both finish well inside this on a loaded laptop.
DEFAULT_TIMEOUT_S = 10.0


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


class ClientError(Exception):
    """Anything that went wrong, as one sentence for a person."""


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
        """kill | restart | pause | resume a node; returns its new view."""
        answer = self._call("POST", "/api/faults", {"action": action, "node": node}, auth=True)
        return cast(NodeInfo, answer["node"])

    def set_time_scale(self, time_scale: float) -> dict[str, Any]:
        return cast(
            dict[str, Any],
            self._call("POST", "/api/time-scale", {"time_scale": time_scale}, auth=True),
        )

    def set_load(self, msgs_per_s: int) -> dict[str, Any]:
        return cast(
            dict[str, Any], self._call("POST", "/api/load", {"msgs_per_s": msgs_per_s}, auth=True)
        )

    # -- the one place that talks HTTP -------------------------------------

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, auth: bool = False
    ) -> Any:
        headers = {}
        if auth:
            if not self.token:
                raise ClientError(
                    f"this needs the instructor token: pass --token or set {TOKEN_ENV}"
                )
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = self._session.request(
                method, self.url + path, json=body, headers=headers, timeout=self.timeout_s
            )
        except requests.Timeout:
            raise ClientError(
                f"the backend at {self.url} did not answer within {self.timeout_s:g} s"
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
            raise ClientError(message)
        if answer is None:
            raise ClientError(f"{self.url}{path} did not answer with JSON; is that a clusterlab?")
        return answer
