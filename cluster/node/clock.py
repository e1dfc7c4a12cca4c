"""Wall-clock readings, and timers that stretch with slow motion.

Telemetry times are wall-clock milliseconds: every process of a run is on one
machine, so one clock lets the dashboard join a send to its receive. Protocol
timers instead run in *scaled* time: with ``time_scale`` 10 a 500 ms heartbeat
interval lasts 5 s, so a lecture can watch each step. A scale change applies at
once, also to a sleep already in progress, so switching back from slow motion
does not leave a timer waiting out its stretched interval.
"""

from __future__ import annotations

import asyncio
import time

# The same bounds ClusterConfig.validate enforces; a command outside them is refused.
TIME_SCALE_MIN = 0.1
TIME_SCALE_MAX = 100.0


def wall_ms() -> float:
    return time.time() * 1000.0


class ScaledClock:
    """The node's ``time_scale`` and sleeps measured in scaled milliseconds."""

    def __init__(self, time_scale: float) -> None:
        self._time_scale = time_scale
        self._changed = asyncio.Event()

    @property
    def time_scale(self) -> float:
        return self._time_scale

    def set_time_scale(self, time_scale: float) -> None:
        if not TIME_SCALE_MIN <= time_scale <= TIME_SCALE_MAX:
            bounds = f"{TIME_SCALE_MIN} and {TIME_SCALE_MAX}"
            raise ValueError(f"time_scale must be between {bounds}, got {time_scale}")
        self._time_scale = time_scale
        # Wake every sleeper so it re-stretches what is left of its interval.
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def scaled_s(self, interval_ms: float) -> float:
        return interval_ms * self._time_scale / 1000.0

    async def sleep(self, interval_ms: float) -> None:
        """Sleep ``interval_ms`` of scaled time."""
        loop = asyncio.get_running_loop()
        left = 1.0  # fraction of the interval still to wait
        while left > 0:
            total_s = self.scaled_s(interval_ms)
            if total_s <= 0:
                return
            changed = self._changed
            started_s = loop.time()
            try:
                await asyncio.wait_for(changed.wait(), timeout=total_s * left)
            except TimeoutError:
                return
            left -= (loop.time() - started_s) / total_s
