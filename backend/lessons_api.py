"""REST for lessons: list them, start one, step through it, reset the cluster.

* ``GET /api/scenarios`` — every lesson under ``scenarios/``: ``[{name,
  title, summary, concepts, steps, requires}]`` (a broken file is listed with
  an ``error`` instead of hidden, so its author sees why);
* ``POST /api/scenarios/<name>/run`` (token) — load it (``{"play": true}``
  also plays it; ``"pause_s"``: seconds between steps);
* ``GET /api/scenarios/current`` — the step, its narration, check results,
  and every step's record (backend/lessons/record.py);
* ``POST /api/scenarios/current/next|play|reset`` (token).

Commands return at once with the state; the runner's thread does the work
and pushes each change to browsers as a Socket.IO ``lesson`` message. The
runner itself is backend/lessons/runner.py; docs/lessons.md is the course.
"""

from __future__ import annotations

from typing import Any, cast

from flask import Blueprint, Flask, current_app, request
from flask.blueprints import BlueprintSetupState

from backend.auth import require_token
from backend.errors import ApiError
from backend.lessons.lab import Lab
from backend.lessons.runner import DEFAULT_PLAY_PAUSE_S, LessonError, LessonRunner

bp = Blueprint("lessons", __name__, url_prefix="/api/scenarios")

EXTENSION = "clusterlab.lessons"
CHAOS_EXTENSION = "clusterlab.chaos"  # backend/chaos_api.py: never both at once


def _push(state: dict[str, Any]) -> None:
    from backend import socketio  # the package's one SocketIO, bound by create_app

    socketio.emit("lesson", state)


def _chaos_busy(app: Flask) -> str | None:
    chaos = app.extensions.get(CHAOS_EXTENSION)
    if chaos is not None and chaos.running():
        return "the chaos nemesis is running; stop it before starting a lesson"
    return None


def _setup(setup: BlueprintSetupState) -> None:
    app = cast(Flask, setup.app)  # create_app registers blueprints on a Flask app
    app.extensions[EXTENSION] = LessonRunner(
        Lab(app), on_change=_push, is_busy_elsewhere=lambda: _chaos_busy(app)
    )


bp.record_once(_setup)


def runner() -> LessonRunner:
    found: LessonRunner = current_app.extensions[EXTENSION]
    return found


def _options() -> tuple[bool, float]:
    body = request.get_json(silent=True) or {}
    if not isinstance(body, dict):
        raise ApiError(400, "expected a JSON object body (or none)")
    play = body.get("play", False)
    pause_s = body.get("pause_s", DEFAULT_PLAY_PAUSE_S)
    if not isinstance(play, bool):
        raise ApiError(400, f"play must be true or false, got {play!r}")
    if isinstance(pause_s, bool) or not isinstance(pause_s, int | float):
        raise ApiError(400, f"pause_s must be a number of seconds, got {pause_s!r}")
    return play, float(pause_s)


def _answer(command: Any) -> dict[str, Any]:
    try:
        state: dict[str, Any] = command()
    except LessonError as exc:
        raise ApiError(exc.status, exc.message) from exc
    return state


@bp.get("")
def catalogue() -> list[dict[str, Any]]:
    return runner().catalogue()


@bp.get("/current")
def current() -> dict[str, Any]:
    return runner().state()


@bp.post("/<name>/run")
@require_token
def run(name: str) -> dict[str, Any]:
    play, pause_s = _options()
    return _answer(lambda: runner().start(name, play, pause_s))


@bp.post("/current/next")
@require_token
def next_step() -> dict[str, Any]:
    return _answer(runner().next)


@bp.post("/current/play")
@require_token
def play() -> dict[str, Any]:
    _, pause_s = _options()
    return _answer(lambda: runner().play(pause_s))


@bp.post("/current/reset")
@require_token
def reset() -> dict[str, Any]:
    return _answer(runner().reset)
