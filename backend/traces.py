"""Traceroute requests waiting for their probe to come back.

``POST /api/trace`` does not compute a path: it asks the source node to send
a real ``TraceProbe`` (``StartTrace`` command) and waits until that node
reports the recorded path as a ``TraceResult`` telemetry event. This module
matches the two by probe id: the request thread waits on an event, the hub's
receiving thread sets it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from cluster.schema.telemetry import TraceResult

# Traces in flight at once. Each holds a request thread while it waits; a
# classroom clicking "trace" needs a handful, so more is a runaway script.
MAX_PENDING_TRACES = 32


class TooManyTraces(RuntimeError):
    """MAX_PENDING_TRACES are already waiting."""


@dataclass
class _Waiter:
    src: str
    done: threading.Event = field(default_factory=threading.Event)
    result: TraceResult | None = None


class TraceWaiters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next_id = 1
        self._waiting: dict[int, _Waiter] = {}

    def open(self, src: str) -> int:
        """Reserve a probe id for a trace from ``src``."""
        with self._lock:
            if len(self._waiting) >= MAX_PENDING_TRACES:
                raise TooManyTraces(f"{MAX_PENDING_TRACES} traces are already running")
            probe_id = self._next_id
            self._next_id += 1
            self._waiting[probe_id] = _Waiter(src)
            return probe_id

    def wait(self, probe_id: int, timeout_s: float) -> TraceResult | None:
        """The result, or None when it did not come back in time; frees the id."""
        with self._lock:
            waiter = self._waiting.get(probe_id)
        if waiter is None:
            return None
        waiter.done.wait(timeout_s)
        with self._lock:
            self._waiting.pop(probe_id, None)
        return waiter.result

    def on_batch(self, node: str, events: list[Any]) -> None:
        """Hub listener: hand each TraceResult to the request waiting for it."""
        for event in events:
            if type(event) is not TraceResult:
                continue
            with self._lock:
                waiter = self._waiting.get(event.probe_id)
            # Only the node the probe started from can answer for it.
            if waiter is not None and waiter.src == node:
                waiter.result = event
                waiter.done.set()
