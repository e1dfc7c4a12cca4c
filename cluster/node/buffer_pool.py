"""Reusable chunk-sized buffers, lent out and given back.

A chunk served to a client is read from disk, hashed and handed to the
socket; then its memory is free again. Allocating a fresh megabyte for
every chunk makes the allocator zero and map new pages each time, and the
bytes go through cold memory; a handful of buffers used again and again
stay mapped and warm. The pool keeps a bounded number of buffers: a burst
of concurrent readers allocates its own, and the extras are dropped when
given back, so memory falls back to the bound once the burst is over.

A buffer is given back only once nothing refers to its bytes any more (the
socket took them all); a buffer whose fate is unknown (a connection that
broke mid-write) is simply not given back, and the garbage collector frees
it when the last reference goes.
"""

from __future__ import annotations

import threading


class BufferPool:
    """``take`` a buffer of at least ``size_bytes``; ``give`` it back when done."""

    def __init__(self, kept: int) -> None:
        if kept < 0:
            raise ValueError(f"kept must be >= 0, got {kept}")
        self.kept = kept
        self._free: list[bytearray] = []
        # Taken and given from worker threads and the event loop alike.
        self._lock = threading.Lock()

    def take(self, size_bytes: int) -> bytearray:
        with self._lock:
            while self._free:
                buffer = self._free.pop()
                if len(buffer) >= size_bytes:
                    return buffer
                # Too small (the chunk size setting grew): let it go.
        return bytearray(size_bytes)

    def give(self, buffer: bytearray) -> None:
        with self._lock:
            if len(self._free) < self.kept:
                self._free.append(buffer)

    def free_count(self) -> int:
        """Buffers waiting to be lent (for tests and counters)."""
        with self._lock:
            return len(self._free)
