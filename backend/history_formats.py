"""A recorded history written out: JSON lines for clusterlab, a log for ShiViz.

* JSON lines (``format=jsonl``): one event per line, exactly the object a
  browser received (``type`` and the fields of docs/telemetry.md, or a hub
  record of docs/timeline.md) plus ``recv_ms``, the hub's receive time. It
  is what ``POST /api/history/import`` reads back, and easy to grep or load
  into pandas.
* ShiViz (``format=shiviz``): the file format of the ShiViz visualiser
  (https://bestchai.bitbucket.io/shiviz/): its first line is the regular
  expression that parses every other line, the second the (empty)
  delimiter between executions, then one line per event: the host, its
  vector clock as JSON, and a one-line description. ShiViz draws the
  space-time diagram from the clocks alone (backend/vector_clocks.py).

Both are generators of text chunks, so a long history streams to the client
instead of being built in memory as one string.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from backend.history import MARK, NODE_STATE, Record
from backend.vector_clocks import host_of, with_vector_clocks

# Lines per chunk written to the socket: large enough that the per-chunk cost
# vanishes, small enough that the first bytes leave at once.
LINES_PER_CHUNK = 500
# The regular expression ShiViz parses each line with (its named groups
# host, clock and event are the ones it requires).
SHIVIZ_REGEX = r"^(?<host>\S+) (?<clock>\{[^}]*\}) (?<event>.*)$"


def jsonl_chunks(records: Iterable[Record]) -> Iterator[str]:
    lines: list[str] = []
    for recv_ms, event in records:
        line = dict(event)
        line["recv_ms"] = recv_ms
        lines.append(json.dumps(line, ensure_ascii=False, separators=(",", ":")))
        if len(lines) >= LINES_PER_CHUNK:
            yield "\n".join(lines) + "\n"
            lines = []
    if lines:
        yield "\n".join(lines) + "\n"


def shiviz_chunks(events: Iterable[dict[str, Any]]) -> Iterator[str]:
    yield SHIVIZ_REGEX + "\n\n"
    lines: list[str] = []
    for event, clock in with_vector_clocks(events):
        stamp = json.dumps(clock, sort_keys=True, separators=(",", ":"))
        lines.append(f"{host_of(event)} {stamp} {describe(event)}")
        if len(lines) >= LINES_PER_CHUNK:
            yield "\n".join(lines) + "\n"
            lines = []
    if lines:
        yield "\n".join(lines) + "\n"


def describe(event: dict[str, Any]) -> str:
    """One line saying what happened, for ShiViz and for people reading the log."""
    kind = event.get("type", "?")
    g = event.get
    if kind == "MsgSent":
        what = g("text") or f"{g('src')}→{g('dst')} {g('kind')}"
        text = f"send {what} [{g('src')}#{g('seq')}] to {g('to')}"
    elif kind == "MsgReceived":
        text = f"receive {g('src')}→{g('dst')} {g('kind')} [{g('src')}#{g('seq')}] from {g('frm')}"
    elif kind == "MsgDropped":
        text = f"drop {g('src')}→{g('dst')} {g('kind')} [{g('src')}#{g('seq')}]: {g('reason')}"
    elif kind == "RaftState":
        text = f"raft {g('role')} term {g('term')} commit {g('commit_index')}"
    elif kind == NODE_STATE:
        text = f"process {g('state')}"
    elif kind == MARK:
        text = f"{g('kind')}: {g('text')}"
    elif kind == "LinkUp":
        text = f"link to {g('peer')} {'up' if g('up') else 'down'}"
    elif kind == "ClientRequest":
        text = f"client {g('op')} {g('key')} [{g('request_id')}] via {g('via')}"
    elif kind == "ClientReply":
        text = f"reply {g('op')} {g('key')} [{g('request_id')}] {g('status')} {g('error') or ''}"
    elif kind == "LogAppended":
        text = f"log append from {g('first_index')}"
    else:
        text = str(kind)
    # one event, one line: ShiViz's expression reads up to the end of the line
    return " ".join(text.split())
