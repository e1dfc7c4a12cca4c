"""Hold-and-step stops Raft's clock at the moment it flips, not a lazy wakeup later.

The node's LazyTicker sleeps through ticks that only count and delivers them
late; the hold's SetHold command flips the freeze. The ticks owed from before
the hold ran before the clock stopped, so the core must get them; the ticks
during the hold must never reach it, not even as a burst when hold ends.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any, cast

from cluster.node.clock import LazyTicker, ScaledClock
from cluster.node.hold import HoldDelivery
from cluster.node.node import Node
from cluster.schema.control import SetHold

# Long enough that a busy machine's scheduling delays (a few ms) stay well
# inside the one-tick tolerances below.
TICK_MS = 20
TICK_S = TICK_MS / 1000
IDLE_TICKS = 10_000  # an idle follower: no tick matters for the whole test


class HoldOnlyNode:
    """The part of a Node that hold.py uses for SetHold."""

    def __init__(self) -> None:
        self.id = "n1"
        self.clock = ScaledClock(time_scale=1.0)
        self.timers_frozen = False
        self.hold_outgoing: Any = None
        self.counters: collections.Counter[str] = collections.Counter()
        self.commands: dict[type[Any], Any] = {}
        self.events: list[Any] = []

    def on_command(self, command_type: type[Any], handler: Any) -> None:
        self.commands[command_type] = handler

    def emit(self, event: Any) -> None:
        self.events.append(event)

    def forward(self, env: Any, local: bool = False) -> None:
        raise AssertionError("nothing was held, so nothing is sent")


def ticks_between(start_s: float, end_s: float) -> float:
    return (end_s - start_s) / TICK_S


def test_owed_ticks_reach_the_core_before_hold_and_none_while_held() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        node = HoldOnlyNode()
        HoldDelivery(cast(Node, node))
        core_ticks = 0

        def tick() -> None:
            nonlocal core_ticks
            assert not node.timers_frozen, "a tick reached the core while frozen"
            core_ticks += 1

        ticker = LazyTicker(
            node.clock,
            TICK_MS,
            tick,
            lambda: IDLE_TICKS,
            max_late_ticks=5,
            frozen=lambda: node.timers_frozen,
        )
        started_s = loop.time()
        task = asyncio.create_task(ticker.run())
        await asyncio.sleep(20 * TICK_S)  # about 20 ticks owed; the ticker sleeps on
        assert core_ticks == 0

        hold_s = loop.time()
        node.commands[SetHold](SetHold(on=True))
        # Every tick due before the hold reached the core, at the flip and not
        # later (within a tick or so: the ticker's grid and start are its own).
        owed = ticks_between(started_s, hold_s)
        assert abs(core_ticks - owed) < 2, (core_ticks, owed)
        at_hold = core_ticks

        await asyncio.sleep(20 * TICK_S)  # about 20 ticks while held
        ticker.catch_up()  # what a message stepped while held does first
        assert core_ticks == at_hold

        release_s = loop.time()
        node.commands[SetHold](SetHold(on=False))
        ticker.catch_up()
        # No burst of the ~20 frozen ticks: at most one fell due since the release.
        assert core_ticks - at_hold <= 1

        await asyncio.sleep(10 * TICK_S)
        ticker.catch_up()
        after = ticks_between(release_s, loop.time())
        assert abs(core_ticks - at_hold - after) < 2, (core_ticks - at_hold, after)
        task.cancel()

    asyncio.run(main())
