"""Log replication (§5.3) and the commitment rule (§5.4.2).

Leader side: for each follower, send AppendEntries from its ``next_index``;
probe one message at a time until the logs agree, then stream (pipelining,
bounded by ``max_inflight_appends``). Sending happens in ``flush``, once per
``ready()``, so every proposal made since the last Ready travels in one
batch: that is what lets one fsync and one message carry many writes.

Follower side: accept entries only if the log holds (prev_log_index,
prev_log_term) — the consistency check that gives Log Matching — delete a
conflicting suffix, append what is new, and learn the commit index.

When a follower refuses, it says which term it holds at the refused index
and where that term starts, so the leader skips a whole term per round trip
instead of one entry (the optimisation at the end of §5.3).
"""

from __future__ import annotations

from cluster.core.raft.progress import Mode, Progress
from cluster.core.raft.read_index import release_confirmed_reads
from cluster.core.raft.roles import become_follower
from cluster.core.raft.snapshot import send_snapshot_chunk
from cluster.core.raft.state import RaftState
from cluster.core.raft.types import Role
from cluster.schema.raft import AppendEntries, AppendEntriesReply, Entry, parse_entries

# -- leader: sending ---------------------------------------------------------


def flush(s: RaftState) -> None:
    """Leader: send whatever each follower is owed (called once per Ready)."""
    if s.role is not Role.LEADER:
        return
    if s.round_requested:
        # A new heartbeat round, so that pending ReadIndex requests can be confirmed.
        s.round += 1
        s.round_requested = False
        for peer, pr in s.progress.items():
            _send_heartbeat(s, peer, pr)
    if not s.needs_flush:
        return
    s.needs_flush = False
    for peer, pr in s.progress.items():
        _send_appends(s, peer, pr)


def _send_appends(s: RaftState, to: str, pr: Progress) -> None:
    log = s.log
    max_inflight = s.cfg.max_inflight_appends
    last = log.last_index()
    while pr.can_send(max_inflight):
        prev = pr.next_index - 1
        prev_term = log.term_at(prev)
        if prev_term is None:
            # §7: the entries this follower needs were compacted away.
            if s.snapshot is None:
                return
            pr.become_snapshot(s.snapshot.index, s.tick_count)
            send_snapshot_chunk(s, to, pr)
            return
        if pr.next_index > last:
            if pr.mode is Mode.PROBE:
                # Nothing new, but a probe still tells us where the follower stands.
                s.send(
                    to, AppendEntries(s.term, s.id, prev, prev_term, [], s.commit_index, s.round)
                )
                pr.paused = True
            elif min(s.commit_index, pr.match_index) > pr.commit_sent:
                _send_heartbeat(s, to, pr)  # tell it the new commit index
            return
        entries = _batch(s, pr.next_index, last)
        commit = s.commit_index
        s.send(to, AppendEntries(s.term, s.id, prev, prev_term, entries, commit, s.round))
        pr.commit_sent = max(pr.commit_sent, min(commit, entries[-1].index))
        if pr.mode is Mode.PROBE:
            pr.paused = True
        else:
            pr.next_index = entries[-1].index + 1
            pr.inflight.append(entries[-1].index)


def _batch(s: RaftState, first: int, last: int) -> list[Entry]:
    """Entries from ``first`` within the per-message entry and byte limits (at least one)."""
    last = min(last, first + s.cfg.max_entries_per_append - 1)
    entries = s.log.slice(first, last)
    budget = s.cfg.max_append_bytes
    for count, entry in enumerate(entries):
        budget -= len(entry.data)
        if budget < 0 and count > 0:
            return entries[:count]
    return entries


def _send_heartbeat(s: RaftState, to: str, pr: Progress) -> None:
    """An empty AppendEntries at the follower's known match point: it never
    conflicts, resets the follower's election timer and carries the commit
    index (capped at what the follower is known to hold) and the read round."""
    match = pr.match_index
    match_term = s.log.term_at(match)
    if match_term is None:
        # Compacted: index 0 always matches, and the follower answers with its commit.
        match, match_term = 0, 0
    commit = min(s.commit_index, match)
    s.send(to, AppendEntries(s.term, s.id, match, match_term, [], commit, s.round))
    pr.commit_sent = max(pr.commit_sent, commit)


def heartbeat(s: RaftState) -> None:
    """Leader, every heartbeat interval: keep followers quiet and retry what was lost."""
    progress_timeout_ticks = s.cfg.election_timeout_min_ticks
    for peer, pr in s.progress.items():
        if pr.mode is Mode.PROBE:
            pr.paused = False  # the probe or its answer may have been lost
        elif pr.mode is Mode.REPLICATE:
            stalled = s.tick_count - pr.last_ack_tick >= progress_timeout_ticks
            if pr.inflight and stalled:
                pr.become_probe()  # appends were lost: find the follower again
                pr.next_index = pr.match_index + 1
        elif s.tick_count - pr.snapshot_sent_tick >= progress_timeout_ticks:
            send_snapshot_chunk(s, peer, pr)  # a chunk or its answer was lost
        _send_heartbeat(s, peer, pr)
    s.needs_flush = True


# -- leader: answers ---------------------------------------------------------


def handle_append_reply(s: RaftState, frm: str, m: AppendEntriesReply) -> None:
    pr = s.progress.get(frm)
    if pr is None:
        return  # not a voter any more
    pr.recent_active = True
    if m.round > pr.round_acked:
        pr.round_acked = m.round
        release_confirmed_reads(s)
    if m.success:
        if pr.update_match(m.index, s.tick_count):
            s.commit_dirty = True
        if pr.mode is Mode.PROBE:
            pr.become_replicate()
        elif pr.mode is Mode.SNAPSHOT and pr.match_index >= pr.snapshot_index:
            pr.become_probe()
        s.needs_flush = True
        return
    # A refusal. A follower whose log is now shorter than what it acknowledged
    # lost its disk (the lab's wipe fault, docs/faults.md). Raft assumes storage
    # survives (Figure 2), so nothing else would ever notice: forget what it had
    # matched and find it again, from the log or the snapshot (§7). Lowering
    # match_index is always safe; it only delays commits.
    if pr.mode is not Mode.SNAPSHOT and m.conflict_term == 0 and m.conflict_index <= pr.match_index:
        pr.match_index = m.conflict_index - 1
        pr.become_probe()
        pr.next_index = m.conflict_index
        s.needs_flush = True
        return
    # Ignore stale refusals: answers to messages we have since superseded.
    if pr.mode is Mode.REPLICATE and m.index <= pr.match_index:
        return
    if pr.mode is Mode.PROBE and m.index != pr.next_index - 1:
        return
    if pr.mode is Mode.SNAPSHOT:
        return
    next_index = m.conflict_index
    if m.conflict_term > 0:
        last_of_term = s.log.last_index_of_term(m.conflict_term)
        if last_of_term is not None:
            next_index = last_of_term + 1
    pr.next_index = max(min(next_index, m.index), pr.match_index + 1)
    pr.become_probe()
    s.needs_flush = True


def maybe_commit(s: RaftState) -> None:
    """§5.4.2: commit the highest index held by a quorum, if it is of the current term.

    Entries of earlier terms are never committed by counting replicas
    (Figure 8 shows how that loses data); they become committed when an
    entry of the current term after them is.
    """
    if s.role is not Role.LEADER or not s.commit_dirty:
        return
    s.commit_dirty = False
    matches = sorted(
        (
            s.log.stable_index if voter == s.id else s.progress[voter].match_index
            for voter in s.voters
        ),
        reverse=True,
    )
    if not matches:
        return
    candidate = matches[s.quorum() - 1]
    if candidate <= s.commit_index or s.log.term_at(candidate) != s.term:
        return
    s.commit_index = candidate
    s.needs_flush = True  # followers learn the new commit index
    release_confirmed_reads(s)
    if s.id not in s.voters and s.membership.latest_index <= s.commit_index:
        # Thesis §4.2.2: a leader removed from the configuration steps down
        # once the change is committed; it led without counting itself.
        become_follower(s, s.term, None)


# -- follower ----------------------------------------------------------------


def handle_append_entries(s: RaftState, frm: str, m: AppendEntries) -> None:
    """§5.3 receiver implementation (Figure 2, AppendEntries RPC)."""
    s.leader = frm
    s.election_elapsed = 0
    entries = parse_entries(m.entries, m.prev_log_index + 1, m.term)
    if entries is None or m.prev_log_index < 0:
        s.count("malformed_append")
        return
    prev, prev_term = m.prev_log_index, m.prev_log_term
    if prev < s.commit_index:
        # Everything up to our commit index is committed, hence identical in
        # the leader's log (Leader Completeness): skip that part.
        skip = min(len(entries), s.commit_index - prev)
        entries = entries[skip:]
        prev += skip
        prev_term = s.log.term_at(prev) or 0
        if prev < s.commit_index:
            s.send(frm, AppendEntriesReply(s.term, True, s.commit_index, 0, 0, m.round))
            return
    local_term = s.log.term_at(prev)
    if local_term != prev_term:
        if local_term is None:
            conflict_term, conflict_index = 0, s.log.last_index() + 1
        else:
            conflict_term = local_term
            conflict_index = max(s.log.first_index_of_term(local_term), s.commit_index + 1)
        s.send(frm, AppendEntriesReply(s.term, False, prev, conflict_term, conflict_index, m.round))
        return
    _append_new(s, entries)
    last_new = prev + len(entries)
    if m.leader_commit > s.commit_index:
        # Figure 2: commit up to the last entry this message proved we share.
        s.commit_index = max(s.commit_index, min(m.leader_commit, last_new))
    s.send(frm, AppendEntriesReply(s.term, True, last_new, 0, 0, m.round))


def _append_new(s: RaftState, entries: list[Entry]) -> None:
    """Skip entries we already hold, truncate at the first conflict, append the rest."""
    log = s.log
    for position, entry in enumerate(entries):
        local_term = log.term_at(entry.index)
        if local_term == entry.term:
            continue
        if local_term is not None:
            s.truncate_log(entry.index)  # §5.3: delete the conflicting entry and all after it
        for new in entries[position:]:
            s.append_entry(new)
        return
