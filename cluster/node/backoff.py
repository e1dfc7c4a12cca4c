"""Delays between reconnect attempts: doubling, capped, with jitter.

When a node dies, every neighbour starts reconnecting to it at the same
moment; without jitter they would retry in lock step forever. Each delay is
drawn between half and all of the current step ("equal jitter"), so retries
spread out but never collapse to zero.
"""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, rng: random.Random, initial_ms: float, max_ms: float) -> None:
        if not 0 < initial_ms <= max_ms:
            raise ValueError(f"need 0 < initial_ms <= max_ms, got {initial_ms}, {max_ms}")
        self._rng = rng
        self._initial_ms = initial_ms
        self._max_ms = max_ms
        self._step_ms = initial_ms

    def next_delay_ms(self) -> float:
        delay_ms = self._step_ms * self._rng.uniform(0.5, 1.0)
        self._step_ms = min(self._step_ms * 2, self._max_ms)
        return delay_ms

    def reset(self) -> None:
        self._step_ms = self._initial_ms
