"""REST for the chaos nemesis: start a seeded fault schedule, watch it, stop it.

* ``GET /api/chaos`` — the current (or last) run: ``{"on", "seed",
  "duration_s", "schedule": [{at_s, t_ms, text, fault, undo, done, ok,
  error}], ...}``. With ``?seed=N&duration_s=S`` it previews the schedule
  that seed would give this cluster, without running anything.
* ``POST /api/chaos {"seed": N, "duration_s": S, "on": true, "kinds"?: [...]}``
  (token) starts it; ``{"on": false}`` stops it early (everything is healed).

The schedule is cluster/core/nemesis.py; the runner backend/chaos.py.
Never at the same time as a lesson: both break things on purpose.
"""

from __future__ import annotations

import contextlib
from typing import Any, cast

from flask import Blueprint, Flask, current_app, request
from flask.blueprints import BlueprintSetupState

from backend.auth import require_token
from backend.chaos import ChaosError, ChaosRunner, preview
from backend.errors import ApiError, json_object
from backend.lessons.lab import Lab
from backend.lessons_api import CHAOS_EXTENSION
from backend.lessons_api import EXTENSION as LESSONS_EXTENSION
from cluster.core.nemesis import KINDS, MAX_DURATION_S

bp = Blueprint("chaos", __name__, url_prefix="/api")

DEFAULT_DURATION_S = 60.0


def _lesson_busy(app: Flask) -> str | None:
    lessons = app.extensions.get(LESSONS_EXTENSION)
    if lessons is not None and lessons.busy():
        return "a lesson is running; reset it before starting chaos"
    return None


def _setup(setup: BlueprintSetupState) -> None:
    app = cast(Flask, setup.app)  # create_app registers blueprints on a Flask app
    app.extensions[CHAOS_EXTENSION] = ChaosRunner(Lab(app), lambda: _lesson_busy(app))


bp.record_once(_setup)


def chaos() -> ChaosRunner:
    found: ChaosRunner = current_app.extensions[CHAOS_EXTENSION]
    return found


def _seed(raw: Any) -> int:
    if isinstance(raw, str) and raw.isdigit():
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise ApiError(400, f"seed must be a whole number of at least 0, got {raw!r}")
    return raw


def _duration(raw: Any) -> float:
    if isinstance(raw, str):
        with contextlib.suppress(ValueError):
            raw = float(raw)
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 < raw <= MAX_DURATION_S:
        raise ApiError(400, f"duration_s must be a number of seconds from 0 to "
                            f"{MAX_DURATION_S:g}, got {raw!r}")
    return float(raw)


def _kinds(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return KINDS
    if not isinstance(raw, list) or not raw or any(k not in KINDS for k in raw):
        raise ApiError(400, f"kinds must be a list of some of {', '.join(KINDS)}, got {raw!r}")
    return tuple(raw)


def _answer(command: Any) -> dict[str, Any]:
    try:
        state: dict[str, Any] = command()
    except ChaosError as exc:
        raise ApiError(exc.status, exc.message) from exc
    return state


@bp.get("/chaos")
def get_chaos() -> dict[str, Any]:
    if "seed" not in request.args:
        return chaos().state()
    seed = _seed(request.args["seed"])
    duration_s = _duration(request.args.get("duration_s", DEFAULT_DURATION_S))
    listed = request.args.get("kinds")
    kinds = _kinds(listed.split(",") if listed else None)
    try:
        actions = preview(Lab(current_app), seed, duration_s, kinds)
    except ChaosError as exc:
        raise ApiError(exc.status, exc.message) from exc
    return {"preview": True, "seed": seed, "duration_s": duration_s, "kinds": list(kinds),
            "schedule": [a.to_dict() for a in actions]}


@bp.post("/chaos")
@require_token
def post_chaos() -> dict[str, Any]:
    body = json_object()
    on = body.get("on", True)
    if not isinstance(on, bool):
        raise ApiError(400, f"on must be true or false, got {on!r}")
    if not on:
        return _answer(chaos().stop)
    seed = _seed(body.get("seed"))
    duration_s = _duration(body.get("duration_s", DEFAULT_DURATION_S))
    kinds = _kinds(body.get("kinds"))
    return _answer(lambda: chaos().start(seed, duration_s, kinds))
