"""The scrubber: re-read every stored chunk now and then, and catch rot early.

A chunk is verified whenever it is read, but a chunk nobody reads could rot
unnoticed until the day its other copies are gone too. So each node walks
its own store, re-reads and re-hashes every chunk, at most
``files.scrub_mb_per_s`` (so clients keep the disk) — ZFS and HDFS call it
scrubbing. A chunk whose bytes no longer match its name is moved to
quarantine (``ChunkRemoved`` "corrupt"); the holder loop then fetches a good
copy from another replica (``ChunkStored`` "repair").

The pace is in scaled time (node.clock): slow motion scrubs slower too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from cluster.node.chunk_store import ChunkCorrupt
from cluster.node.files_service import FilesService

log = logging.getLogger(__name__)

BYTES_PER_MB = 1_000_000
# Pause after a whole pass over the store (× time scale): a small store is
# not re-read in a tight loop, a big one is walked continuously at the rate.
SCRUB_PASS_PAUSE_MS = 5000.0
# An empty store is looked at again after this long (× time scale).
SCRUB_IDLE_MS = 2000.0


class Scrubber:
    def __init__(self, service: FilesService, on_corrupt: Callable[[str], None]) -> None:
        self.service = service
        self.node = service.node
        self._on_corrupt = on_corrupt
        self.passes = 0

    async def run(self) -> None:
        clock = self.node.clock
        while True:
            scrubbed = await self.scrub_pass()
            self.passes += 1
            await clock.sleep(SCRUB_PASS_PAUSE_MS if scrubbed else SCRUB_IDLE_MS)

    async def scrub_pass(self) -> int:
        """Verify every chunk stored now, at the configured rate; how many were read."""
        store = self.service.store
        counters = self.node.counters
        read = 0
        for sha256 in await asyncio.to_thread(store.list):
            try:
                data = await store.read(sha256)
            except ChunkCorrupt as exc:
                log.warning("%s: scrub: %s", self.node.id, exc)
                counters["scrub_corrupt"] += 1
                await self.service.transfers.drop_corrupt(sha256)
                self._on_corrupt(sha256)
                continue
            except OSError as exc:
                counters["scrub_errors"] += 1
                log.warning("%s: scrub cannot read %s: %s", self.node.id, sha256[:12], exc)
                continue
            if data is None:
                continue  # deleted since the listing (garbage collection)
            read += 1
            counters["scrub_chunks"] += 1
            counters["scrub_bytes"] += len(data)
            rate_bytes_per_s = self.service.settings.scrub_mb_per_s * BYTES_PER_MB
            await self.node.clock.sleep(1000.0 * len(data) / rate_bytes_per_s)
        return read
