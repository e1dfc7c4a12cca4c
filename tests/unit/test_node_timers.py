"""Reconnect backoff and slow-motion timers of the node shell."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from cluster.node.backoff import Backoff
from cluster.node.clock import ScaledClock


def test_backoff_doubles_up_to_the_cap_with_jitter_and_resets() -> None:
    backoff = Backoff(random.Random(7), initial_ms=50, max_ms=400)
    delays = [backoff.next_delay_ms() for _ in range(8)]
    steps = [50, 100, 200, 400, 400, 400, 400, 400]
    for delay, step in zip(delays, steps, strict=True):
        assert step / 2 <= delay <= step
    assert len(set(delays)) == len(delays)  # jitter: no two retries in lock step
    backoff.reset()
    assert backoff.next_delay_ms() <= 50


def test_backoff_refuses_nonsense_limits() -> None:
    with pytest.raises(ValueError):
        Backoff(random.Random(1), initial_ms=0, max_ms=10)
    with pytest.raises(ValueError):
        Backoff(random.Random(1), initial_ms=20, max_ms=10)


def test_scaled_sleep_stretches_with_the_time_scale() -> None:
    async def main() -> float:
        clock = ScaledClock(time_scale=3.0)
        started = time.monotonic()
        await clock.sleep(50)  # 50 ms × 3
        return time.monotonic() - started

    assert asyncio.run(main()) >= 0.15


def test_a_scale_change_applies_to_a_sleep_in_progress() -> None:
    async def main() -> float:
        clock = ScaledClock(time_scale=100.0)  # 200 ms would last 20 s
        started = time.monotonic()
        sleeper = asyncio.create_task(clock.sleep(200))
        await asyncio.sleep(0.05)
        clock.set_time_scale(1.0)  # back to real time: ~0.15 s are left
        await asyncio.wait_for(sleeper, timeout=5)
        return time.monotonic() - started

    elapsed_s = asyncio.run(main())
    assert 0.15 <= elapsed_s < 2.0


def test_time_scale_outside_the_configured_bounds_is_refused() -> None:
    clock = ScaledClock(time_scale=1.0)
    with pytest.raises(ValueError, match="between"):
        clock.set_time_scale(0.0)
    assert clock.time_scale == 1.0
