"""The knobs of one Raft node, each a count of ticks, entries or bytes.

The core never reads a clock: every duration is a number of ``tick()`` calls,
and the shell decides how long a tick lasts (``tick_ms × time_scale``). Every
queue the core keeps has a limit here, with the reason for its size.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RaftConfig:
    # §5.2: followers wait a random time in [min, max] ticks before an election,
    # so that usually a single node times out first and wins.
    election_timeout_min_ticks: int = 15
    election_timeout_max_ticks: int = 30
    # Heartbeats must come several times per minimum election timeout, or a
    # single lost heartbeat would trigger an election.
    heartbeat_interval_ticks: int = 3
    # One AppendEntries carries at most this many entries and bytes: bounds
    # the frame (codec.MAX_FRAME_BYTES is 8 MiB) and the follower's work per message.
    max_entries_per_append: int = 512
    max_append_bytes: int = 1024 * 1024
    # Pipelining (thesis §10.2.2): this many AppendEntries may be unanswered
    # per follower before the leader waits; bounds memory and resends after a loss.
    max_inflight_appends: int = 32
    # §7: compaction is due when this many entries were applied since the
    # last snapshot; bounds the log on disk and the replay time after a restart.
    snapshot_threshold_entries: int = 10_000
    # §7: InstallSnapshot sends the snapshot in chunks of this size, well
    # under the frame limit, so a big state machine still fits through.
    snapshot_chunk_bytes: int = 512 * 1024
    # A snapshot received from a leader larger than this is refused: bounds
    # the memory a remote peer can make us allocate.
    max_snapshot_bytes: int = 1024 * 1024 * 1024
    # A leader refuses proposals while this many entries are uncommitted: when
    # followers are down, clients get an answer instead of unbounded memory use.
    max_uncommitted_entries: int = 50_000
    # ReadIndex requests waiting for a quorum (§6.4); beyond it reads are refused.
    max_pending_reads: int = 4096
    # Committed entries handed out in one Ready: bounds the work per event-loop turn.
    max_committed_per_ready: int = 4096
    # Thesis §9.6: pre-vote keeps a node that was cut off from raising its term
    # and disrupting the cluster when it returns.
    pre_vote: bool = True
    # Thesis §6.2: a leader steps down without a quorum for an election timeout,
    # and followers that hear from a leader ignore vote requests (leader lease).
    check_quorum: bool = True

    def validate(self) -> RaftConfig:
        """Return self, or raise ValueError naming the first bad setting."""
        if not 1 <= self.heartbeat_interval_ticks < self.election_timeout_min_ticks:
            raise ValueError(
                "heartbeat_interval_ticks must be >= 1 and < election_timeout_min_ticks"
            )
        if self.election_timeout_max_ticks < self.election_timeout_min_ticks:
            raise ValueError("election_timeout_max_ticks must be >= election_timeout_min_ticks")
        for name in (
            "max_entries_per_append",
            "max_append_bytes",
            "max_inflight_appends",
            "snapshot_threshold_entries",
            "snapshot_chunk_bytes",
            "max_snapshot_bytes",
            "max_uncommitted_entries",
            "max_pending_reads",
            "max_committed_per_ready",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        return self
