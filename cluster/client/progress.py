"""Progress of a long transfer on stderr: a live bar on a terminal, one line elsewhere.

A 256 MB upload takes seconds; without feedback a student cannot tell a
slow cluster from a hung one. On a terminal the bar redraws in place (bytes,
percent, MB/s, ETA); in a log or a pipe, redrawing would write hundreds of
lines, so only the final summary is printed there.

Rates are decimal (1 MB = 10^6 bytes), like the benchmark's MB/s, so the
numbers can be compared directly.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

# Redraws per second at most: smooth to the eye, negligible next to a transfer.
REDRAW_INTERVAL_S = 0.1
BAR_CELLS = 24
# The rate shown is over the whole transfer so far: steady, and what the
# final line reports too. Before this much time it is noise, so no ETA yet.
MIN_ELAPSED_FOR_ETA_S = 0.2

_UNITS = ("B", "kB", "MB", "GB", "TB")


def format_bytes(size_bytes: float) -> str:
    value = float(size_bytes)
    for unit in _UNITS:
        if abs(value) < 1000 or unit == _UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def format_rate(bytes_per_s: float) -> str:
    return f"{bytes_per_s / 1e6:.1f} MB/s"


def format_eta(seconds: float | None) -> str:
    """``m:ss`` or ``h:mm:ss``; ``--:--`` when it cannot be known yet."""
    if seconds is None or seconds != seconds or seconds < 0 or seconds > 99 * 3600:
        return "--:--"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def bar(done: int, total: int, cells: int = BAR_CELLS) -> str:
    filled = cells if total <= 0 else min(cells, done * cells // total)
    return "[" + "#" * filled + "." * (cells - filled) + "]"


class Progress:
    """A ``(done, total)`` callback that shows a transfer; call ``finish()`` at the end."""

    def __init__(
        self,
        label: str,
        stream: TextIO | None = None,
        *,
        interactive: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self._clock = clock
        self._started_s = clock()
        self._drawn_s = float("-inf")
        self._done = 0
        self._total = 0
        self._width = 0  # of the last line drawn, to blank what a shorter one leaves

    def __call__(self, done: int, total: int) -> None:
        self._done, self._total = done, total
        if not self.interactive:
            return
        now_s = self._clock()
        if done < total and now_s - self._drawn_s < REDRAW_INTERVAL_S:
            return
        self._drawn_s = now_s
        self._draw(self.line(now_s))

    def line(self, now_s: float) -> str:
        """The live line: label, bar, percent, bytes, rate, ETA."""
        elapsed_s = max(now_s - self._started_s, 1e-9)
        rate = self._done / elapsed_s
        eta: float | None = None
        if elapsed_s >= MIN_ELAPSED_FOR_ETA_S and rate > 0:
            eta = (self._total - self._done) / rate
        percent = 100 if self._total <= 0 else 100 * self._done // self._total
        return (
            f"{self.label}  {bar(self._done, self._total)} {percent:3d}%  "
            f"{format_bytes(self._done)} / {format_bytes(self._total)}  "
            f"{format_rate(rate)}  ETA {format_eta(eta)}"
        )

    def summary(self, now_s: float) -> str:
        elapsed_s = max(now_s - self._started_s, 1e-9)
        return (
            f"{self.label}: {format_bytes(self._done)} in {elapsed_s:.2f} s "
            f"({format_rate(self._done / elapsed_s)})"
        )

    def finish(self) -> None:
        """The final line: the bar's last state on a terminal, else the summary."""
        now_s = self._clock()
        if self.interactive:
            self._draw(self.line(now_s))
            self.stream.write("\n")
        else:
            self.stream.write(self.summary(now_s) + "\n")
        self.stream.flush()

    def abandon(self) -> None:
        """After an error: end the bar's line so the error starts on its own."""
        if self.interactive and self._width:
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, text: str) -> None:
        pad = " " * max(0, self._width - len(text))
        self._width = len(text)
        self.stream.write("\r" + text + pad)
        self.stream.flush()
