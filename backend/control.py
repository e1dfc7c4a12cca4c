"""Cluster-wide settings sent to every node: slow motion and background load.

Both travel as control commands on each node's telemetry connection
(cluster/schema/control.py) and are *sticky*: a node that restarts later
gets the current setting as soon as it connects, so "10× slower" stays true
for the whole cluster, not just for the nodes alive when it was chosen.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from backend.auth import require_token
from backend.errors import ApiError, json_object
from backend.services import services
from cluster.config import ConfigError
from cluster.schema.control import SetLoad, SetTimeScale

bp = Blueprint("control", __name__, url_prefix="/api")

# Per node. Above this, one node's event loop on a 2-core laptop spends all
# its time on chatter; the telemetry benchmark needs a few thousand at most.
MAX_LOAD_MSGS_PER_S = 20_000


@bp.post("/time-scale")
@require_token
def time_scale() -> dict[str, Any]:
    raw = json_object().get("time_scale")
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ApiError(400, f"time_scale must be a number, got {raw!r}")
    found = services()
    try:
        # the one place that knows the allowed range is ClusterConfig
        scale = found.cluster.merged({"time_scale": float(raw)}).validate().time_scale
    except ConfigError as exc:
        raise ApiError(400, str(exc)) from exc
    reached = found.hub.broadcast_command(SetTimeScale(scale))
    found.hub.view.set_time_scale(scale)
    return {"ok": True, "time_scale": scale, "nodes": reached}


@bp.post("/load")
@require_token
def load() -> dict[str, Any]:
    raw = json_object().get("msgs_per_s")
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= MAX_LOAD_MSGS_PER_S:
        raise ApiError(
            400, f"msgs_per_s must be a whole number from 0 to {MAX_LOAD_MSGS_PER_S}, got {raw!r}"
        )
    reached = services().hub.broadcast_command(SetLoad(raw))
    return {"ok": True, "msgs_per_s": raw, "nodes": reached}
