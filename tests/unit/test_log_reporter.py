"""LogAppended telemetry is throttled without losing what the dashboard needs:
the lowest index written (a truncation) and the tail of the log."""

from __future__ import annotations

import asyncio

from cluster.node.log_reporter import LOG_REPORT_INTERVAL_MS, LOG_TAIL_ENTRIES, LogReporter
from cluster.schema.raft import ENTRY_NORMAL, Entry
from cluster.schema.telemetry import LogAppended


def entries(first: int, last: int, term: int) -> list[Entry]:
    return [Entry(i, term, ENTRY_NORMAL, b"") for i in range(first, last + 1)]


def test_appends_in_one_window_are_merged_and_a_truncation_stays_visible() -> None:
    events: list[LogAppended] = []

    async def scenario() -> None:
        reporter = LogReporter("n1", events.append, lambda e: f"e{e.index}")
        reporter.appended(entries(1, 3, 1))  # after a quiet spell: reported at once
        assert [e.first_index for e in events] == [1]
        reporter.appended(entries(4, 40, 1))
        reporter.appended(entries(30, 31, 2))  # a new leader overwrote from 30
        assert len(events) == 1  # merged, waiting for the end of the window
        await asyncio.sleep(3 * LOG_REPORT_INTERVAL_MS / 1000.0)
        assert len(events) == 2
        merged = events[1]
        assert merged.first_index == 4
        indexes = [row[0] for row in merged.entries]
        # 16..24 had already scrolled out of the kept tail when 30 was overwritten.
        assert indexes == list(range(25, 32))
        assert len(indexes) <= LOG_TAIL_ENTRIES
        assert merged.entries[-1] == [31, 2, "normal", "e31"]
        assert merged.entries[-3] == [29, 1, "normal", "e29"]

    asyncio.run(scenario())
