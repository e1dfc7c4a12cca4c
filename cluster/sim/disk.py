"""A node's disk in the simulator: exactly what the Ready contract says to persist.

Writing here is the simulated fsync. A crash keeps this object and throws
away the ``RaftNode``; a restart builds a new node from ``load()``. Anything
the core never handed out in a Ready, or that the caller never persisted,
is gone, as after a real SIGKILL.
"""

from __future__ import annotations

from cluster.core.raft import PersistentState, Ready, Snapshot
from cluster.schema.raft import Entry


class SimDisk:
    def __init__(self) -> None:
        self.term = 0
        self.vote: str | None = None
        self.snapshot: Snapshot | None = None
        self.entries: list[Entry] = []  # follow the snapshot
        self.syncs = 0

    def first_index(self) -> int:
        return (self.snapshot.index if self.snapshot else 0) + 1

    def save(self, rd: Ready) -> None:
        """Steps 1-5 of the Ready contract (cluster/core/raft/ready.py)."""
        if rd.snapshot is not None:
            self.snapshot = rd.snapshot
            self.entries = []
        if rd.compacted is not None:
            drop = rd.compacted.index - self.first_index() + 1
            self.snapshot = rd.compacted
            del self.entries[: max(drop, 0)]
        if rd.entries:
            keep = rd.entries[0].index - self.first_index()
            if keep < 0:
                raise AssertionError(
                    f"Ready entries start at {rd.entries[0].index}, before the disk's first index"
                )
            del self.entries[keep:]
            if len(self.entries) != keep:
                raise AssertionError(
                    f"Ready entries start at {rd.entries[0].index}, leaving a gap on disk"
                )
            self.entries.extend(rd.entries)
        if rd.hard_state is not None:
            self.term = rd.hard_state.term
            self.vote = rd.hard_state.vote
        if rd.must_sync:
            self.syncs += 1

    def load(self) -> PersistentState:
        return PersistentState(self.term, self.vote, self.snapshot, list(self.entries))

    def term_at(self, index: int) -> int | None:
        if self.snapshot is not None and index == self.snapshot.index:
            return self.snapshot.term
        offset = index - self.first_index()
        if 0 <= offset < len(self.entries):
            return self.entries[offset].term
        return None
