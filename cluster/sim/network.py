"""The simulated network: every way a real network misbehaves, drawn from one seed.

A message sent at tick t is delivered at t + a random delay (so messages
overtake each other: reordering), unless it is lost; sometimes it is
delivered twice. A partition is a set of blocked directed links: blocking
only a→b is a one-way partition, where a's messages vanish but b's arrive.
A link is checked when the message is sent and again when it would arrive,
so a partition also swallows messages already in flight.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass
from typing import Any

# Messages in flight at once; beyond this the network drops (as a full
# buffer would). Bounds memory if a bug makes nodes flood each other.
MAX_IN_FLIGHT = 20_000


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    loss_rate: float = 0.0
    duplicate_rate: float = 0.0
    delay_min_ticks: int = 1
    delay_max_ticks: int = 1

    def text(self) -> str:
        return (
            f"loss {self.loss_rate:.2f} dup {self.duplicate_rate:.2f}"
            f" delay {self.delay_min_ticks}..{self.delay_max_ticks} ticks"
        )


class SimNetwork:
    def __init__(self, rng: random.Random, config: NetworkConfig) -> None:
        self.rng = rng
        self.config = config
        self._heap: list[tuple[int, int, str, str, Any]] = []
        self._seq = 0  # tie-breaker that keeps heap order deterministic
        self.blocked: set[tuple[str, str]] = set()
        self.sent = 0
        self.dropped = 0
        self.delivered = 0

    def send(self, now_tick: int, src: str, dst: str, msg: Any) -> None:
        self.sent += 1
        cfg = self.config
        if (src, dst) in self.blocked or self.rng.random() < cfg.loss_rate:
            self.dropped += 1
            return
        copies = 2 if self.rng.random() < cfg.duplicate_rate else 1
        for _ in range(copies):
            if len(self._heap) >= MAX_IN_FLIGHT:
                self.dropped += 1
                return
            delay = self.rng.randint(cfg.delay_min_ticks, cfg.delay_max_ticks)
            self._seq += 1
            heapq.heappush(self._heap, (now_tick + delay, self._seq, src, dst, msg))

    def due(self, now_tick: int) -> list[tuple[str, str, Any]]:
        """Messages arriving by ``now_tick``, in arrival order; blocked links drop theirs."""
        out: list[tuple[str, str, Any]] = []
        heap = self._heap
        while heap and heap[0][0] <= now_tick:
            _, _, src, dst, msg = heapq.heappop(heap)
            if (src, dst) in self.blocked:
                self.dropped += 1
                continue
            out.append((src, dst, msg))
        self.delivered += len(out)
        return out

    def in_flight(self) -> int:
        return len(self._heap)

    # -- partitions -------------------------------------------------------------

    def block(self, src: str, dst: str) -> None:
        self.blocked.add((src, dst))

    def split(self, side_a: list[str], side_b: list[str]) -> None:
        """A symmetric partition between two groups."""
        for a in side_a:
            for b in side_b:
                self.blocked.add((a, b))
                self.blocked.add((b, a))

    def heal(self) -> None:
        self.blocked.clear()
