"""The runner's hands: the backend's own REST routes, called in-process.

A lesson must do exactly what the instructor's buttons and ``curl`` do —
the same validation, the same error sentences, the same commands to the
nodes — or it would teach something the real API does not do. So every
action and every lookup here is a request dispatched to the app's own route
(``POST /api/faults``, ``PUT /api/kv/<key>``, ``PATCH /api/topology/...``),
in-process, with the instructor's token: there is no second copy of any
route's logic to drift from the first. Reading the view goes straight to
the hub, which is what ``GET /api/cluster`` returns anyway.

Lessons and the chaos nemesis also leave marks in the event stream
(``publish``), so the timeline shows when each step and each fault happened.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from flask import Flask

from backend.services import EXTENSION_KEY, Services

# After healing: how long to wait for every node up and a leader, stretched by
# slow motion (restarted nodes must start and elect one).
SETTLE_S = 30.0
MAX_SETTLE_S = 300.0
SETTLE_POLL_S = 0.1


@dataclass(frozen=True)
class Answer:
    """What a route answered: its status, its JSON body, and how long it took."""

    status: int
    body: Any
    elapsed_ms: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def error(self) -> str | None:
        if self.ok:
            return None
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), str):
            return str(self.body["error"])
        return f"HTTP {self.status}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "status": self.status,
            "body": self.body,
            "elapsed_ms": round(self.elapsed_ms, 1),
            "error": self.error,
        }


class Lab:
    """The live cluster as the runner sees it, through the app's own routes."""

    def __init__(self, app: Flask) -> None:
        self._app = app

    @property
    def services(self) -> Services:
        found: Services = self._app.extensions[EXTENSION_KEY]
        return found

    def has_route(self, rule: str) -> bool:
        """Whether the app serves ``rule`` (e.g. the files API, which may not be there)."""
        return any(r.rule == rule for r in self._app.url_map.iter_rules())

    def call(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        data: bytes | None = None,
        query: dict[str, str] | None = None,
    ) -> Answer:
        """Dispatch one request to the app's own route, as the instructor."""
        headers = {"Authorization": f"Bearer {self.services.token}"}
        started_s = time.monotonic()
        kwargs: dict[str, Any] = {"method": method, "headers": headers, "query_string": query}
        if json is not None:
            kwargs["json"] = json
        elif data is not None:
            kwargs["data"] = data
            kwargs["content_type"] = "application/octet-stream"
        with self._app.test_request_context(path, **kwargs):
            response = self._app.full_dispatch_request()
            body = response.get_json(silent=True)
            if body is None and response.status_code >= 400:
                body = {"error": response.get_data(as_text=True)[:200] or response.status}
            status = response.status_code
            response.close()
        return Answer(status, body, (time.monotonic() - started_s) * 1000.0)

    def view(self) -> dict[str, Any]:
        """The cluster view, as ``GET /api/cluster`` and the Socket.IO ``view`` carry it."""
        return self.services.hub.view.to_dict()

    def node_ids(self) -> list[str]:
        launcher = self.services.launcher
        if launcher is not None:
            return launcher.node_ids()
        return [n["id"] for n in self.view()["nodes"]]

    def heal_everything(self) -> list[str]:
        """Undo every fault: hold off, network healed, killed nodes restarted, paused resumed.

        What a lesson's reset and the end of a chaos run both need; returns
        one line per thing done (or refused, with the reason).
        """
        report: list[str] = []

        def do(text: str, body: dict[str, Any], path: str = "/api/faults") -> None:
            answer = self.call("POST", path, body)
            report.append(text if answer.ok else f"{text}: {answer.error}")

        if self.has_route("/api/hold"):
            do("hold off", {"on": False}, "/api/hold")
        do("heal network faults", {"action": "heal", "links": True})
        for node in self.view()["nodes"]:
            if node["state"] == "down":
                do(f"restart {node['id']}", {"action": "restart", "node": node["id"]})
            elif node["state"] == "paused":
                do(f"resume {node['id']}", {"action": "resume", "node": node["id"]})
        return report

    def processes(self) -> dict[str, str]:
        """Each node's process as the launcher knows it now ("running", "paused", "down").

        The view learns of a restart a moment later (the launcher's callback,
        then the node's own NodeUp); a condition that must not pass in that
        moment asks here.
        """
        launcher = self.services.launcher
        if launcher is None:
            return {n["id"]: n["state"] for n in self.view()["nodes"]}
        return {s.id: s.process for s in launcher.status()}

    def publish(self, event: dict[str, Any]) -> None:
        """Put a backend event (a lesson step, a chaos fault) into the event stream."""
        event = {"node": "backend", "t_ms": time.time() * 1000.0, **event}
        self.services.hub.publish(event)

    def settle(self) -> str:
        """Wait until every node is up and a leader is known, so the rerun starts clean."""
        scale = float(self.view().get("time_scale") or 1.0)
        limit_s = min(MAX_SETTLE_S, SETTLE_S * max(1.0, scale))
        deadline_s = time.monotonic() + limit_s
        while time.monotonic() < deadline_s:
            view = self.view()
            if view.get("leader") and all(n["state"] == "up" for n in view["nodes"]):
                return f"every node is up; {view['leader']} leads"
            time.sleep(SETTLE_POLL_S)
        return f"the cluster did not settle within {limit_s:g} s (nodes down, or no leader)"
