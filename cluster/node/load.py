"""A real traffic generator: ``SetLoad(msgs_per_s)`` makes the node chatter.

Each ``Chatter`` carries a ~64-byte payload to a random connected neighbour,
as a real frame on a real link, so the telemetry benchmark and a "busy
network" demo measure the actual system. At high rates a timer wakeup per
message would cost more than the message, so a ticker wakes every
``LOAD_TICK_MS`` and sends as many as are due since the last wakeup.

The rate is real time, not slowed by ``time_scale``: it is a rate the user
asked for explicitly, not a protocol timer.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from cluster.node.node import Node
from cluster.schema.control import SetLoad
from cluster.schema.messages import Chatter, Envelope

CHATTER_PAYLOAD_BYTES = 64
# Often enough that the traffic looks continuous on the dashboard, rarely
# enough that the wakeups themselves cost little.
LOAD_TICK_MS = 10
# Far above what one Python node can send; a higher request is clamped.
MAX_LOAD_MSGS_PER_S = 100_000
# After a stall (a paused process, a busy core) do not send the whole backlog
# at once: at most this much time's worth of messages catches up.
MAX_CATCH_UP_S = 0.1


class LoadGenerator:
    def __init__(self, node: Node) -> None:
        self._node = node
        self._payload = os.urandom(CHATTER_PAYLOAD_BYTES)
        self.msgs_per_s = 0
        self._changed = asyncio.Event()
        node.on(Chatter, self._on_chatter)
        node.on_command(SetLoad, self._on_set_load)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        node = self._node
        while True:
            if self.msgs_per_s <= 0:
                self._changed.clear()
                await self._changed.wait()
                continue
            credit = 0.0  # messages due but not yet sent
            last_s = loop.time()
            while self.msgs_per_s > 0:
                await asyncio.sleep(LOAD_TICK_MS / 1000.0)
                now_s = loop.time()
                rate = self.msgs_per_s
                credit = min(credit + (now_s - last_s) * rate, rate * MAX_CATCH_UP_S)
                last_s = now_s
                peers = node.connected_peers()
                if not peers:
                    credit = 0.0
                    continue
                count = int(credit)
                credit -= count
                choice = node.rng.choice
                body = Chatter(self._payload)
                for _ in range(count):
                    node.send(choice(peers), body)

    def _on_set_load(self, command: Any) -> None:
        assert isinstance(command, SetLoad)
        if command.msgs_per_s < 0:
            raise ValueError(f"msgs_per_s must not be negative, got {command.msgs_per_s}")
        self.msgs_per_s = min(command.msgs_per_s, MAX_LOAD_MSGS_PER_S)
        self._changed.set()

    def _on_chatter(self, env: Envelope) -> None:
        pass  # the frame's journey (sent, received) is the whole point
