"""Fault injection by process: kill, restart, pause, resume a node.

These are the four buttons of the walking skeleton. Each one is a real signal
to a real process, sent by the launcher (SIGKILL, respawn, SIGSTOP, SIGCONT).
Link faults (cut, delay, loss) come with the topology issue in their own
blueprint.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from backend.auth import require_token
from backend.errors import ApiError, json_object
from backend.services import ProcessStatus, services
from cluster.launcher import LauncherError

bp = Blueprint("faults", __name__, url_prefix="/api")

ACTIONS = ("kill", "restart", "pause", "resume")


@bp.post("/faults")
@require_token
def fault() -> dict[str, Any]:
    body = json_object()
    action = body.get("action")
    node_id = body.get("node")
    if action not in ACTIONS:
        raise ApiError(400, f"unknown action {action!r}; use one of {', '.join(ACTIONS)}")
    if not isinstance(node_id, str) or not node_id:
        raise ApiError(400, f"node must be a node id such as 'n2', got {node_id!r}")
    found = services()
    launcher = found.launcher
    if launcher is None:
        raise ApiError(503, "this backend runs without a launcher; it cannot inject faults")
    known = launcher.node_ids()
    if node_id not in known:
        raise ApiError(400, f"unknown node {node_id!r}; nodes are {', '.join(known)}")
    try:
        status: ProcessStatus = getattr(launcher, action)(node_id)
    except LauncherError as exc:
        raise ApiError(400, str(exc)) from exc
    # The launcher's callback updates the view a moment later on its own
    # thread; the reply already shows the node as it will then look.
    return {"ok": True, "action": action, "node": found.hub.view.preview(status)}
