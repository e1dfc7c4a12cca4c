"""What a leader knows about one follower, and how it is feeding it.

Figure 2 of the paper keeps two numbers per follower, ``next_index`` and
``match_index``. A fast implementation also needs a mode (as etcd's
``Progress``):

* PROBE: we do not know where the follower's log diverges; send one
  AppendEntries and wait for its answer before sending another.
* REPLICATE: the follower is in sync; stream AppendEntries without waiting
  (pipelining, thesis §10.2.2), at most ``max_inflight_appends`` unanswered.
* SNAPSHOT: the entries it needs are compacted; send the snapshot in chunks,
  one at a time (§7).
"""

from __future__ import annotations

from collections import deque
from enum import StrEnum


class Mode(StrEnum):
    PROBE = "probe"
    REPLICATE = "replicate"
    SNAPSHOT = "snapshot"


class Progress:
    __slots__ = (
        "commit_sent",
        "inflight",
        "last_ack_tick",
        "match_index",
        "mode",
        "next_index",
        "paused",
        "recent_active",
        "round_acked",
        "snapshot_index",
        "snapshot_offset",
        "snapshot_sent_tick",
    )

    def __init__(self, next_index: int, now_tick: int) -> None:
        self.match_index = 0
        self.next_index = next_index
        self.mode = Mode.PROBE
        # PROBE: a probe is out, wait for its answer (or the next heartbeat).
        self.paused = False
        # REPLICATE: last index carried by each unanswered AppendEntries, in send order.
        self.inflight: deque[int] = deque()
        # Check-quorum (thesis §6.2): heard from this follower in the current period.
        self.recent_active = True
        # Tick of the last answer that advanced match_index (detects lost appends).
        self.last_ack_tick = now_tick
        # ReadIndex (§6.4): highest heartbeat round this follower has echoed.
        self.round_acked = 0
        # The highest commit index already told to this follower.
        self.commit_sent = 0
        # SNAPSHOT: which snapshot is being sent and the next byte to send.
        self.snapshot_index = 0
        self.snapshot_offset = 0
        self.snapshot_sent_tick = now_tick

    def become_probe(self) -> None:
        """Find the divergence point again, starting just after what is known to match."""
        self.mode = Mode.PROBE
        self.paused = False
        self.inflight.clear()
        self.next_index = max(self.next_index, self.match_index + 1)

    def become_replicate(self) -> None:
        self.mode = Mode.REPLICATE
        self.paused = False
        self.inflight.clear()
        self.next_index = self.match_index + 1

    def become_snapshot(self, snapshot_index: int, now_tick: int) -> None:
        self.mode = Mode.SNAPSHOT
        self.paused = False
        self.inflight.clear()
        self.snapshot_index = snapshot_index
        self.snapshot_offset = 0
        self.snapshot_sent_tick = now_tick

    def update_match(self, index: int, now_tick: int) -> bool:
        """The follower's log matches ours up to ``index``; True if that is news."""
        if index <= self.match_index:
            return False
        self.match_index = index
        self.next_index = max(self.next_index, index + 1)
        self.last_ack_tick = now_tick
        inflight = self.inflight
        while inflight and inflight[0] <= index:
            inflight.popleft()
        return True

    def can_send(self, max_inflight: int) -> bool:
        if self.mode is Mode.PROBE:
            return not self.paused
        if self.mode is Mode.REPLICATE:
            return len(self.inflight) < max_inflight
        return False

    def text(self) -> str:
        return f"{self.mode} match {self.match_index} next {self.next_index}"
