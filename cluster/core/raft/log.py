"""The replicated log in memory: entries after the last snapshot.

Index arithmetic lives here and nowhere else. The log starts after a
snapshot (§7) at ``snapshot_index``/``snapshot_term`` (0/0 for a fresh node);
``entries[k]`` has index ``snapshot_index + 1 + k``.

Terms in a Raft log never decrease, so "the last entry of term T" is a
binary search (used by fast back-off) rather than a scan.

The log also remembers which suffix has not yet been handed to the caller for
persistence (``unstable_from``) and which prefix is known to be durable
(``stable_index``): the leader may count itself towards a commit quorum only
for entries on its own disk.
"""

from __future__ import annotations

import bisect

from cluster.core.raft.types import RaftInvariantError
from cluster.schema.raft import Entry


def _term_of(entry: Entry) -> int:
    return entry.term


class RaftLog:
    __slots__ = ("entries", "snapshot_index", "snapshot_term", "stable_index", "unstable_from")

    def __init__(self, snapshot_index: int = 0, snapshot_term: int = 0) -> None:
        self.snapshot_index = snapshot_index
        self.snapshot_term = snapshot_term
        self.entries: list[Entry] = []
        # Everything <= stable_index is on disk; entries >= unstable_from have
        # not been returned in a Ready yet.
        self.stable_index = snapshot_index
        self.unstable_from = snapshot_index + 1

    # -- queries -------------------------------------------------------------

    def last_index(self) -> int:
        return self.snapshot_index + len(self.entries)

    def last_term(self) -> int:
        return self.entries[-1].term if self.entries else self.snapshot_term

    def first_index(self) -> int:
        """The first index still held as an entry (the one after the snapshot)."""
        return self.snapshot_index + 1

    def term_at(self, index: int) -> int | None:
        """Term of the entry at ``index``; None if compacted away or beyond the end."""
        if index == self.snapshot_index:
            return self.snapshot_term
        offset = index - self.snapshot_index - 1
        if offset < 0 or offset >= len(self.entries):
            return None
        return self.entries[offset].term

    def entry(self, index: int) -> Entry:
        return self.entries[index - self.snapshot_index - 1]

    def slice(self, first: int, last: int) -> list[Entry]:
        """Entries ``first..last`` inclusive (caller checks they are present)."""
        base = self.snapshot_index + 1
        return self.entries[first - base : last - base + 1]

    def matches(self, index: int, term: int) -> bool:
        return self.term_at(index) == term

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """§5.4.1: is a log ending at (last_index, last_term) at least as up-to-date as ours?"""
        my_term = self.last_term()
        return last_term > my_term or (last_term == my_term and last_index >= self.last_index())

    def last_index_of_term(self, term: int) -> int | None:
        """Largest index held with exactly ``term`` (fast back-off, leader side)."""
        position = bisect.bisect_right(self.entries, term, key=_term_of)
        if position > 0 and self.entries[position - 1].term == term:
            return self.snapshot_index + position
        if position == 0 and self.snapshot_term == term and term > 0:
            return self.snapshot_index
        return None

    def first_index_of_term(self, term: int) -> int:
        """Smallest index held with ``term`` (fast back-off, follower side).

        Only called for a term that the log holds; if the term reaches back
        into the snapshot, the first index after the snapshot is the answer.
        """
        position = bisect.bisect_left(self.entries, term, key=_term_of)
        return self.snapshot_index + 1 + position

    # -- changes -------------------------------------------------------------

    def append(self, entry: Entry) -> None:
        if entry.index != self.last_index() + 1:
            raise RaftInvariantError(f"append {entry.index} after {self.last_index()}")
        self.entries.append(entry)

    def truncate_from(self, index: int) -> None:
        """Drop entries ``index`` and after (§5.3: a conflicting suffix)."""
        if index <= self.snapshot_index:
            raise RaftInvariantError(f"truncate at {index} inside snapshot {self.snapshot_index}")
        del self.entries[index - self.snapshot_index - 1 :]
        self.unstable_from = min(self.unstable_from, index)
        self.stable_index = min(self.stable_index, index - 1)

    def compact_to(self, index: int) -> None:
        """Forget entries up to ``index``, now covered by a local snapshot (§7)."""
        term = self.term_at(index)
        if term is None:
            raise RaftInvariantError(f"compact to {index}, not in log")
        del self.entries[: index - self.snapshot_index]
        self.snapshot_index = index
        self.snapshot_term = term
        self.unstable_from = max(self.unstable_from, index + 1)
        self.stable_index = max(self.stable_index, index)

    def restore(self, index: int, term: int) -> None:
        """Install a snapshot from the leader (§7).

        If an entry at (index, term) is present, the entries after it are
        still valid and are kept; otherwise the whole log is discarded. Kept
        entries are marked unstable: the caller rewrites them after writing
        the snapshot, which keeps its storage contract simple.
        """
        if self.matches(index, term) and index >= self.snapshot_index:
            del self.entries[: index - self.snapshot_index]
        else:
            self.entries = []
        self.snapshot_index = index
        self.snapshot_term = term
        self.unstable_from = index + 1
        self.stable_index = index

    # -- persistence bookkeeping --------------------------------------------

    def take_unstable(self) -> list[Entry]:
        """Entries not yet handed out for persistence; marks them handed out."""
        first = self.unstable_from
        last = self.last_index()
        if first > last:
            return []
        self.unstable_from = last + 1
        return self.slice(first, last)

    def has_unstable(self) -> bool:
        return self.unstable_from <= self.last_index()

    def mark_stable(self, persisted: list[Entry]) -> None:
        """The caller made ``persisted`` durable; extend the durable prefix.

        Entries may have been replaced in memory meanwhile (a new leader
        overwrote them); only those still present with the same term count.
        """
        for entry in reversed(persisted):
            if self.term_at(entry.index) == entry.term:
                self.stable_index = max(self.stable_index, entry.index)
                return
