"""Every node's holder loop: hold every chunk the metadata lists for this node.

The committed metadata says which nodes hold each chunk. This loop makes
it true on this node: a listed chunk that is missing here — the repair loop
just added this node, a placement change moved the chunk here, the scrubber
quarantined a corrupt copy, the disk was wiped — is fetched from another
listed replica (``ChunkGet`` → ``ChunkData``, verified), trying the next
one when a replica fails, and stored durably (``ChunkStored`` "repair" or
"rebalance").

It also tells the leader which chunks in transition (listed on more nodes
than the replication factor: an old and a new holder, waiting for a trim)
it holds (``ChunkHave``); the leader trims a list only when every desired
node has confirmed.

A round runs every ``HOLDER_ROUND_MS`` × time scale, and at once when a
file change is applied or a copy here was found corrupt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection

from cluster.core.files.meta import PlacementSettings
from cluster.core.files.plan import desired_replicas
from cluster.core.files.repair import in_transition
from cluster.core.raft import Role
from cluster.node.chunk_store import ChunkMismatch, NoSpace
from cluster.node.chunk_transfer import TransferFailed
from cluster.node.files_service import FilesService
from cluster.schema.files import ChunkHave
from cluster.schema.raft import Entry

log = logging.getLogger(__name__)

HOLDER_ROUND_MS = 1000.0
# Chunks fetched at once: a few transfers keep links and disks busy; more
# would only queue behind each other and hold their bytes in memory.
MAX_CONCURRENT_FETCHES = 4
# Hashes per ChunkHave message (the leader refuses bigger ones).
HAVE_BATCH = 1024
# Chunks remembered as lost here (quarantined): they are refetched as "repair".
MAX_LOST = 10_000

Confirm = Callable[[str, list[str]], None]


class ChunkHolder:
    def __init__(self, service: FilesService, confirm_locally: Confirm) -> None:
        self.service = service
        self.node = service.node
        self._confirm_locally = confirm_locally
        self._wake = asyncio.Event()
        self._lost: set[str] = set()
        service.driver.on_apply(self._on_apply)

    def lost(self, sha256: str) -> None:
        """This node's copy of ``sha256`` was found corrupt and moved away: refetch it."""
        if len(self._lost) < MAX_LOST:
            self._lost.add(sha256)
        self._wake.set()

    def _on_apply(self, _entry: Entry) -> None:
        if self.service.driver.kv.file_change is not None:
            self._wake.set()

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.node.clock.scaled_s(HOLDER_ROUND_MS))
            self._wake.clear()
            await self.round()

    async def round(self) -> None:
        service = self.service
        me = self.node.id
        placement = service.placement()
        voters = service.members()
        files = service.files()
        sources: dict[str, list[str]] = {}
        transition: set[str] = set()
        for meta in files:
            for chunk in meta.chunks:
                if me not in chunk.replicas:
                    continue
                known = sources.setdefault(chunk.sha256, [])
                known.extend(r for r in chunk.replicas if r != me and r not in known)
                if in_transition(chunk.replicas, placement, voters):
                    transition.add(chunk.sha256)
        held = set(await asyncio.to_thread(service.store.list))
        missing = sorted(s for s in sources if s not in held)
        if missing:
            fetched = await self._fetch_all(missing, sources, transition, placement, voters)
            held.update(fetched)
        self._lost &= set(sources)  # a chunk no longer listed here is no longer ours to heal
        self._report(sorted(transition & held))

    async def _fetch_all(
        self,
        missing: list[str],
        sources: dict[str, list[str]],
        transition: Collection[str],
        placement: PlacementSettings,
        voters: tuple[str, ...],
    ) -> list[str]:
        gate = asyncio.Semaphore(MAX_CONCURRENT_FETCHES)
        unreachable = self.service.unreachable()

        async def fetch(sha256: str) -> str | None:
            async with gate:
                # Reachable holders first; the rest are still worth a try.
                order = sorted(sources[sha256], key=lambda n: n in unreachable)
                reason = self._reason(sha256, sha256 in transition, placement, voters)
                return sha256 if await self._fetch(sha256, order, reason) else None

        results = await asyncio.gather(*(fetch(s) for s in missing))
        return [s for s in results if s is not None]

    def _reason(
        self,
        sha256: str,
        moving: bool,
        placement: PlacementSettings,
        voters: tuple[str, ...],
    ) -> str:
        """Why a chunk came here: "rebalance" when the placement moved it (a join, a
        strategy change); "repair" when a copy was lost or a down node is replaced."""
        if sha256 in self._lost or not moving:
            return "repair"
        wanted_anyway = self.node.id in desired_replicas(placement, voters, (), sha256)
        return "rebalance" if wanted_anyway else "repair"

    async def _fetch(self, sha256: str, order: list[str], reason: str) -> bool:
        transfers = self.service.transfers
        failures = []
        for source in order:
            try:
                data = await transfers.fetch_from(source, sha256)
            except TransferFailed as exc:
                failures.append(str(exc))
                continue
            try:
                await transfers.store_chunk(sha256, data, reason, verified=True)
            except (ChunkMismatch, NoSpace, OSError) as exc:
                log.warning("%s: cannot store chunk %s: %s", self.node.id, sha256[:12], exc)
                self.node.counters["files_fetch_store_failed"] += 1
                return False
            self._lost.discard(sha256)
            self.node.counters[f"files_fetched_{reason}"] += 1
            return True
        self.node.counters["files_fetch_failed"] += 1
        # Every round retries it: debug, or a dead source would flood the log.
        log.debug(
            "%s: chunk %s not fetched: %s",
            self.node.id,
            sha256[:12],
            "; ".join(failures) or "no other replica listed",
        )
        return False

    def _report(self, sha256s: list[str]) -> None:
        """ChunkHave to the leader for the chunks in transition held here."""
        raft = self.service.driver.raft
        leader = raft.leader
        if not sha256s or leader is None:
            return
        for start in range(0, len(sha256s), HAVE_BATCH):
            batch = sha256s[start : start + HAVE_BATCH]
            if leader == self.node.id and raft.role is Role.LEADER:
                self._confirm_locally(self.node.id, batch)
            else:
                self.node.send(leader, ChunkHave(batch))
