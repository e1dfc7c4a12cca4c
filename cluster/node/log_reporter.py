"""``LogAppended`` telemetry, at most every LOG_REPORT_INTERVAL_MS per node.

Under load a node writes a few hundred batches of entries a second; one
event per batch would cost the dashboard more than it shows (the page
draws the last few entries of each log, not every batch). So the first
append after a quiet spell is reported at once, and appends that follow
within the interval are merged into one event sent at its end: ``first_index``
is the lowest index written in the window (a truncation stays visible) and
``entries`` the last LOG_TAIL_ENTRIES entries of the log after it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from cluster.node.clock import wall_ms
from cluster.schema.raft import ENTRY_KIND_NAMES, Entry
from cluster.schema.telemetry import LogAppended

# Twenty reports a second per node still looks live on the page.
LOG_REPORT_INTERVAL_MS = 50.0
# The dashboard shows the last few entries of each log; a batch of 500 must
# not make a huge event.
LOG_TAIL_ENTRIES = 16


class LogReporter:
    def __init__(
        self, node_id: str, emit: Callable[[LogAppended], None], text: Callable[[Entry], str]
    ) -> None:
        self._node_id = node_id
        self._emit = emit
        self._text = text
        self._first_index: int | None = None  # lowest index written in this window
        self._tail: list[Entry] = []
        self._last_report_s = 0.0
        self._flush_scheduled = False

    def appended(self, entries: list[Entry]) -> None:
        """``entries`` (consecutive) were written, replacing the log from their first index."""
        first = entries[0].index
        if self._first_index is None or first < self._first_index:
            self._first_index = first
        tail = [e for e in self._tail if e.index < first]
        tail.extend(entries[-LOG_TAIL_ENTRIES:])
        self._tail = tail[-LOG_TAIL_ENTRIES:]
        now_s = time.monotonic()
        wait_s = self._last_report_s + LOG_REPORT_INTERVAL_MS / 1000.0 - now_s
        if wait_s <= 0:
            self.flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_later(wait_s, self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        self._flush_scheduled = False
        self.flush()

    def flush(self) -> None:
        if self._first_index is None:
            return
        rows = [
            [e.index, e.term, ENTRY_KIND_NAMES.get(e.kind, "?"), self._text(e)] for e in self._tail
        ]
        self._emit(LogAppended(self._node_id, wall_ms(), self._first_index, rows))
        self._first_index = None
        self._tail = []
        self._last_report_s = time.monotonic()
