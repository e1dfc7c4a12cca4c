"""REST for hold-and-step delivery: hold, list what is held, deliver one or all.

* ``POST /api/hold {"on": true|false}`` (token) — every node keeps (or stops
  keeping) its outgoing protocol messages and Raft's clock stops (or runs);
  off releases everything held. Sticky: a node that restarts is held too.
* ``GET /api/held`` — ``{"on", "nodes": {node: {on, count, overflow, limit}},
  "messages": [{node, id, dst, type, text, since_ms}]}``, oldest first.
* ``POST /api/held/deliver {"node": "n1", "id": 17}`` (token) — message
  ``n1#17`` leaves now; ``{"all": true}`` releases every node's queue
  (``{"node": "n1", "all": true}`` only n1's). Holding stays on.

cluster/node/hold.py explains what is held and why the clock stops;
docs/faults.md is the lesson. Lessons and scripts in the backend call the
same ``board()`` methods (``set_on``, ``deliver``, ``release``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app
from flask.blueprints import BlueprintSetupState

from backend.auth import require_token
from backend.errors import ApiError, json_object
from backend.held import HeldBoard, HoldError
from backend.services import EXTENSION_KEY, Services, services

bp = Blueprint("hold", __name__, url_prefix="/api")

EXTENSION = "clusterlab.hold"


def _setup(setup: BlueprintSetupState) -> None:
    # At registration, before any telemetry arrives: the board must see
    # every node's first report.
    found: Services = setup.app.extensions[EXTENSION_KEY]
    setup.app.extensions[EXTENSION] = HeldBoard(found.hub)


bp.record_once(_setup)


def board() -> HeldBoard:
    found: HeldBoard = current_app.extensions[EXTENSION]
    return found


def _live_nodes() -> set[str]:
    return {n["id"] for n in services().hub.view.node_dicts() if n["state"] != "down"}


def _known_node(raw: Any) -> str:
    if not isinstance(raw, str) or not raw:
        raise ApiError(400, f"node must be a node id such as 'n2', got {raw!r}")
    known = [n["id"] for n in services().hub.view.node_dicts()]
    if raw not in known:
        raise ApiError(400, f"unknown node {raw!r}; nodes are {', '.join(known)}")
    return raw


@bp.post("/hold")
@require_token
def hold() -> dict[str, Any]:
    on = json_object().get("on")
    if not isinstance(on, bool):
        raise ApiError(400, f"on must be true or false, got {on!r}")
    reached = board().set_on(on)
    return {"ok": True, "on": on, "nodes": reached}


@bp.get("/held")
def held() -> dict[str, Any]:
    return board().to_dict(_live_nodes())


@bp.post("/held/deliver")
@require_token
def deliver() -> dict[str, Any]:
    body = json_object()
    everything = body.get("all", False)
    if not isinstance(everything, bool):
        raise ApiError(400, f"all must be true or false, got {everything!r}")
    if everything:
        if "id" in body:
            raise ApiError(400, "give either an id or all, not both")
        node = _known_node(body["node"]) if "node" in body else None
        return {"ok": True, "released": board().release(node)}
    node = _known_node(body.get("node"))
    seq = body.get("id")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq <= 0:
        raise ApiError(400, f"id must be a held message's number such as 17, got {seq!r}")
    try:
        board().deliver(node, seq)
    except HoldError as exc:
        raise ApiError(exc.status, exc.message) from exc
    return {"ok": True, "delivered": {"node": node, "id": seq}}
