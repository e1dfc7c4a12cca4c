"""Repair and rebalance as a plan: which replica lists the leader should change now.

Every chunk has a *desired* set of holders (plan.py: the placement strategy
over the Raft voters, skipping nodes down longer than the grace period) and
a *listed* set (its ``replicas`` in the committed metadata). Repair, a
placement change and a membership change are all the same job: make the
listed set equal to the desired set, without ever losing the last copy.
It happens in two steps, as HDFS does it:

1. **Add.** A desired node that is not listed is appended to the list. The
   metadata now says that node *should* hold the chunk; the node's holder
   loop sees it, fetches the bytes from another listed replica and tells
   the leader (``ChunkHave``) that it holds them.
2. **Trim.** Once *every* desired node has confirmed that it holds the
   chunk, the list is cut to the desired set; nodes no longer listed delete
   their copy later (garbage collection).

A node is only removed by a trim, a trim keeps the desired nodes, and all of
them have confirmed: so a plan never leaves a chunk with fewer confirmed
copies than it asks for, and never drops the last live copy. When too few
nodes are up to reach the replication factor, nothing is trimmed: a copy on
a node that is down may be all that survives if another node fails.

This module decides only; the leader's shell (cluster/node/files_repair.py)
proposes each ``FileUpdate`` as an ``fcas`` (replace the metadata only if it
is still what we read), so a plan computed from a stale view simply loses.
It is deterministic: the same inputs give the same plan on any machine.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from cluster.core.files.meta import MAX_REPLICAS_PER_CHUNK, FileMeta, PlacementSettings
from cluster.core.files.plan import desired_replicas, effective_rf

# Replica-list changes (one chunk's list, added to or trimmed) per repair
# round. Each addition makes one node fetch a chunk of up to 4 MiB, so this
# bounds the copying a round starts, and the metadata written through Raft:
# under-replicated chunks go first, the rest waits for the next rounds.
MAX_CHUNK_CHANGES_PER_ROUND = 64


@dataclass(frozen=True, slots=True)
class FileUpdate:
    """Replace ``before`` (the committed metadata) by ``after``: an ``fcas``."""

    name: str
    before: FileMeta
    after: FileMeta
    added: int  # (chunk, node) placements added: copies the holders will fetch
    removed: int  # (chunk, node) placements trimmed: copies that become garbage


@dataclass(frozen=True, slots=True)
class RepairPlan:
    updates: list[FileUpdate]
    deferred: int  # chunk changes left for a later round (over the per-round limit)


@dataclass(frozen=True, slots=True)
class _Change:
    """One chunk's new replica list, with what decides its turn."""

    priority: tuple[int, int, str, int]  # (kind, live copies, file name, chunk index)
    name: str
    index: int
    replicas: list[str]
    added: int
    removed: int


ADD, TRIM = 0, 1  # adds before trims: copies first, cleaning up after


def plan_repair(
    files: Mapping[str, FileMeta],
    settings: PlacementSettings,
    voters: Sequence[str],
    down: Collection[str],
    confirmed: Mapping[str, Collection[str]],
    max_chunk_changes: int = MAX_CHUNK_CHANGES_PER_ROUND,
) -> RepairPlan:
    """The replica-list changes to propose this round.

    ``files``: the committed metadata by name; ``voters``: the Raft voters in
    configuration order; ``down``: nodes not heard from for longer than the
    grace period; ``confirmed``: node → the sha256s it reported holding.
    """
    if max_chunk_changes < 0:
        raise ValueError(f"max_chunk_changes must be >= 0, got {max_chunk_changes}")
    if not voters:
        return RepairPlan([], 0)
    rf = effective_rf(settings, voters)
    changes: list[_Change] = []
    for name in sorted(files):
        meta = files[name]
        for index, chunk in enumerate(meta.chunks):
            desired = desired_replicas(settings, voters, down, chunk.sha256)
            change = _chunk_change(
                name, index, chunk.sha256, chunk.replicas, desired, rf, down, confirmed
            )
            if change is not None:
                changes.append(change)
    changes.sort(key=lambda c: c.priority)
    chosen = changes[:max_chunk_changes]
    return RepairPlan(_by_file(files, chosen), len(changes) - len(chosen))


def _chunk_change(
    name: str,
    index: int,
    sha256: str,
    listed: list[str],
    desired: list[str],
    rf: int,
    down: Collection[str],
    confirmed: Mapping[str, Collection[str]],
) -> _Change | None:
    if not desired:
        return None  # no member is up: nothing can be copied anywhere
    live = sum(1 for node in listed if node not in down)
    missing = [node for node in desired if node not in listed]
    if missing:
        replicas = list(listed)
        room = MAX_REPLICAS_PER_CHUNK - len(replicas)
        if room < len(missing):
            # A list full of old holders (several changes in a row before a trim):
            # nodes down past the grace period hold no copy anyone can read, so
            # they make room; a live holder is never dropped to make room.
            replicas = [node for node in replicas if node not in down]
            room = MAX_REPLICAS_PER_CHUNK - len(replicas)
        replicas.extend(missing[: max(0, room)])
        if replicas == listed:
            return None
        added = sum(1 for node in replicas if node not in listed)
        removed = sum(1 for node in listed if node not in replicas)
        return _Change((ADD, live, name, index), name, index, replicas, added, removed)
    extra = [node for node in listed if node not in desired]
    if not extra or len(desired) < rf:
        # Nothing to trim, or too few nodes up to reach rf: keep every copy.
        return None
    if not all(sha256 in confirmed.get(node, ()) for node in desired):
        return None  # a desired node has not got its copy yet
    return _Change((TRIM, live, name, index), name, index, list(desired), 0, len(extra))


def _by_file(files: Mapping[str, FileMeta], chosen: Iterable[_Change]) -> list[FileUpdate]:
    """Group chunk changes into one ``fcas`` per file, in name order."""
    grouped: dict[str, list[_Change]] = {}
    for change in chosen:
        grouped.setdefault(change.name, []).append(change)
    updates = []
    for name in sorted(grouped):
        before = files[name]
        group = grouped[name]
        after = before.with_replicas({c.index: c.replicas for c in group})
        updates.append(
            FileUpdate(
                name,
                before,
                after,
                sum(c.added for c in group),
                sum(c.removed for c in group),
            )
        )
    return updates


def in_transition(
    replicas: Sequence[str], settings: PlacementSettings, voters: Sequence[str]
) -> bool:
    """Does a chunk listing ``replicas`` wait for a trim (more holders than rf)?

    Its holders report it with ``ChunkHave`` until the leader trims the list:
    a trim needs every desired node's confirmation, and a new leader starts
    without any.
    """
    return bool(voters) and len(replicas) > effective_rf(settings, voters)


def listed_here(files: Iterable[FileMeta], node: str) -> dict[str, list[str]]:
    """sha256 → the replicas listed with it, for every chunk ``node`` should hold.

    A chunk in several files (identical content) is listed once per file;
    the holders of all of them count as sources.
    """
    found: dict[str, list[str]] = {}
    for meta in files:
        for chunk in meta.chunks:
            if node in chunk.replicas:
                sources = found.setdefault(chunk.sha256, [])
                sources.extend(r for r in chunk.replicas if r not in sources)
    return found


def referenced(files: Iterable[FileMeta]) -> set[str]:
    """Every sha256 some committed file uses (whoever holds it)."""
    return {chunk.sha256 for meta in files for chunk in meta.chunks}
