"""The hub's memory of what happened: every event it received, for the timeline.

The page shows the cluster *now*; a student who looked away, or an
instructor who wants to show the class the election that just happened,
needs to go back. So the hub keeps every telemetry event it receives, with
the time it received it (``recv_ms``), in a bounded ring:

* at most ``HISTORY_EVENTS_LIMIT`` events and none older than
  ``HISTORY_MAX_AGE_MS``; the OLDEST go first, a whole batch at a time, and
  every event forgotten this way is counted in ``dropped`` (the export and
  the page say so), so a history with a hole at its start never looks
  complete;
* batches as they arrived, in arrival order: one node's events stay in the
  order that node sent them, which is what vector clocks need;
* compact: a node's batch is kept as the msgpack bytes it arrived in (about
  90 bytes an event) and decoded only when someone reads the history; the
  decoded dicts would take ten times the memory.

Besides the nodes' own events the hub adds records that only it can know
(docs/timeline.md):

* ``NodeState`` ``{node, t_ms, state, pid}`` when the launcher or the
  telemetry changes a node's state (up, starting, paused, down): a killed
  process cannot report its own death;
* ``Mark`` ``{node, t_ms, kind, text}``: something done TO the cluster, such
  as an instructor's fault or a chaos step (``node`` empty when it concerns
  the whole cluster); and whatever else the backend publishes (a lesson step).

A history can also be *imported* (``start_replay``): the dashboard then
shows that recording instead of the live one, while the live ring keeps
recording underneath.
"""

from __future__ import annotations

import bisect
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from cluster.schema.telemetry import TELEMETRY, decode_batch

# About 45 MB of msgpack at ~90 bytes an event: nine minutes of an idle
# five-node cluster (~1,000 events/s of heartbeats, Raft and routing hellos),
# which covers a lesson, or 25 s of the 20,000 events/s the dashboard is
# built for.
HISTORY_EVENTS_LIMIT = 500_000
# A lecture's worth; older events explain nothing the class still remembers.
HISTORY_MAX_AGE_MS = 30 * 60 * 1000.0
# How long after it happened an event may still reach the hub: nodes flush
# every 30 ms, but a process resumed after a long SIGSTOP sends what it had
# buffered. A time-range query reads batches received up to this much after
# the range, and none received before it: events cannot arrive before they
# happen. (An event later than this is still in the full export.)
LATE_EVENT_MS = 60_000.0

NODE_STATE = "NodeState"
MARK = "Mark"
HUB_RECORD_TYPES = frozenset({NODE_STATE, MARK})

# (receive time at the hub in ms, the event as browsers get it)
Record = tuple[float, dict[str, Any]]
# (receive time, number of events, payload): the payload is a telemetry
# batch body as a node sent it (bytes), or a list of event dicts (the hub's
# own records, an imported history)
Entry = tuple[float, int, "bytes | list[dict[str, Any]]"]


def _decode(payload: bytes | list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(payload, bytes):
        _, _, events = decode_batch(payload)  # it was valid when it arrived
        return [TELEMETRY.to_dict(e) for e in events]
    return payload


@dataclass(frozen=True)
class Snapshot:
    """The history as it was when read: cheap to take, decoded as it is read."""

    entries: list[Entry]
    count: int
    mode: str  # "live" or "replay"

    def records(self, newest: int | None = None) -> Iterator[Record]:
        """Every event, oldest first; with ``newest`` only that many of the latest,
        without decoding the batches before them."""
        start, skip = 0, 0
        if newest is not None:
            if newest <= 0:
                return
            remaining = newest
            start = len(self.entries)
            while start > 0 and remaining > 0:
                start -= 1
                remaining -= self.entries[start][1]
            skip = max(0, -remaining)
        for recv_ms, _, payload in self.entries[start:]:
            events = _decode(payload)
            for event in events[skip:]:
                yield recv_ms, event
            skip = 0

    def records_between(self, since_ms: float, until_ms: float) -> Iterator[Record]:
        """Events with ``since_ms <= t_ms < until_ms``, decoding only the batches
        received in ``[since_ms, until_ms + LATE_EVENT_MS]`` (entries are in
        receive order, so both ends are found by bisection)."""
        first = bisect.bisect_left(self.entries, since_ms, key=lambda e: e[0])
        last = bisect.bisect_right(self.entries, until_ms + LATE_EVENT_MS, key=lambda e: e[0])
        for recv_ms, _, payload in self.entries[first:last]:
            for event in _decode(payload):
                if since_ms <= event["t_ms"] < until_ms:
                    yield recv_ms, event


@dataclass(frozen=True)
class Replay:
    """An imported history, shown instead of the live one."""

    name: str
    entries: list[Entry]
    count: int
    summary: dict[str, Any]


class History:
    """Thread-safe: the hub's receiving threads, the launcher's and REST handlers use it."""

    def __init__(
        self, limit: int = HISTORY_EVENTS_LIMIT, max_age_ms: float = HISTORY_MAX_AGE_MS
    ) -> None:
        self.limit = limit
        self.max_age_ms = max_age_ms
        self._lock = threading.Lock()
        self._entries: deque[Entry] = deque()
        self._count = 0
        self._dropped = 0
        self._states: dict[str, str] = {}  # node -> the state of its latest NodeState
        self._replay: Replay | None = None

    # -- recording ---------------------------------------------------------

    def extend_raw(self, body: bytes, count: int, recv_ms: float) -> None:
        """Remember one node's telemetry batch, as the bytes it arrived in."""
        if count:
            self._append((recv_ms, count, body))

    def extend(self, events: list[dict[str, Any]], recv_ms: float) -> None:
        """Remember records the backend made itself (never changed afterwards)."""
        if events:
            self._append((recv_ms, len(events), events))

    def _append(self, entry: Entry) -> None:
        with self._lock:
            self._entries.append(entry)
            self._count += entry[1]
            oldest_kept_ms = entry[0] - self.max_age_ms
            while self._entries and (
                self._count > self.limit or self._entries[0][0] < oldest_kept_ms
            ):
                _, gone, _ = self._entries.popleft()
                self._count -= gone
                self._dropped += gone

    def note(self, kind: str, text: str, t_ms: float, node: str = "") -> dict[str, Any]:
        """Record a ``Mark``: something done to the cluster, for the timeline."""
        record = {"type": MARK, "node": node, "t_ms": t_ms, "kind": kind, "text": text}
        self.extend([record], t_ms)
        return record

    def track_states(
        self, nodes: Iterable[dict[str, Any]], now_ms: float
    ) -> list[dict[str, Any]]:
        """``NodeState`` records for every node whose state changed since last time.

        ``nodes`` are the view's node dicts (``id``, ``state``, ``pid``).
        The records are remembered here and returned for the live stream.
        """
        records = []
        with self._lock:
            for node in nodes:
                node_id, state = node["id"], node["state"]
                if self._states.get(node_id) != state:
                    self._states[node_id] = state
                    records.append(
                        {
                            "type": NODE_STATE,
                            "node": node_id,
                            "t_ms": now_ms,
                            "state": state,
                            "pid": node.get("pid"),
                        }
                    )
        self.extend(records, now_ms)
        return records

    # -- replay --------------------------------------------------------------

    def start_replay(self, name: str, records: list[Record], now_ms: float) -> dict[str, Any]:
        times = [event["t_ms"] for _, event in records]
        summary = {
            "name": name,
            "events": len(records),
            "from_ms": min(times, default=None),
            "to_ms": max(times, default=None),
            "imported_ms": now_ms,
        }
        entries: list[Entry] = [(recv_ms, 1, [event]) for recv_ms, event in records]
        with self._lock:
            self._replay = Replay(name, entries, len(records), summary)
        return dict(summary)

    def stop_replay(self) -> bool:
        """Back to the live history; False if there was no replay."""
        with self._lock:
            was = self._replay is not None
            self._replay = None
        return was

    # -- reading -------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """What the dashboard shows: the replay if one is imported, else the live ring."""
        with self._lock:
            if self._replay is not None:
                return Snapshot(self._replay.entries, self._replay.count, "replay")
            return Snapshot(list(self._entries), self._count, "live")

    def last(self, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` live events, oldest first (``GET /api/events``)."""
        with self._lock:
            live = Snapshot(list(self._entries), self._count, "live")
        return [event for _, event in live.records(newest=limit)]

    def summary(self) -> dict[str, Any]:
        """Cheap (no copy, no decoding): for the view, which is built many times a second."""
        with self._lock:
            replay = self._replay
            return {
                "mode": "replay" if replay is not None else "live",
                "events": self._count,
                "limit": self.limit,
                "max_age_s": self.max_age_ms / 1000.0,
                "dropped": self._dropped,
                "from_ms": self._entries[0][0] if self._entries else None,
                "to_ms": self._entries[-1][0] if self._entries else None,
                "replay": dict(replay.summary) if replay is not None else None,
            }
