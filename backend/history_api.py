"""REST for the recorded history: export it, import a saved one, go back to live.

* ``GET /api/history?format=jsonl|shiviz`` — the history as JSON lines (what
  import reads back) or as a ShiViz log with vector clocks
  (backend/history_formats.py). Filters: ``since_ms`` (inclusive) /
  ``until_ms`` (exclusive) on event time, ``types=MsgSent,MsgReceived`` and
  ``limit`` (the newest N, after the other filters); ``download=1`` asks the
  browser to save it. Open to
  everyone, like every GET: watching includes looking back.
* ``POST /api/history/import?name=lecture3`` (token) — a JSON-lines body
  replaces what the dashboard shows with that recording ("replay mode");
  the live history keeps recording underneath.
* ``DELETE /api/history/import`` (token) — back to the live history.

Two more things live here because they are about the history:

* every successful state-changing request to ``/api/...`` (a fault, a
  topology edit, a time scale...) is marked on the timeline as a ``Mark``
  (``kind`` "action"), so the class sees when the instructor did what;
* the view carries ``history``: ``mode`` (live or replay), how many events
  are kept and how many were dropped, the replay's summary and whether this
  backend has a cluster at all (``standalone``: started by
  ``python -m backend.replay`` to replay a file without one). A standalone
  replay also fills the view's nodes and links from the recording, so the
  topology has something to draw.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, current_app, request
from flask.blueprints import BlueprintSetupState

from backend.auth import require_token
from backend.errors import ApiError
from backend.history import HISTORY_EVENTS_LIMIT, NODE_STATE, Record, Snapshot
from backend.history_formats import jsonl_chunks, shiviz_chunks
from backend.history_import import ImportRefused, read_jsonl
from backend.services import EXTENSION_KEY, Services, services
from cluster.schema.telemetry import TELEMETRY

bp = Blueprint("history", __name__, url_prefix="/api")

EXTENSION = "clusterlab.history"
FORMATS = {"jsonl": "application/x-ndjson", "shiviz": "text/plain"}
FILE_SUFFIX = {"jsonl": "jsonl", "shiviz": "log"}
# A replay's name is shown on the page; a file name is plenty.
MAX_NAME_CHARS = 80
# Requests that are not marked on the timeline: KV writes and traces show
# themselves as messages (and a load test would bury every other mark), and
# the history's own requests are about the timeline itself.
UNMARKED_PREFIXES = ("/api/kv/", "/api/trace", "/api/history", "/api/auth/")
# A mark quotes the request body up to this length: enough for a fault.
MARK_BODY_CHARS = 120
# ShiViz draws every event as an SVG element in the browser; past a few
# thousand it is unreadable, past this it is unusable (and the export holds
# them all in memory to compute clocks). Older ones are left out, and said so.
SHIVIZ_MAX_EVENTS = 50_000
_NODE_EVENT_TYPES = frozenset(TELEMETRY.tags()) | {NODE_STATE}


@dataclass
class ReplayShape:
    """Nodes and links of the replayed recording, for a backend without a cluster."""

    standalone: bool
    lock: threading.Lock = field(default_factory=threading.Lock)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)


def _setup(setup: BlueprintSetupState) -> None:
    app = setup.app
    found: Services = app.extensions[EXTENSION_KEY]
    shape = ReplayShape(standalone=found.launcher is None)
    app.extensions[EXTENSION] = shape
    history = found.hub.history

    def decorate(view: dict[str, Any]) -> None:
        summary = history.summary()
        summary["standalone"] = shape.standalone
        view["history"] = summary
        if shape.standalone and summary["mode"] == "replay" and not view["nodes"]:
            with shape.lock:
                view["nodes"] = [dict(n) for n in shape.nodes]
                view["links"] = [dict(x) for x in shape.links]

    found.hub.view.add_decorator(decorate)


bp.record_once(_setup)


def _shape() -> ReplayShape:
    found: ReplayShape = current_app.extensions[EXTENSION]
    return found


# -- export --------------------------------------------------------------------


@bp.get("/history")
def get_history() -> Response:
    fmt = request.args.get("format", "jsonl")
    if fmt not in FORMATS:
        raise ApiError(400, f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    since_ms = _number_arg("since_ms")
    until_ms = _number_arg("until_ms")
    limit = _limit_arg()
    types = _types_arg()
    history = services().hub.history
    snapshot = history.snapshot()
    records = _selected(snapshot, since_ms, until_ms, types, limit)
    chunks: Iterator[str]
    truncated = False
    if fmt == "jsonl":
        chunks = jsonl_chunks(records)
    else:
        # Vector clocks need every event at once; keep the newest that ShiViz can draw.
        newest = deque(records, maxlen=SHIVIZ_MAX_EVENTS + 1)
        truncated = len(newest) > SHIVIZ_MAX_EVENTS
        if truncated:
            newest.popleft()
        chunks = shiviz_chunks(event for _, event in newest)
    response = Response(chunks, mimetype=FORMATS[fmt])
    response.headers["X-History-Mode"] = snapshot.mode
    response.headers["X-History-Events"] = str(snapshot.count)
    response.headers["X-History-Dropped"] = str(history.summary()["dropped"])
    if truncated:
        response.headers["X-History-Truncated"] = f"only the newest {SHIVIZ_MAX_EVENTS} events"
    if request.args.get("download") == "1":
        run_id = re.sub(r"[^\w.-]", "_", str(services().hub.view.to_dict().get("run_id") or "run"))
        stamp = time.strftime("%Y%m%d-%H%M%S")
        name = f"clusterlab-{run_id}-{stamp}.{FILE_SUFFIX[fmt]}"
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _selected(
    snapshot: Snapshot,
    since_ms: float | None,
    until_ms: float | None,
    types: set[str] | None,
    limit: int | None,
) -> Iterator[Record]:
    """The records that pass the filters, decoded lazily; the newest ``limit`` of them."""
    if since_ms is None and until_ms is None and types is None:
        # no batch before the newest ``limit`` events is decoded
        return snapshot.records(newest=limit)

    def passing() -> Iterator[Record]:
        if since_ms is None and until_ms is None:
            records = snapshot.records()
        else:  # the page's scrubbing: only the batches around the range are decoded
            low = float("-inf") if since_ms is None else since_ms
            high = float("inf") if until_ms is None else until_ms
            records = snapshot.records_between(low, high)
        for record in records:
            if types is None or record[1]["type"] in types:
                yield record

    if limit is None:
        return passing()
    total = sum(1 for _ in passing())  # a second pass beats holding them all in memory
    return itertools.islice(passing(), max(0, total - limit), None)


def _number_arg(name: str) -> float | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    try:
        return float(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be a time in ms since the epoch, got {raw!r}") from None


def _limit_arg() -> int | None:
    raw = request.args.get("limit")
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise ApiError(400, f"limit must be a whole number, got {raw!r}")
    return min(int(raw), HISTORY_EVENTS_LIMIT)


def _types_arg() -> set[str] | None:
    raw = request.args.get("types")
    if not raw:
        return None
    types = {t.strip() for t in raw.split(",") if t.strip()}
    bad = sorted(t for t in types if not t.isidentifier())
    if bad:
        raise ApiError(400, f"types must be event type names such as MsgSent, got {bad[0]!r}")
    return types


# -- import and back to live ---------------------------------------------------


@bp.post("/history/import")
@require_token
def import_history() -> dict[str, Any]:
    name = re.sub(r"[^\w.\- ]", "_", request.args.get("name", "upload"))[:MAX_NAME_CHARS]
    try:
        records = read_jsonl(request.stream, request.content_length)
    except ImportRefused as exc:
        raise ApiError(exc.status, exc.message) from None
    hub = services().hub
    summary = hub.history.start_replay(name or "upload", records, time.time() * 1000.0)
    nodes, links = replay_shape(records)
    shape = _shape()
    with shape.lock:
        shape.nodes, shape.links = nodes, links
    hub.view.mark_changed()
    return {"ok": True, "mode": "replay", "replay": summary}


@bp.delete("/history/import")
@require_token
def back_to_live() -> dict[str, Any]:
    hub = services().hub
    was_replaying = hub.history.stop_replay()
    hub.view.mark_changed()
    return {"ok": True, "mode": "live", "was_replaying": was_replaying}


def replay_shape(records: list[Record]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The nodes a recording mentions (with their last known state) and the links
    it used, with the settings its nodes last reported for them (LinkConfig)."""
    states: dict[str, str] = {}
    pairs: set[tuple[str, str]] = set()
    configured: dict[tuple[str, str], dict[str, Any]] = {}
    for _, event in records:
        kind = event.get("type")
        node = event.get("node")
        if kind not in _NODE_EVENT_TYPES or not isinstance(node, str) or not node:
            continue
        if kind == NODE_STATE:
            states[node] = str(event.get("state"))
        else:
            states.setdefault(node, "up")
        if kind == "LinkConfig" and isinstance(event.get("links"), dict):
            for peer, settings in event["links"].items():
                if isinstance(settings, dict):
                    configured[(node, peer)] = settings
        peer = event.get("to") if kind == "MsgSent" else None
        if isinstance(peer, str) and peer and peer != node:
            a, b = sorted((node, peer), key=_node_key)
            pairs.add((a, b))
    nodes = [_replay_node(n, states[n]) for n in sorted(states, key=_node_key)]
    ordered = sorted(pairs, key=lambda pair: (_node_key(pair[0]), _node_key(pair[1])))
    links = []
    for a, b in ordered:
        settings = configured.get((a, b)) or configured.get((b, a)) or {}
        links.append(
            {
                "a": a,
                "b": b,
                "up": True,
                "cut": False,
                "directed": False,
                "cost": settings.get("cost", 1),
                "latency_ms": settings.get("latency_ms", 0.0),
                "jitter_ms": settings.get("jitter_ms", 0.0),
                "loss": settings.get("loss", 0.0),
                "bandwidth_mbps": settings.get("bandwidth_mbps"),
                "rtt_ms": None,
                "latency_ms_measured": None,
            }
        )
    return nodes, links


def _replay_node(node_id: str, state: str) -> dict[str, Any]:
    # the shape of a view node (docs/architecture.md), with nothing live in it
    return {
        "id": node_id,
        "state": state,
        "pid": None,
        "addr": "",
        "client_addr": "",
        "rtt_ms": {},
        "counters": {},
    }


def _node_key(node_id: str) -> tuple[int, str]:
    digits = node_id.lstrip("n")
    return (int(digits), node_id) if digits.isdigit() else (1 << 30, node_id)


# -- instructor actions on the timeline ----------------------------------------


@bp.after_app_request
def mark_action(response: Response) -> Response:
    """Put every successful change made through the API on the timeline."""
    path = request.path
    if (
        request.method in ("GET", "HEAD", "OPTIONS")
        or not path.startswith("/api/")
        or path.startswith(UNMARKED_PREFIXES)
        or response.status_code >= 400
    ):
        return response
    body = request.get_json(silent=True) if request.is_json else None
    node = body.get("node") if isinstance(body, dict) else None
    text = f"{request.method} {path}"
    if body is not None:
        text += " " + json.dumps(body, separators=(",", ":"))[:MARK_BODY_CHARS]
    services().hub.note("action", text, node if isinstance(node, str) else "")
    return response
