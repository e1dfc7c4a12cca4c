"""Snapshots and log compaction (§7).

The caller's state machine takes the snapshot (only it knows its state):
when ``compaction_due`` says the log has grown past
``snapshot_threshold_entries`` since the last snapshot, the caller serialises
its state as of an applied index and hands it to ``compact``. The log before
that index is then forgotten, in memory and (through ``Ready.compacted``) on
disk.

A follower that needs forgotten entries gets the snapshot instead, with
InstallSnapshot, in chunks of ``snapshot_chunk_bytes``, one at a time. When
the last chunk arrives it replaces its state machine (``Ready.snapshot``) and
keeps any log entries that follow the snapshot, if its log agrees with it.
"""

from __future__ import annotations

from cluster.core.raft.progress import Mode, Progress
from cluster.core.raft.state import RaftState, ReceivingSnapshot
from cluster.core.raft.types import RaftApiError, Snapshot
from cluster.schema.raft import InstallSnapshot, InstallSnapshotReply, valid_node_id


def compaction_due(s: RaftState) -> bool:
    return s.applied_index - s.log.snapshot_index >= s.cfg.snapshot_threshold_entries


def compact(s: RaftState, index: int, data: bytes) -> bool:
    """Forget the log up to ``index``, which ``data`` (state as of ``index``) replaces.

    False (nothing done) if a snapshot at or after ``index`` already exists.
    """
    if index > s.applied_index:
        raise RaftApiError(f"compact({index}): only applied entries (<= {s.applied_index})")
    if index <= s.log.snapshot_index:
        return False
    term = s.log.term_at(index)
    if term is None:
        raise RaftApiError(f"compact({index}): entry not in the log")
    voters = s.membership.voters_at(index)
    s.log.compact_to(index)
    s.membership.compact_to(index)
    s.snapshot = Snapshot(index, term, voters, data)
    s.compacted = s.snapshot
    return True


# -- leader ------------------------------------------------------------------


def send_snapshot_chunk(s: RaftState, to: str, pr: Progress) -> None:
    snapshot = s.snapshot
    if snapshot is None:
        return
    if pr.snapshot_index != snapshot.index:
        # We compacted again since the transfer started: send the newer one.
        pr.become_snapshot(snapshot.index, s.tick_count)
    offset = pr.snapshot_offset
    chunk = snapshot.data[offset : offset + s.cfg.snapshot_chunk_bytes]
    done = offset + len(chunk) >= len(snapshot.data)
    s.send(
        to,
        InstallSnapshot(
            s.term,
            s.id,
            snapshot.index,
            snapshot.term,
            list(snapshot.voters),
            offset,
            chunk,
            done,
        ),
    )
    pr.snapshot_sent_tick = s.tick_count


def handle_snapshot_reply(s: RaftState, frm: str, m: InstallSnapshotReply) -> None:
    pr = s.progress.get(frm)
    if pr is None:
        return
    pr.recent_active = True
    if m.done:
        # The follower holds everything up to last_index, whatever mode we are in.
        if pr.update_match(m.last_index, s.tick_count):
            s.commit_dirty = True
        if pr.mode is Mode.SNAPSHOT and pr.match_index >= pr.snapshot_index:
            pr.become_probe()
            s.needs_flush = True
        return
    if pr.mode is not Mode.SNAPSHOT or m.last_index != pr.snapshot_index:
        return  # an answer about a transfer we no longer run
    if m.next_offset == pr.snapshot_offset and m.next_offset != 0:
        return  # a duplicate answer; the chunk it asks for is already out
    pr.snapshot_offset = m.next_offset
    send_snapshot_chunk(s, frm, pr)


# -- follower ----------------------------------------------------------------


def handle_install_snapshot(s: RaftState, frm: str, m: InstallSnapshot) -> None:
    s.leader = frm
    s.election_elapsed = 0
    voters = tuple(m.voters)
    if (
        not all(valid_node_id(v) for v in voters)
        or m.offset < 0
        or m.last_index < 1
        or m.last_term < 1
        or m.last_term > m.term
    ):
        s.count("malformed_snapshot")
        return
    if m.last_index <= s.commit_index:
        # We already hold (committed) everything it covers.
        s.receiving = None
        s.send(frm, InstallSnapshotReply(s.term, m.last_index, 0, True))
        return
    receiving = s.receiving
    same = receiving is not None and (receiving.index, receiving.term) == (
        m.last_index,
        m.last_term,
    )
    if m.offset == 0:
        receiving = ReceivingSnapshot(m.last_index, m.last_term, voters, bytearray())
        s.receiving = receiving
    elif receiving is None or not same or m.offset != len(receiving.buffer):
        # Out of order (a lost or duplicated chunk): say where we are.
        wanted = len(receiving.buffer) if receiving is not None and same else 0
        s.send(frm, InstallSnapshotReply(s.term, m.last_index, wanted, False))
        return
    if len(receiving.buffer) + len(m.data) > s.cfg.max_snapshot_bytes:
        s.count("snapshot_too_large")
        s.receiving = None
        return
    receiving.buffer += m.data
    if not m.done:
        s.send(frm, InstallSnapshotReply(s.term, m.last_index, len(receiving.buffer), False))
        return
    s.receiving = None
    install(s, Snapshot(receiving.index, receiving.term, receiving.voters, bytes(receiving.buffer)))
    s.send(frm, InstallSnapshotReply(s.term, m.last_index, 0, True))


def install(s: RaftState, snapshot: Snapshot) -> None:
    """Replace log prefix and state machine with a snapshot from the leader (§7)."""
    kept = s.log.matches(snapshot.index, snapshot.term)
    s.log.restore(snapshot.index, snapshot.term)
    if not kept:
        s.membership.truncate_from(snapshot.index + 1)
    s.membership.rebase(snapshot.voters, snapshot.index)
    s.commit_index = snapshot.index
    s.applied_index = snapshot.index  # the caller restores its state machine from it
    s.snapshot = snapshot
    s.received_snapshot = snapshot
    s.compacted = None  # superseded: the received snapshot is newer
