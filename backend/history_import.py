"""Reading a saved history back (``POST /api/history/import``), with limits.

An upload is untrusted input that could be any size: the body is read line
by line from the request stream, never whole, and refused as soon as it
passes ``MAX_IMPORT_BYTES`` or ``MAX_IMPORT_EVENTS`` (413), or a line is not
an event (400 naming the line and what is wrong with it). Nothing is kept
from a refused upload.

A line is accepted when it is a JSON object with a ``type`` name (a
telemetry event of docs/telemetry.md, a hub record of docs/timeline.md, or
an event the backend published, such as a lesson step), a ``node`` string
and a numeric ``t_ms``; ``recv_ms`` (the hub's receive time) is taken when
present, else ``t_ms``. Other fields are kept as they are: a file exported
by a slightly different clusterlab still replays.
"""

from __future__ import annotations

import json
from typing import IO, Any

from backend.history import Record

# An imported event is kept decoded (~750 bytes, where the live ring keeps
# ~90 of msgpack), so fewer: ~75 MB at most, and as many as the page fetches
# and scrubs through at once. The dashboard's JSONL button exports this many.
MAX_IMPORT_EVENTS = 100_000
# ~200 bytes a line in the JSON-lines export; the rest is room for large
# RouteTable events, and caps what an upload can make the backend read.
MAX_IMPORT_BYTES = 64 * 1024 * 1024
# The largest event (a 50-node RouteTable) is a few kB; a longer line is not ours.
MAX_LINE_BYTES = 256 * 1024
# Errors quoted back to the user: enough to recognise the line.
QUOTE_CHARS = 60
# Event type names are class names such as MsgSent; this is far longer.
MAX_TYPE_CHARS = 64


class ImportRefused(ValueError):
    """The upload is not a history we take; ``status`` is 400 or 413."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def read_jsonl(stream: IO[bytes], content_length: int | None) -> list[Record]:
    """Every event of a JSON-lines history, oldest first by receive time."""
    if content_length is not None and content_length > MAX_IMPORT_BYTES:
        raise _too_big()
    records: list[Record] = []
    read_bytes = 0
    line_no = 0
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            break
        line_no += 1
        read_bytes += len(raw)
        if read_bytes > MAX_IMPORT_BYTES:
            raise _too_big()
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            raise ImportRefused(400, f"line {line_no} is longer than {MAX_LINE_BYTES} bytes")
        if not raw.strip():
            continue
        if len(records) >= MAX_IMPORT_EVENTS:
            raise ImportRefused(
                413,
                f"the history has more than {MAX_IMPORT_EVENTS} events; export a shorter "
                "span (GET /api/history?since_ms=...) or keep its last lines",
            )
        records.append(_record(raw, line_no))
    if not records:
        raise ImportRefused(400, "the upload has no events: expected one JSON object per line")
    records.sort(key=lambda r: r[0])  # stable: one node's events keep their order
    return records


def _record(raw: bytes, line_no: int) -> Record:
    try:
        event = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        quoted = raw[:QUOTE_CHARS].decode("utf-8", "replace").strip()
        hint = " (a ShiViz log cannot be imported; use the JSON-lines export)"
        if line_no > 1:
            hint = ""
        raise ImportRefused(400, f"line {line_no} is not JSON: {quoted!r}{hint}") from None
    if not isinstance(event, dict):
        raise ImportRefused(400, f"line {line_no} is not a JSON object")
    kind = event.get("type")
    if not (isinstance(kind, str) and kind.isidentifier() and len(kind) <= MAX_TYPE_CHARS):
        raise ImportRefused(400, f"line {line_no} has no event type name, got {_short(kind)}")
    if not isinstance(event.get("node"), str):
        raise ImportRefused(400, f"line {line_no} ({kind}) has no node name")
    t_ms = event.get("t_ms")
    if isinstance(t_ms, bool) or not isinstance(t_ms, int | float):
        raise ImportRefused(400, f"line {line_no} ({kind}) has no numeric t_ms")
    recv_ms = event.pop("recv_ms", t_ms)
    if isinstance(recv_ms, bool) or not isinstance(recv_ms, int | float):
        raise ImportRefused(400, f"line {line_no} ({kind}) has a recv_ms that is not a number")
    return float(recv_ms), event


def _short(value: Any) -> str:
    return repr(value)[:QUOTE_CHARS]


def _too_big() -> ImportRefused:
    return ImportRefused(
        413, f"the upload is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB"
    )
