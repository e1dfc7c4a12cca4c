"""Runs the pure Raft core inside a node process: ticks, messages, disk, apply.

The core (cluster/core/raft) decides everything and touches nothing; this
driver is its hands. It

* ticks it every ``tick_ms × time_scale`` (10 ms by default: with the core's
  15–30 tick election timeout that is Raft's usual 150–300 ms);
* steps every Raft message the node receives;
* carries out each ``Ready`` in the order its contract demands
  (docs/raft-core.md): write and **fsync before sending**, then send, then
  apply committed entries to the key-value store, then answer reads, then
  ``advance``;
* compacts the log into a snapshot when the core says it is due (§7).

The fsync runs in a worker thread, so the event loop keeps receiving
messages and client requests while the disk works. They reach the core
between ``ready()`` and ``advance()``, which the contract allows, and
leave in the next Ready: everything that arrived during one fsync shares
the next one and the next AppendEntries (group commit and batching, where
the throughput comes from).

Clients of the driver (the KV service) get asyncio futures: a proposal
resolves when its entry is applied, a read index when the leader confirms
it, an applied-index wait when the state machine gets there.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from cluster.core.kv import FILE_OPS, KvResult, KvStore, decode_command
from cluster.core.raft import (
    Accepted,
    NotLeader,
    Proposed,
    RaftNode,
    Ready,
    Refused,
    Role,
    Snapshot,
)
from cluster.node.clock import LazyTicker, sleep_to_grid, wall_ms
from cluster.node.log_reporter import LogReporter
from cluster.node.node import Node
from cluster.node.raft_storage import RaftStorage
from cluster.schema.messages import Envelope
from cluster.schema.raft import (
    ENTRY_CONFIG,
    ENTRY_NOOP,
    ENTRY_NORMAL,
    RAFT_MESSAGE_TYPES,
    Entry,
    decode_voters,
)
from cluster.schema.telemetry import RaftState, SnapshotSaved

log = logging.getLogger(__name__)

# RaftState telemetry: at once on a role/term/leader change, otherwise at most
# this often, which is smooth enough for the election-timer bar on the page.
STATE_REPORT_INTERVAL_MS = 100.0
# Characters of a key or value shown in an entry's text on the dashboard.
ENTRY_TEXT_CHARS = 24
# Proposals waiting for their entry to be applied; beyond it the client is
# refused at once. The core refuses beyond 50 000 uncommitted entries anyway.
MAX_WAITING_PROPOSALS = 50_000
# Linearizable reads waiting for a read index, and waits for an applied index.
MAX_WAITING_READS = 4096
# A ticker this many ticks behind its plan was stalled (clock.LazyTicker.catch_up).
MAX_TICKS_LATE = 5
# How often proposals past their deadline are failed. One sweep instead of a
# timer per write: at thousands of writes a second the timers cost more.
DEADLINE_SWEEP_S = 0.1


class ProposalTimeout(Exception):
    """The proposal was not applied by its deadline; it may still commit later."""


class ProposalFailed(Exception):
    """The proposal will not commit here: not the leader, refused, or leadership lost.

    ``retry`` says whether trying again (possibly at another node) may work.
    """

    def __init__(self, reason: str, retry: bool, leader_hint: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry
        self.leader_hint = leader_hint


@dataclass(frozen=True, slots=True)
class Committed:
    """A proposal's entry was applied at ``index`` in ``term``; ``result`` for KV writes."""

    index: int
    term: int
    result: KvResult | None


class RaftDriver:
    def __init__(
        self,
        node: Node,
        raft: RaftNode,
        storage: RaftStorage,
        kv: KvStore,
        tick_ms: int,
        fsync_mode: str,
    ) -> None:
        self.node = node
        self.raft = raft
        self.storage = storage
        self.kv = kv
        self.tick_ms = tick_ms
        self.fsync_mode = fsync_mode
        self._kick = asyncio.Event()
        # One thread: Readies are persisted strictly one after another.
        self._disk = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{node.id}-raft-disk")
        self._proposals: dict[int, tuple[int, asyncio.Future[Committed]]] = {}
        # (deadline in loop time, index, future) of every proposal, earliest first.
        # A resolved one stays until its deadline passes: at most a request
        # timeout's worth of proposals (15 000 at 3 000 writes/s).
        self._deadlines: list[tuple[float, int, asyncio.Future[Committed]]] = []
        self._read_ids = itertools.count(1)
        self._reads: dict[int, asyncio.Future[int]] = {}
        # (index, tie-breaker, future): resolved once kv.applied_index >= index.
        self._applied_waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._waiter_ids = itertools.count()
        self._leader_changed = asyncio.Event()
        self._state_dirty = True
        self._last_state: tuple[Any, ...] | None = None
        self._apply_hooks: list[Callable[[Entry], None]] = []
        self._ticker = LazyTicker(
            node.clock,
            tick_ms,
            self._tick,
            raft.ticks_until_due,
            MAX_TICKS_LATE,
            # hold-and-step: no timeout fires while delivery is held (hold.py)
            frozen=lambda: node.timers_frozen,
        )
        self._leader_hooks: list[Callable[[], None]] = []
        self._log_reporter = LogReporter(node.id, node.emit, entry_text)
        # Monotonic seconds of the last Raft message from each node, and since
        # when we lead: file repair asks how long the leader has not heard
        # from a voter (``silence_s``) to decide that it is down.
        self._heard_s: dict[str, float] = {}
        self._leading_since_s = time.monotonic()
        self._last_role: Role | None = None
        for message_type in RAFT_MESSAGE_TYPES:
            node.on(message_type, self._on_message)

    # -- inputs from the node ---------------------------------------------------

    def _on_message(self, env: Envelope) -> None:
        self._heard_s[env.src] = time.monotonic()
        self.catch_up_ticks()
        self.raft.step(env.src, env.body)
        self._kick.set()
        self._replan_ticks()

    def silence_s(self) -> dict[str, float]:
        """Seconds since this node last heard a Raft message from each other voter.

        Counted at most from when it became leader, and for a voter never
        heard from, from the first time it is asked about (a node that just
        joined): silence is only measured while we could have heard it.
        """
        now_s = time.monotonic()
        since_s = self._leading_since_s
        heard = self._heard_s
        silence = {}
        for voter in self.raft.voters:
            if voter != self.node.id:
                heard_s = heard.setdefault(voter, now_s)
                silence[voter] = now_s - max(heard_s, since_s)
        return silence

    def propose(self, data: bytes, timeout_s: float) -> asyncio.Future[Committed]:
        """Propose a KV command; the future resolves when it is applied, or fails
        (ProposalFailed; ProposalTimeout after ``timeout_s``)."""
        self.catch_up_ticks()
        return self._track(self.raft.propose(data), timeout_s)

    def propose_membership(
        self, action: str, node_id: str, timeout_s: float
    ) -> asyncio.Future[Committed]:
        """Thesis §4: add or remove one voter; resolves when the change is applied."""
        self.catch_up_ticks()
        future = self._track(self.raft.propose_membership(action, node_id), timeout_s)
        self._replan_ticks()
        return future

    def _track(
        self, result: Proposed | NotLeader | Refused, timeout_s: float
    ) -> asyncio.Future[Committed]:
        future: asyncio.Future[Committed] = asyncio.get_running_loop().create_future()
        if isinstance(result, NotLeader):
            future.set_exception(ProposalFailed("not the leader", True, result.leader_hint))
        elif isinstance(result, Refused):
            future.set_exception(ProposalFailed(result.reason, False))
        elif len(self._proposals) >= MAX_WAITING_PROPOSALS:
            future.set_exception(ProposalFailed("too many proposals waiting", True))
        else:
            self._proposals[result.index] = (result.term, future)
            deadline_s = asyncio.get_running_loop().time() + timeout_s
            heapq.heappush(self._deadlines, (deadline_s, result.index, future))
            self._kick.set()
        return future

    def read_index(self) -> asyncio.Future[int]:
        """§6.4: a read index confirmed by a quorum (forwarded to the leader by a follower)."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        if len(self._reads) >= MAX_WAITING_READS:
            future.set_exception(ProposalFailed("too many reads waiting", True))
            return future
        request_id = next(self._read_ids)
        self.catch_up_ticks()
        result = self.raft.read_index(request_id)
        if isinstance(result, Accepted):
            self._reads[request_id] = future
            future.add_done_callback(lambda _f: self._reads.pop(request_id, None))
            self._kick.set()
        elif isinstance(result, NotLeader):
            future.set_exception(ProposalFailed("no leader", True, result.leader_hint))
        else:
            future.set_exception(ProposalFailed(result.reason, True))
        return future

    async def wait_applied(self, index: int) -> None:
        """Return once the state machine has applied ``index``."""
        if self.kv.applied_index >= index:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._applied_waiters, (index, next(self._waiter_ids), future))
        await future

    async def leader_changed(self) -> None:
        """Wait for the next change of role, term or leader."""
        await self._leader_changed.wait()

    def on_leader_change(self, hook: Callable[[], None]) -> None:
        """Call ``hook()`` after every change of role, term, leader or voters."""
        self._leader_hooks.append(hook)

    def on_apply(self, hook: Callable[[Entry], None]) -> None:
        """Call ``hook(entry)`` for every entry applied (membership watchers, tests)."""
        self._apply_hooks.append(hook)

    # -- background tasks -----------------------------------------------------

    async def run_ticks(self) -> None:
        """Tick the core every ``tick_ms × time_scale``, waking only when a tick matters.

        Most ticks only count (an idle follower's election timer, a leader's
        time to its next heartbeat), so the ticker (clock.LazyTicker) sleeps
        through them and delivers them late, before any other input reaches
        the core: an idle leader wakes once per heartbeat instead of every
        10 ms, an idle follower hardly ever.
        """
        await self._ticker.run()

    def catch_up_ticks(self) -> None:
        """Deliver every tick due by now; called before any other input to the core."""
        self._ticker.catch_up()

    def _tick(self) -> None:
        raft = self.raft
        raft.tick()
        # Most ticks change nothing to persist or send; waking the Ready loop
        # for them would cost a turn of the event loop each.
        if raft.has_ready():
            self._kick.set()

    def _replan_ticks(self) -> None:
        self._ticker.replan()

    async def run_ready(self) -> None:
        """The Ready loop: persist → fsync → send → apply → answer reads → advance."""
        loop = asyncio.get_running_loop()
        raft = self.raft
        while True:
            await self._kick.wait()
            self._kick.clear()
            self.catch_up_ticks()
            while raft.has_ready():
                rd = raft.ready()
                if rd.must_sync:
                    if self.storage.fsync:
                        await loop.run_in_executor(self._disk, self.storage.save, rd)
                    else:
                        self.storage.save(rd)
                self._carry_out(rd)
                raft.advance(rd)
                if raft.compaction_due:
                    self._compact()
                self.catch_up_ticks()  # the fsync took time: the ticks due in it come first
            self._replan_ticks()  # e.g. a new leader heartbeats within 3 ticks

    async def run_deadlines(self) -> None:
        """Fail proposals still waiting at their deadline (their outcome is unknown)."""
        loop = asyncio.get_running_loop()
        deadlines = self._deadlines
        while True:
            await sleep_to_grid(DEADLINE_SWEEP_S)
            now_s = loop.time()
            while deadlines and deadlines[0][0] <= now_s:
                _, index, future = heapq.heappop(deadlines)
                if not future.done():
                    future.set_exception(ProposalTimeout(f"entry {index} not applied in time"))
                    waiting = self._proposals.get(index)
                    if waiting is not None and waiting[1] is future:
                        del self._proposals[index]

    async def run_reports(self) -> None:
        """RaftState telemetry at most every STATE_REPORT_INTERVAL_MS when something changed."""
        while True:
            await sleep_to_grid(STATE_REPORT_INTERVAL_MS / 1000.0)
            self.catch_up_ticks()  # the election timer the page shows is current
            self._report_state(force=False)

    def close(self) -> None:
        self._disk.shutdown(wait=True)
        self.storage.close()

    # -- carrying out a Ready -------------------------------------------------

    def _carry_out(self, rd: Ready) -> None:
        node = self.node
        if rd.snapshot is not None:
            node.emit(_snapshot_saved(node.id, rd.snapshot, "leader"))
        if rd.compacted is not None:
            node.emit(_snapshot_saved(node.id, rd.compacted, "compact"))
        if rd.entries:
            self._log_reporter.appended(rd.entries)
            node.counters["raft_entries_written"] += len(rd.entries)
        if rd.must_sync:
            node.counters["raft_readies_synced"] += 1
        # 6. Send (after the fsync above).
        send = node.send
        for destination, message in rd.messages:
            send(destination, message)
        # 7. A snapshot from the leader replaces the state machine.
        if rd.snapshot is not None:
            self.kv = KvStore.restore(rd.snapshot.data)
        # 8. Apply.
        if rd.committed_entries:
            self._apply(rd.committed_entries)
        # 9. Reads.
        for read_state in rd.read_states:
            future = self._reads.pop(read_state.request_id, None)
            if future is None or future.done():
                continue
            if read_state.ok:
                future.set_result(read_state.read_index)
            else:
                future.set_exception(ProposalFailed("leadership lost during the read", True))
        self._release_applied_waiters()
        if rd.soft_state is not None:
            self._on_soft_state(rd.soft_state.role)
        self._state_dirty = True

    def _apply(self, entries: list[Entry]) -> None:
        kv = self.kv
        proposals = self._proposals
        for entry in entries:
            result: KvResult | None = None
            if entry.kind == ENTRY_NORMAL:
                result = kv.apply(entry.index, entry.data)
            else:
                kv.apply_noop(entry.index)
            waiting = proposals.pop(entry.index, None) if proposals else None
            if waiting is not None:
                term, future = waiting
                if future.done():
                    pass
                elif term == entry.term:
                    future.set_result(Committed(entry.index, entry.term, result))
                else:
                    # Another leader's entry took this index: ours was lost.
                    future.set_exception(ProposalFailed("leadership changed", True))
            for hook in self._apply_hooks:
                hook(entry)
        self.node.counters["raft_entries_applied"] += len(entries)

    def _release_applied_waiters(self) -> None:
        waiters = self._applied_waiters
        applied = self.kv.applied_index
        while waiters and waiters[0][0] <= applied:
            _, _, future = heapq.heappop(waiters)
            if not future.done():
                future.set_result(None)

    def _on_soft_state(self, role: Role) -> None:
        if role is Role.LEADER and self._last_role is not Role.LEADER:
            self._leading_since_s = time.monotonic()
        self._last_role = role
        changed, self._leader_changed = self._leader_changed, asyncio.Event()
        changed.set()
        if role is not Role.LEADER and self._proposals:
            # Entries of a deposed leader may still commit, or be overwritten;
            # the client retries (with its session, so a retry applies once).
            for _term, future in self._proposals.values():
                if not future.done():
                    future.set_exception(ProposalFailed("leadership lost", True))
            self._proposals.clear()
        for hook in self._leader_hooks:
            hook()
        self._report_state(force=True)

    def _compact(self) -> None:
        kv = self.kv
        if self.raft.compact(kv.applied_index, kv.snapshot()):
            self.node.counters["raft_compactions"] += 1
            self._kick.set()

    # -- telemetry ------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The node's Raft state as ``GET /raft`` shows it."""
        raft = self.raft
        snapshot = raft.snapshot
        return {
            "node": self.node.id,
            "role": str(raft.role),
            "term": raft.term,
            "vote": raft.vote,
            "leader": raft.leader,
            "commit_index": raft.commit_index,
            "last_applied": self.kv.applied_index,
            "log_length": raft.log.last_index(),
            "snapshot_index": snapshot.index if snapshot is not None else 0,
            "voters": list(raft.voters),
            "fsync": self.fsync_mode,
        }

    def _report_state(self, force: bool) -> None:
        raft = self.raft
        key = (
            raft.role,
            raft.term,
            raft.vote,
            raft.leader,
            raft.commit_index,
            self.kv.applied_index,
            raft.log.last_index(),
            raft.voters,
            raft.election_elapsed_ticks,
        )
        if not force and key == self._last_state:
            return
        self._last_state = key
        snapshot = raft.snapshot
        self.node.emit(
            RaftState(
                self.node.id,
                wall_ms(),
                str(raft.role),
                raft.term,
                raft.vote,
                raft.leader,
                raft.commit_index,
                self.kv.applied_index,
                raft.log.last_index(),
                snapshot.index if snapshot is not None else 0,
                list(raft.voters),
                raft.election_elapsed_ticks,
                raft.election_timeout_ticks,
                self.fsync_mode,
            )
        )
        counters = self.node.counters
        for name, count in raft.counters.items():
            counters[f"raft_{name}"] = count
        # Written by the disk thread; a slightly stale read is fine for a counter.
        counters["raft_fsyncs"] = self.storage.stats.fsyncs
        counters["raft_log_bytes_written"] = self.storage.stats.bytes_written


def _snapshot_saved(node_id: str, snap: Snapshot, source: str) -> SnapshotSaved:
    return SnapshotSaved(node_id, wall_ms(), snap.index, snap.term, len(snap.data), source)


def entry_text(entry: Entry) -> str:
    """A short human form of an entry for the dashboard: ``put k=v``, ``voters n1,n2``."""
    if entry.kind == ENTRY_NOOP:
        return "no-op"
    if entry.kind == ENTRY_CONFIG:
        voters = decode_voters(entry.data)
        return f"voters {','.join(voters)}" if voters is not None else "bad config"
    command = decode_command(entry.data)
    if command is None:
        return f"{len(entry.data)} B"
    key = command.key[:ENTRY_TEXT_CHARS]
    if command.op in ("delete", *FILE_OPS):  # file metadata is packed bytes: name only
        return f"{command.op} {key}"
    value = command.value[:ENTRY_TEXT_CHARS].decode("utf-8", errors="replace")
    return f"{command.op} {key}={value}"
