"""Raft's safety properties (Figure 3 of the paper), checked while the simulation runs.

* Election Safety: at most one leader per term.
* Log Matching: if two logs hold an entry with the same index and term, the
  logs are identical up to that index.
* Leader Completeness: an entry committed in a term is in the log of every
  leader of a higher term.
* State Machine Safety: no two nodes apply different entries at one index;
  committed entries are never lost or changed.

Checks are incremental, so they can run after every step: each entry a node
appends is compared with the first entry ever seen at that (index, term),
including the term of the entry before it (by induction that gives Log
Matching across all logs); each applied entry is compared with the global
committed log. ``check_logs_pairwise`` is the slow, direct form of Log
Matching, run now and then as a cross-check of the fast one.
"""

from __future__ import annotations

from cluster.core.raft import RaftNode, Ready, Role
from cluster.schema.raft import Entry


class InvariantViolation(AssertionError):
    def __init__(self, name: str, detail: str) -> None:
        super().__init__(f"{name}: {detail}")
        self.name = name
        self.detail = detail


class Invariants:
    def __init__(self) -> None:
        self.leader_of_term: dict[int, str] = {}
        # (index, term) -> (kind, data, term of the previous entry)
        self.seen_entries: dict[tuple[int, int], tuple[int, bytes, int]] = {}
        # index -> the entry committed there (from what nodes apply and install)
        self.committed: dict[int, Entry] = {}
        self.committed_terms: dict[int, int] = {}  # also snapshot points (index -> term)
        self.max_committed = 0
        self.checked_leaders: set[tuple[str, int]] = set()
        self.current_leaders: dict[str, RaftNode] = {}

    # -- after each Ready ---------------------------------------------------

    def on_ready(self, node_id: str, raft: RaftNode, rd: Ready) -> None:
        if rd.snapshot is not None:
            self._check_committed_point(node_id, rd.snapshot.index, rd.snapshot.term, "snapshot")
        previous_term: int | None = None
        for entry in rd.entries:
            if previous_term is None:
                previous_term = raft.log.term_at(entry.index - 1)
                if previous_term is None:
                    raise InvariantViolation(
                        "log_matching", f"{node_id} appended {entry.index} after a gap"
                    )
            key = (entry.index, entry.term)
            known = self.seen_entries.get(key)
            mine = (entry.kind, entry.data, previous_term)
            if known is None:
                self.seen_entries[key] = mine
            elif known != mine:
                raise InvariantViolation(
                    "log_matching",
                    f"{node_id} holds a different entry at index {entry.index} term {entry.term}"
                    f" (kind/data/previous term {mine[0]}/{mine[1]!r}/{mine[2]}"
                    f" vs {known[0]}/{known[1]!r}/{known[2]})",
                )
            previous_term = entry.term
        for entry in rd.committed_entries:
            self._check_applied(node_id, entry)

    def _check_applied(self, node_id: str, entry: Entry) -> None:
        known = self.committed.get(entry.index)
        if known is None:
            self._check_committed_point(node_id, entry.index, entry.term, "apply")
            self.committed[entry.index] = entry
            if entry.index > self.max_committed:
                self.max_committed = entry.index
            self._check_current_leaders_have(entry.index, entry.term)
        elif known != entry:
            raise InvariantViolation(
                "state_machine_safety",
                f"{node_id} applied {entry.text()} at index {entry.index},"
                f" but {known.text()} was applied there before",
            )

    def _check_committed_point(self, node_id: str, index: int, term: int, what: str) -> None:
        known = self.committed_terms.get(index)
        if known is None:
            self.committed_terms[index] = term
        elif known != term:
            raise InvariantViolation(
                "state_machine_safety",
                f"{node_id} {what}: index {index} committed in term {term}, before in term {known}",
            )

    # -- after each step ------------------------------------------------------

    def check_leaders(self, nodes: dict[str, RaftNode]) -> None:
        self.current_leaders = {nid: r for nid, r in nodes.items() if r.role is Role.LEADER}
        for node_id, raft in self.current_leaders.items():
            term = raft.term
            other = self.leader_of_term.setdefault(term, node_id)
            if other != node_id:
                raise InvariantViolation(
                    "election_safety", f"{other} and {node_id} are both leaders of term {term}"
                )
            if (node_id, term) not in self.checked_leaders:
                self.checked_leaders.add((node_id, term))
                self._check_leader_complete(node_id, raft)

    def _check_leader_complete(self, node_id: str, raft: RaftNode) -> None:
        """Leader Completeness for a new leader: it holds every entry committed so far."""
        log = raft.log
        for index, term in self.committed_terms.items():
            if index < log.snapshot_index:
                continue  # covered by its snapshot, which was checked when it was taken
            if log.term_at(index) != term:
                raise InvariantViolation(
                    "leader_completeness",
                    f"{node_id} leads term {raft.term} without committed entry {index}/t{term}",
                )

    def _check_current_leaders_have(self, index: int, term: int) -> None:
        """An entry just seen committed must be in every current leader of a later term."""
        for node_id, raft in self.current_leaders.items():
            covered = raft.term > term and index >= raft.log.snapshot_index
            if covered and raft.log.term_at(index) != term:
                raise InvariantViolation(
                    "leader_completeness",
                    f"{node_id} leads term {raft.term} without committed entry {index}/t{term}",
                )


def check_logs_pairwise(nodes: dict[str, RaftNode]) -> None:
    """Log Matching, checked directly on every pair of logs (slow; run now and then)."""
    items = sorted(nodes.items())
    for a_pos, (a_id, a) in enumerate(items):
        for b_id, b in items[a_pos + 1 :]:
            first = max(a.log.first_index(), b.log.first_index())
            last = min(a.log.last_index(), b.log.last_index())
            # The highest index where both hold the same term...
            agree = 0
            for index in range(last, first - 1, -1):
                if a.log.term_at(index) == b.log.term_at(index):
                    agree = index
                    break
            # ...and everything below it must be the same entry.
            for index in range(first, agree + 1):
                if a.log.entry(index) != b.log.entry(index):
                    raise InvariantViolation(
                        "log_matching",
                        f"{a_id} and {b_id} agree at {agree} but differ at {index}:"
                        f" {a.log.entry(index).text()} vs {b.log.entry(index).text()}",
                    )
