"""``Ready``: everything the core needs its caller to do, and in which order.

The core never touches disk or network. After feeding it ticks, messages and
proposals, the caller asks ``node.ready()`` and must, in this order:

1. ``snapshot`` (received from a leader): write it durably and delete every
   log entry on disk; the entries to keep come back in ``entries``.
2. ``compacted`` (local compaction the caller asked for with ``compact()``):
   write it durably and delete the entries up to ``compacted.index``.
3. ``entries``: delete every entry on disk with index >= ``entries[0].index``,
   then append ``entries``.
4. ``hard_state``: write term and vote.
5. If ``must_sync``: fsync all of the above (``fsync = "always"``). A vote
   or an acknowledgement sent before this point could be forgotten by a
   crash, and Raft's safety argument would no longer hold.
6. Send ``messages`` (each is ``(destination, message)``); they may be lost,
   duplicated or reordered, the protocol copes.
7. If ``snapshot``: replace the state machine with ``snapshot.data``.
8. Apply ``committed_entries`` in order: ENTRY_NORMAL ones to the state
   machine, the others (no-op, config) only advance the applied index.
9. ``read_states``: answer each read once the state machine has applied
   ``read_index`` (now or after later Readies).
10. Call ``node.advance(ready)``.

Ticks, messages and proposals may be fed to the node between ``ready()`` and
``advance()`` (while an fsync runs); ``ready()`` may not be called again
before ``advance()``. After ``advance()`` the node may have more to do
(a leader that can now commit): loop while ``node.has_ready()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cluster.core.raft.types import HardState, ReadState, Snapshot, SoftState
from cluster.schema.raft import Entry


@dataclass(slots=True)
class Ready:
    hard_state: HardState | None = None
    snapshot: Snapshot | None = None
    compacted: Snapshot | None = None
    entries: list[Entry] = field(default_factory=list)
    messages: list[tuple[str, Any]] = field(default_factory=list)
    committed_entries: list[Entry] = field(default_factory=list)
    read_states: list[ReadState] = field(default_factory=list)
    # Present when role, term, leader or voters changed since the last Ready.
    soft_state: SoftState | None = None
    # The commit index now (volatile; for telemetry, never needs persisting).
    commit_index: int = 0

    @property
    def must_sync(self) -> bool:
        """True when something must reach the disk before the messages are sent."""
        return bool(
            self.hard_state is not None
            or self.entries
            or self.snapshot is not None
            or self.compacted is not None
        )

    def is_empty(self) -> bool:
        return not (
            self.must_sync
            or self.messages
            or self.committed_entries
            or self.read_states
            or self.soft_state is not None
        )
