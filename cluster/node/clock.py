"""Wall-clock readings, and timers that stretch with slow motion.

Telemetry times are wall-clock milliseconds: every process of a run is on one
machine, so one clock lets the dashboard join a send to its receive. Protocol
timers instead run in *scaled* time: with ``time_scale`` 10 a 500 ms heartbeat
interval lasts 5 s, so a lecture can watch each step. A scale change applies at
once, also to a sleep already in progress, so switching back from slow motion
does not leave a timer waiting out its stretched interval.

Periodic timers wake on a common grid (``sleep_to_grid``, ``sleep_tick``):
a wakeup at the next multiple of the period on the loop clock, not a period
after the last one. Timers with the same or commensurate periods (Raft's
10 ms tick, routing's tick, the 100 ms reports) then fire in one turn of the
event loop instead of one each, and an idle node wakes a third as often.
Each process has its own phase on the grid (``GRID_PHASE_S``): the loop
clock is the machine's monotonic clock, shared by every node, and without a
phase all five nodes would send their hellos and heartbeats in the same
millisecond, queue for two cores together and measure each other's RTT
through that queue.
Sleeps are a bare future and a timer handle, not ``asyncio.wait_for``, which
on Python 3.11 creates a task per call: at 100 ticks a second that was a
visible part of an idle node's CPU.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable

# The same bounds ClusterConfig.validate enforces; a command outside them is refused.
TIME_SCALE_MIN = 0.1
TIME_SCALE_MAX = 100.0


def wall_ms() -> float:
    return time.time() * 1000.0


# This process's offset from the machine-wide grid (see the module docstring).
GRID_PHASE_S = random.random()


def grid_time_s(now_s: float, period_s: float, phase_s: float = GRID_PHASE_S) -> float:
    """The first multiple of ``period_s`` (shifted by ``phase_s``) after ``now_s``."""
    return (math.floor((now_s - phase_s) / period_s) + 1) * period_s + phase_s


async def sleep_until(when_s: float) -> None:
    """Sleep until loop time ``when_s`` exactly (``asyncio.sleep`` would add its own delay)."""
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[bool] = loop.create_future()
    handle = loop.call_at(when_s, _wake, waiter, False)
    try:
        await waiter
    finally:
        handle.cancel()


async def sleep_to_grid(period_s: float) -> None:
    """Sleep until the next multiple of ``period_s`` on the loop clock (unscaled)."""
    await sleep_until(grid_time_s(asyncio.get_running_loop().time(), period_s))


def _wake(waiter: asyncio.Future[bool], changed: bool) -> None:
    if not waiter.done():
        waiter.set_result(changed)


class ScaledClock:
    """The node's ``time_scale`` and sleeps measured in scaled milliseconds."""

    def __init__(self, time_scale: float) -> None:
        self._time_scale = time_scale
        # Sleepers to wake when the scale changes; each resolves to True then.
        self._sleepers: set[asyncio.Future[bool]] = set()
        # The tickers counting in this clock's time (catch_up_tickers); a
        # node makes one per core, once, so the list stays short.
        self._tickers: list[LazyTicker] = []

    @property
    def time_scale(self) -> float:
        return self._time_scale

    def set_time_scale(self, time_scale: float) -> None:
        if not TIME_SCALE_MIN <= time_scale <= TIME_SCALE_MAX:
            bounds = f"{TIME_SCALE_MIN} and {TIME_SCALE_MAX}"
            raise ValueError(f"time_scale must be between {bounds}, got {time_scale}")
        self._time_scale = time_scale
        # Wake every sleeper so it re-stretches what is left of its interval.
        sleepers, self._sleepers = self._sleepers, set()
        for waiter in sleepers:
            _wake(waiter, True)

    def add_ticker(self, ticker: LazyTicker) -> None:
        self._tickers.append(ticker)

    def catch_up_tickers(self) -> None:
        """Deliver every tick owed by now by each ticker on this clock.

        Call it just before a ticker's ``frozen()`` changes. A lazy ticker
        owes its core the ticks it slept through, and ``catch_up`` decides
        by ``frozen()`` *at delivery* whether they reach the core: caught up
        after a freeze they would be dropped, after a thaw the frozen ones
        delivered. Caught up at the flip, each tick goes by the state it was
        due in. Catching up is harmless for the other tickers: a core ticked
        early sees the same sequence as one ticked on time.
        """
        for ticker in self._tickers:
            ticker.catch_up()

    def scaled_s(self, interval_ms: float) -> float:
        return interval_ms * self._time_scale / 1000.0

    async def _sleep_until(self, when_s: float) -> bool:
        """Sleep until loop time ``when_s``; True if the scale changed first."""
        return await self.sleep_until(when_s, asyncio.get_running_loop().create_future())

    async def sleep_until(self, when_s: float, waiter: asyncio.Future[bool]) -> bool:
        """Sleep on ``waiter`` until loop time ``when_s``; True if the scale changed first.

        The caller may end the sleep early by setting ``waiter``'s result itself.
        """
        handle = asyncio.get_running_loop().call_at(when_s, _wake, waiter, False)
        self._sleepers.add(waiter)
        try:
            return await waiter
        finally:
            handle.cancel()
            self._sleepers.discard(waiter)

    async def sleep(self, interval_ms: float) -> None:
        """Sleep ``interval_ms`` of scaled time."""
        loop = asyncio.get_running_loop()
        left = 1.0  # fraction of the interval still to wait
        while left > 0:
            total_s = self.scaled_s(interval_ms)
            if total_s <= 0:
                return
            started_s = loop.time()
            if not await self._sleep_until(started_s + total_s * left):
                return
            left -= (loop.time() - started_s) / total_s

    async def sleep_tick(self, interval_ms: float) -> None:
        """Sleep until the next multiple of the scaled ``interval_ms`` on the loop clock.

        A periodic timer that calls this wakes on the same grid as every
        other one of its period, and does not drift by its own run time.
        A scale change re-aims the wait at the new grid at once.
        """
        loop = asyncio.get_running_loop()
        while True:
            period_s = self.scaled_s(interval_ms)
            if period_s <= 0:
                return
            if not await self._sleep_until(grid_time_s(loop.time(), period_s)):
                return


class LazyTicker:
    """A core's ticks every ``interval_ms`` of scaled time, with a wakeup only when one matters.

    A pure core (Raft, routing) is driven by ``tick()`` calls, and most of
    them only count: an idle follower's election timer, the time to the next
    hello. ``due()`` says how many ticks until the first that may do more
    (at least 1); the ticker sleeps until then and delivers the skipped
    ticks late, in a burst. ``catch_up()`` must run before any other input
    reaches the core, so that the core sees exactly the sequence of ticks and
    inputs it would have seen when ticked on time; ``replan()`` after an
    input wakes the ticker sooner if the core now needs a tick sooner.
    While ``frozen()`` the ticks pass without reaching the core (hold-and-step);
    whoever flips it calls ``ScaledClock.catch_up_tickers()`` first.
    """

    def __init__(
        self,
        clock: ScaledClock,
        interval_ms: float,
        tick: Callable[[], None],
        due: Callable[[], int],
        max_late_ticks: int,
        frozen: Callable[[], bool] = lambda: False,
    ) -> None:
        self._clock = clock
        self._interval_ms = interval_ms
        self._tick = tick
        self._due = due
        self._max_late_ticks = max_late_ticks
        self._frozen = frozen
        clock.add_ticker(self)
        # Loop time of the next tick owed to the core; none before run().
        self._next_tick_s = math.inf
        self._wake_s = math.inf  # when the ticker means to wake
        self._waiter: asyncio.Future[bool] | None = None
        self.ticks = 0  # delivered to the core

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        clock = self._clock
        # On the tick grid, so that tickers of one period wake together.
        self._next_tick_s = grid_time_s(loop.time(), clock.scaled_s(self._interval_ms))
        while True:
            tick_s = clock.scaled_s(self._interval_ms)
            ahead = 1 if self._frozen() else self._due()
            self._wake_s = self._next_tick_s + (ahead - 1) * tick_s
            waiter: asyncio.Future[bool] = loop.create_future()
            self._waiter = waiter
            if await clock.sleep_until(self._wake_s, waiter):
                # The scale changed: ticks not yet due follow the new grid.
                new_grid_s = grid_time_s(loop.time(), clock.scaled_s(self._interval_ms))
                self._next_tick_s = min(self._next_tick_s, new_grid_s)
            self._waiter = None
            self.catch_up()

    def catch_up(self) -> None:
        """Deliver every tick due by now."""
        now_s = asyncio.get_running_loop().time()
        next_s = self._next_tick_s
        if next_s > now_s:
            return
        tick_s = self._clock.scaled_s(self._interval_ms)
        if now_s - self._wake_s > self._max_late_ticks * tick_s:
            # A stall (a paused process, a starved core): the ticks missed in
            # it are dropped, as a sleeping timer's would be, not replayed in
            # a burst that would time out every neighbour or election at once.
            next_s = grid_time_s(now_s - tick_s, tick_s)
        frozen = self._frozen()
        while next_s <= now_s:
            next_s += tick_s
            # Set before the call: a tick's output may reach code that calls catch_up.
            self._next_tick_s = next_s
            if not frozen:
                self.ticks += 1
                self._tick()
        self._wake_s = max(self._wake_s, next_s)

    def replan(self) -> None:
        """The core took an input: wake sooner if it now needs a tick sooner."""
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        tick_s = self._clock.scaled_s(self._interval_ms)
        if self._next_tick_s + (self._due() - 1) * tick_s < self._wake_s - tick_s / 2:
            waiter.set_result(False)
