"""Read-only REST: what the cluster looks like now, and what just happened.

Anyone may read; the page, the ``clusterlab`` CLI and the tests all start
from ``GET /api/cluster``, which has the same shape as the Socket.IO ``view``
message (docs/architecture.md).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from backend.auth import require_token
from backend.errors import ApiError
from backend.history import HISTORY_EVENTS_LIMIT
from backend.services import services

bp = Blueprint("api", __name__, url_prefix="/api")

DEFAULT_EVENTS_LIMIT = 200  # a screenful; ask for more with ?limit=


@bp.get("/cluster")
def cluster() -> dict[str, Any]:
    return services().hub.view.to_dict()


@bp.get("/stats")
def stats() -> dict[str, Any]:
    """The latest once-a-second ``stats`` message, for scripts and benchmarks."""
    return services().hub.stats()


@bp.get("/events")
def events() -> dict[str, Any]:
    """The most recent telemetry events, oldest first."""
    raw = request.args.get("limit", str(DEFAULT_EVENTS_LIMIT))
    if not raw.isdigit():
        raise ApiError(400, f"limit must be a whole number, got {raw!r}")
    limit = min(int(raw), HISTORY_EVENTS_LIMIT)
    return {"events": services().hub.recent_events(limit)}


@bp.get("/auth/check")
@require_token
def auth_check() -> dict[str, Any]:
    """200 with the right bearer token, 401 otherwise; the page checks a typed token."""
    return {"ok": True}
