"""The leader's repair loop: keep every chunk on its desired nodes, through Raft.

Once a round (``REPAIR_ROUND_MS`` × time scale) the leader looks at the
committed file metadata and decides, with the pure planner
(cluster/core/files/repair.py), which replica lists to change:

* a voter it has not heard from for longer than ``files.repair_grace_s``
  (× time scale) is *down*: its chunks get another desired node;
* a membership or placement change (``PUT /placement``) gives chunks new
  desired nodes: they are rebalanced the same way, only those that moved.

A change is proposed as an ``fcas`` of the file's metadata, so it commits
only if nobody changed the file meanwhile (a concurrent delete or upload
wins; the next round plans again). Added nodes fetch the chunk themselves
(files_holder.py) and confirm with ``ChunkHave``; the confirmations are kept
here, for a limited time, and a list is trimmed only when every desired node
has confirmed. Liveness comes from Raft itself (``RaftDriver.silence_s``):
the leader hears from every live voter at every heartbeat.

``start_files_upkeep`` starts this loop and the ones every node runs: the
holder loop, the scrubber (files_scrub.py) and garbage collection
(files_gc.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from cluster.core.files.meta import FileMeta, is_sha256_hex
from cluster.core.files.repair import FileUpdate, plan_repair
from cluster.core.raft import Role
from cluster.node.files_gc import GarbageCollector
from cluster.node.files_holder import ChunkHolder
from cluster.node.files_scrub import Scrubber
from cluster.node.files_service import FilesError, FilesService
from cluster.schema.files import ChunkHave
from cluster.schema.messages import Envelope

log = logging.getLogger(__name__)

# One planning round per second (× time scale): a repair starts within a
# second of the grace period ending, and a round's metadata writes (a few
# fcas entries) are a trickle next to the Raft log's capacity.
REPAIR_ROUND_MS = 1000.0
# A holder's confirmation counts for this long (× time scale). Holders repeat
# theirs every round while a chunk waits for a trim, so only a copy lost
# since (corrupt, wiped disk) stops being counted after a while.
CONFIRMATION_TTL_MS = 15_000.0
# (node, chunk) confirmations kept: 64 bytes of hash each, so a few MiB at
# most; beyond it new ones are refused (counted) until old ones expire.
MAX_CONFIRMATIONS = 100_000
# Hashes one ChunkHave may carry (about 66 KB): a bigger one is malformed.
MAX_HAVE_PER_MESSAGE = 1024


@dataclass
class RepairStats:
    rounds: int = 0
    updates_committed: int = 0
    updates_lost: int = 0  # fcas mismatch: the file changed meanwhile
    replicas_added: int = 0
    replicas_trimmed: int = 0


class FilesRepair:
    """The leader's half of repair: plans rounds and collects ``ChunkHave``."""

    def __init__(self, service: FilesService) -> None:
        self.service = service
        self.node = service.node
        self.stats = RepairStats()
        # node → sha256 → monotonic seconds of its latest confirmation
        self._confirmed: dict[str, dict[str, float]] = {}
        self._confirmation_count = 0
        self.node.on(ChunkHave, self._on_have)

    # -- confirmations ----------------------------------------------------------

    def _on_have(self, env: Envelope) -> None:
        have = env.body
        assert isinstance(have, ChunkHave)
        if len(have.sha256s) > MAX_HAVE_PER_MESSAGE:
            self.node.counters["chunk_have_malformed"] += 1
            return
        self.confirm(env.src, have.sha256s)

    def confirm(self, holder: str, sha256s: list[str]) -> None:
        """``holder`` says it holds these chunks (a message, or this node itself)."""
        if self.service.driver.raft.role is not Role.LEADER:
            self.node.counters["chunk_have_not_leader"] += 1
            return
        now_s = time.monotonic()
        held = self._confirmed.setdefault(holder, {})
        for sha256 in sha256s:
            if not is_sha256_hex(sha256):
                self.node.counters["chunk_have_malformed"] += 1
                continue
            if sha256 not in held:
                if self._confirmation_count >= MAX_CONFIRMATIONS:
                    self.node.counters["chunk_have_refused"] += 1
                    continue
                self._confirmation_count += 1
            held[sha256] = now_s

    def confirmed(self) -> dict[str, set[str]]:
        """The confirmations still fresh, as the planner takes them; old ones are dropped."""
        ttl_s = CONFIRMATION_TTL_MS * self.node.clock.time_scale / 1000.0
        oldest_s = time.monotonic() - ttl_s
        fresh: dict[str, set[str]] = {}
        count = 0
        for holder, held in list(self._confirmed.items()):
            for sha256 in [s for s, at_s in held.items() if at_s < oldest_s]:
                del held[sha256]
            if not held:
                del self._confirmed[holder]
                continue
            fresh[holder] = set(held)
            count += len(held)
        self._confirmation_count = count
        return fresh

    # -- the loop -------------------------------------------------------------------

    async def run(self) -> None:
        clock = self.node.clock
        while True:
            await clock.sleep(REPAIR_ROUND_MS)
            if self.service.driver.raft.role is not Role.LEADER:
                # A new leader starts from fresh confirmations (holders repeat them).
                self._confirmed.clear()
                self._confirmation_count = 0
                continue
            await self.round()

    def down(self) -> set[str]:
        """Voters the leader has not heard from for longer than the grace period."""
        grace_s = self.service.settings.repair_grace_s * self.node.clock.time_scale
        return {v for v, silent_s in self.service.driver.silence_s().items() if silent_s > grace_s}

    async def round(self) -> None:
        """Plan one round from the committed metadata and propose its changes."""
        service = self.service
        kv = service.driver.kv
        files: dict[str, FileMeta] = {}
        packed: dict[str, bytes] = {}
        for name in kv.file_names():
            raw = kv.get_file(name)
            meta = service.file(name)
            if raw is not None and meta is not None:
                files[name], packed[name] = meta, raw
        self.stats.rounds += 1
        if not files:
            return
        down = self.down()
        plan = plan_repair(files, service.placement(), service.members(), down, self.confirmed())
        self.node.counters["files_repair_deferred"] = plan.deferred
        if not plan.updates:
            return
        for update in plan.updates:
            # A copy counts for a trim only if confirmed after the node was (re)added:
            # an older confirmation may predate its deletion by garbage collection.
            self._forget(_placements(update.before, update.after))
        results = await asyncio.gather(*(self._propose(u, packed[u.name]) for u in plan.updates))
        if any(results):
            log.info(
                "%s: repair round: %d files changed (down: %s, %d chunk changes deferred)",
                self.node.id,
                sum(results),
                ", ".join(sorted(down)) or "none",
                plan.deferred,
            )

    def _forget(self, placements: list[tuple[str, str]]) -> None:
        for node, sha256 in placements:
            held = self._confirmed.get(node)
            if held is not None and held.pop(sha256, None) is not None:
                self._confirmation_count -= 1

    async def _propose(self, update: FileUpdate, before: bytes) -> bool:
        try:
            await self.service.write_meta("fcas", update.name, update.after.pack(), before)
        except FilesError as exc:
            if exc.status == 409:
                self.stats.updates_lost += 1
            else:
                log.info("%s: repair of %r not committed: %s", self.node.id, update.name, exc)
            return False
        # Trimmed holders delete their copies: their confirmations mean nothing now.
        self._forget(_placements(update.after, update.before))
        self.stats.updates_committed += 1
        self.stats.replicas_added += update.added
        self.stats.replicas_trimmed += update.removed
        counters = self.node.counters
        counters["files_repair_added"] += update.added
        counters["files_repair_trimmed"] += update.removed
        return True


def _placements(before: FileMeta, after: FileMeta) -> list[tuple[str, str]]:
    """(node, sha256) listed in ``after`` but not in ``before``."""
    return [
        (node, new.sha256)
        for old, new in zip(before.chunks, after.chunks, strict=True)
        for node in new.replicas
        if node not in old.replicas
    ]


@dataclass
class FilesUpkeep:
    """Everything that keeps a node's chunks right, started together."""

    repair: FilesRepair
    holder: ChunkHolder
    scrubber: Scrubber
    gc: GarbageCollector


def start_files_upkeep(service: FilesService) -> FilesUpkeep:
    """Build and start repair, holder, scrubber and GC loops for ``service``'s node.

    Call once the event loop runs (after ``FilesService.start``); the loops
    are node tasks, cancelled when the node closes.
    """
    node = service.node
    repair = FilesRepair(service)
    gc = GarbageCollector(service)
    holder = ChunkHolder(service, repair.confirm)
    scrubber = Scrubber(service, holder.lost)
    node.spawn(repair.run(), "files-repair")
    node.spawn(holder.run(), "files-holder")
    node.spawn(scrubber.run(), "files-scrub")
    node.spawn(gc.run(), "files-gc")
    return FilesUpkeep(repair, holder, scrubber, gc)
