"""Who votes: the configuration of the cluster, changed one server at a time.

Thesis §4.1: a server uses the latest configuration in its log, committed or
not, from the moment the entry is appended. Adding or removing a single
server keeps every old majority and every new majority overlapping, so no
joint consensus is needed, provided only one change is in flight at a time.

This module tracks the configuration entries present in the log (and the one
in the snapshot) so that the current configuration can be found again when a
conflicting suffix is truncated, and the configuration as of any index can be
recorded in a snapshot.
"""

from __future__ import annotations

import bisect


def quorum_size(voter_count: int) -> int:
    """A majority; 1 for a single voter (a cluster of one commits alone)."""
    return voter_count // 2 + 1


class Membership:
    """Configurations in the log, oldest first, above a base from the snapshot."""

    __slots__ = ("_base", "_base_index", "_indexes", "_voters_list")

    def __init__(self, base_voters: tuple[str, ...], base_index: int = 0) -> None:
        self._base = base_voters
        self._base_index = base_index
        self._indexes: list[int] = []
        self._voters_list: list[tuple[str, ...]] = []

    @property
    def voters(self) -> tuple[str, ...]:
        return self._voters_list[-1] if self._voters_list else self._base

    @property
    def latest_index(self) -> int:
        """Index of the entry that set the current configuration (base index if none)."""
        return self._indexes[-1] if self._indexes else self._base_index

    def add(self, index: int, voters: tuple[str, ...]) -> None:
        """A configuration entry was appended at ``index``: it takes effect now."""
        self._indexes.append(index)
        self._voters_list.append(voters)

    def truncate_from(self, index: int) -> None:
        """Entries from ``index`` on were removed from the log: forget their configs."""
        cut = bisect.bisect_left(self._indexes, index)
        del self._indexes[cut:]
        del self._voters_list[cut:]

    def voters_at(self, index: int) -> tuple[str, ...]:
        """The configuration in force at log position ``index`` (for a snapshot)."""
        position = bisect.bisect_right(self._indexes, index)
        return self._voters_list[position - 1] if position else self._base

    def compact_to(self, index: int) -> None:
        """A snapshot now covers ``index``: fold older configurations into the base."""
        self._base = self.voters_at(index)
        self._base_index = max(self._base_index, self._config_index_at(index))
        cut = bisect.bisect_right(self._indexes, index)
        del self._indexes[:cut]
        del self._voters_list[:cut]

    def rebase(self, base_voters: tuple[str, ...], base_index: int) -> None:
        """A snapshot from the leader now covers ``base_index`` with ``base_voters``.

        Configurations after it stay (their entries were kept in the log).
        """
        cut = bisect.bisect_right(self._indexes, base_index)
        del self._indexes[:cut]
        del self._voters_list[:cut]
        self._base = base_voters
        self._base_index = base_index

    def _config_index_at(self, index: int) -> int:
        position = bisect.bisect_right(self._indexes, index)
        return self._indexes[position - 1] if position else self._base_index
