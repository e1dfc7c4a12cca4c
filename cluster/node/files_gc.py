"""Garbage collection: delete the chunk files no committed metadata wants here.

A chunk file on this node is garbage when no committed file lists this node
among the chunk's replicas. Two kinds, with different waits:

* a copy that *was* listed here and no longer is — the repair loop trimmed
  it after a move, or its file was deleted — goes after ``TRIMMED_GRACE_MS``
  (× time scale), so a download that read the old metadata can finish;
* a copy never seen listed here may belong to an upload still in progress
  (its metadata is committed only at the end), or to one cut off midway: it
  goes once its file is older than ``files.orphan_grace_s`` (× time scale).
  Storing a chunk that is already here refreshes its age (ChunkStore), so an
  upload re-using old bytes is protected too, also when those bytes were
  trimmed a moment before. A restarted node has seen
  nothing yet, so everything unlisted waits the orphan grace: the safe side.

Before each round the node makes its view of the metadata current with a
read barrier (Raft thesis §6.4): a node that is behind must not delete a
chunk the cluster has just listed for it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

from cluster.core.files.repair import listed_here
from cluster.node.clock import wall_ms
from cluster.node.files_service import FilesError, FilesService
from cluster.schema.raft import Entry
from cluster.schema.telemetry import ChunkRemoved

log = logging.getLogger(__name__)

GC_ROUND_MS = 5000.0
# A trimmed copy stays this long: a client that read the metadata before the
# trim may still be downloading from here (it would fail over anyway).
TRIMMED_GRACE_MS = 10_000.0
# Deletions per round: each is an unlink and a directory fsync on the disk
# clients use; a big clean-up spreads over rounds.
MAX_GC_DELETES_PER_ROUND = 256
# Chunks remembered as listed here, or as trimmed and waiting: a chunk name
# each. Beyond it the memory is dropped, and those copies wait the orphan grace.
MAX_REMEMBERED = 200_000


class GarbageCollector:
    def __init__(self, service: FilesService) -> None:
        self.service = service
        self.node = service.node
        self._listed_before: set[str] = set()
        # sha256 → monotonic seconds when a copy listed here stopped being listed
        self._unlisted_since_s: dict[str, float] = {}
        service.driver.on_apply(self._on_apply)

    def _on_apply(self, _entry: Entry) -> None:
        """Remember every chunk a file change lists here, as it is applied.

        Rounds read the listings only every GC_ROUND_MS: a copy uploaded or
        added and then trimmed between two rounds would otherwise look never
        listed, and wait the orphan grace (an hour) instead of the trimmed one.
        """
        change = self.service.driver.kv.file_change
        if change is None or change.op not in ("put", "replicas"):
            return
        meta = self.service.file(change.name)
        if meta is None or len(self._listed_before) >= MAX_REMEMBERED:
            return
        for chunk in meta.chunks:
            if self.node.id in chunk.replicas:
                self._listed_before.add(chunk.sha256)

    async def run(self) -> None:
        while True:
            await self.node.clock.sleep(GC_ROUND_MS)
            await self.round()

    async def round(self) -> int:
        """Delete what is garbage now; how many chunk files were deleted."""
        service = self.service
        try:
            await service.read_barrier()
        except FilesError:
            return 0  # no leader now: a stale view must not decide deletions
        ages_s = await asyncio.to_thread(self._ages_s)
        # From here to the choice, no await: the metadata seen is the one decided on.
        listed = set(listed_here(service.files(), self.node.id))
        garbage = self._choose(listed, ages_s)
        deleted = 0
        decided_at = service.driver.kv.applied_index
        for sha256 in garbage:
            if service.driver.kv.applied_index != decided_at:
                # Metadata changed while we were deleting: look again before each deletion.
                listed = set(listed_here(service.files(), self.node.id))
                decided_at = service.driver.kv.applied_index
            if sha256 in listed:
                continue
            try:
                removed = await service.store.delete(sha256)
            except OSError as exc:
                log.warning("%s: gc cannot delete %s: %s", self.node.id, sha256[:12], exc)
                continue
            self._unlisted_since_s.pop(sha256, None)
            if removed:
                deleted += 1
                self.node.counters["gc_chunks_deleted"] += 1
                self.node.emit(ChunkRemoved(self.node.id, wall_ms(), sha256, "gc"))
        if deleted:
            log.info("%s: gc deleted %d chunk files", self.node.id, deleted)
        return deleted

    def _choose(self, listed: set[str], ages_s: dict[str, float]) -> list[str]:
        """The stored chunks to delete now, and the bookkeeping for the next rounds."""
        # Slow motion stretches the graces; fast-forward never shortens them.
        scale = max(1.0, self.node.clock.time_scale)
        now_s = time.monotonic()
        since = self._unlisted_since_s
        for sha256 in self._listed_before - listed:
            since.setdefault(sha256, now_s)  # trimmed or deleted since the last round
        for sha256 in [s for s in since if s in listed or s not in ages_s]:
            del since[sha256]  # listed again, or the file is gone
        for sha256 in [s for s, at_s in since.items() if ages_s[s] < now_s - at_s]:
            # Stored again after it stopped being listed: an upload re-using these
            # bytes, whose metadata is not committed yet. It waits the orphan grace.
            del since[sha256]
        remembered = set(listed)  # the apply hook adds to it between rounds
        if len(since) + len(listed) > MAX_REMEMBERED:
            since.clear()
            remembered = set()
        self._listed_before = remembered
        trimmed_grace_s = TRIMMED_GRACE_MS * scale / 1000.0
        orphan_grace_s = self.service.settings.orphan_grace_s * scale
        garbage = []
        for sha256, age_s in sorted(ages_s.items()):
            if sha256 in listed:
                continue
            unlisted_at_s = since.get(sha256)
            if unlisted_at_s is not None:
                if now_s - unlisted_at_s >= trimmed_grace_s:
                    garbage.append(sha256)
            elif age_s >= orphan_grace_s:
                garbage.append(sha256)
        return garbage[:MAX_GC_DELETES_PER_ROUND]

    def _ages_s(self) -> dict[str, float]:
        """Seconds since each stored chunk file was last written (a worker thread)."""
        store = self.service.store
        now_s = time.time()
        ages: dict[str, float] = {}
        for sha256 in store.list():
            try:
                ages[sha256] = now_s - os.stat(store.path_of(sha256)).st_mtime
            except FileNotFoundError:
                continue
        return ages
