"""The replicated key-value store as a service: any node accepts, the leader commits.

A client may send a write to any node (as with etcd). The node proposes it
itself when it leads; otherwise it forwards it to the leader as a
``KvForward`` message (a real message the dashboard shows travelling) and
turns the ``KvForwardReply`` into the answer. While there is no leader, or
the leader changes under a write, the node waits and retries until the
request's deadline: every retry carries the same client session
``(client_id, seq)``, so a write applies exactly once however often it is
retried (thesis §6.3). When the deadline passes the answer is 503 with the
reason (no leader, not enough nodes, timeout); the outcome of a timed-out
write is unknown and the client may retry it safely with the same session.

Reads: ``linearizable`` asks for a read index (§6.4; a follower gets it
from the leader) and answers once the local state machine has applied it;
``stale`` answers from the local state machine at once, however old.

The HTTP side is in kv_routes.py; this module speaks in ``Outcome`` values.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cluster.core.kv import Command
from cluster.core.raft import Role
from cluster.core.raft.membership import quorum_size
from cluster.node.batcher import Batcher
from cluster.node.clock import wall_ms
from cluster.node.node import Node
from cluster.node.raft_driver import Committed, ProposalFailed, ProposalTimeout, RaftDriver
from cluster.schema.kv import (
    KvForward,
    KvForwardReply,
    parse_reply,
    parse_request,
    request_expected,
)
from cluster.schema.messages import Envelope
from cluster.schema.telemetry import ClientReply, ClientRequest

log = logging.getLogger(__name__)

# How long a client request may take before the answer is 503, in real time
# at time scale 1; slow motion stretches it (elections take that much longer)
# up to a cap, so a client never hangs for minutes.
REQUEST_TIMEOUT_S = 5.0
MAX_REQUEST_TIMEOUT_S = 60.0
# One forwarded attempt or one read-index round: a leader that does not answer
# in this long is probably gone (paused, killed, cut off); ask again.
ATTEMPT_TIMEOUT_S = 1.0
# Pause between attempts, so a node without a leader does not spin.
RETRY_PAUSE_S = 0.02
# Requests this node has forwarded and waits for, and forwarded requests it is
# serving for others: beyond them new ones are refused (503) at once.
MAX_FORWARDS_WAITING = 4096
MAX_FORWARDS_SERVING = 4096
# ClientRequest / ClientReply telemetry per node and second: every request a
# person makes on the dashboard is shown; a benchmark's 5 000/s are sampled.
CLIENT_EVENTS_PER_S = 100
# A neighbour counts as reachable if one of its last this-many heartbeats arrived.
HEARD_RECENTLY_HEARTBEATS = 3
# Refusals of a membership change that clear up on their own (thesis §4).
TRANSIENT_REFUSALS = ("still uncommitted", "not yet committed")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a request came to: an HTTP status, and where a write committed or why not.

    ``value``: for a read, the value (None: no such key); for a write, the
    value before it. ``retry``: another attempt may succeed (internal).
    """

    status: int
    index: int = 0
    term: int = 0
    value: bytes | None = None
    error: str = ""
    retry: bool = False


class _Budget:
    """A token bucket: at most ``per_s`` traced requests a second, in bursts of a second's worth."""

    def __init__(self, per_s: float) -> None:
        self._per_s = per_s
        self._tokens = per_s
        self._at_s = time.monotonic()

    def take(self) -> bool:
        now_s = time.monotonic()
        self._tokens = min(self._per_s, self._tokens + (now_s - self._at_s) * self._per_s)
        self._at_s = now_s
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


class KvService:
    def __init__(
        self, node: Node, driver: RaftDriver, heard_ms: Mapping[str, float] | None = None
    ) -> None:
        self.node = node
        self.driver = driver
        # Wall-clock ms of the last heartbeat from each neighbour (heartbeat.py):
        # how a 503 tells "not enough nodes" from "an election is under way".
        self._heard_ms = heard_ms if heard_ms is not None else {}
        self._request_ids = itertools.count(1)
        # Unique across restarts: a restarted node never reuses a session id.
        self._boot_id = f"{time.time_ns() // 1000:x}"
        # request id -> (the leader it went to, the answer)
        self._forwards: dict[int, tuple[str, asyncio.Future[Outcome]]] = {}
        self._serving = 0  # forwarded requests this leader is proposing for others
        self._requests = Batcher(lambda leader, items: node.send(leader, KvForward(items)))
        self._replies = Batcher(lambda origin, items: node.send(origin, KvForwardReply(items)))
        self._budget = _Budget(CLIENT_EVENTS_PER_S)
        node.on(KvForward, self._on_forward)
        node.on(KvForwardReply, self._on_forward_reply)
        driver.on_leader_change(self._abandon_forwards)

    # -- the public operations ------------------------------------------------

    def new_session(self) -> str:
        """A fresh client id for a request that came without one (seq 1)."""
        return f"{self.node.id}-{self._boot_id}-{next(self._request_ids)}"

    def trace(self, op: str, key: str, consistency: str) -> tuple[str, float]:
        """Start following a request: its trace id ('' when not sampled) and start time."""
        started_s = time.monotonic()
        if not self._budget.take():
            return "", started_s
        trace_id = f"{self.node.id}:{next(self._request_ids)}"
        self.node.emit(
            ClientRequest(self.node.id, wall_ms(), trace_id, op, key, consistency, "http")
        )
        return trace_id, started_s

    def traced_reply(
        self, trace_id: str, started_s: float, op: str, key: str, outcome: Outcome
    ) -> None:
        self.node.counters[f"kv_{op}_{outcome.status}"] += 1
        if not trace_id:
            return
        latency_ms = (time.monotonic() - started_s) * 1000.0
        self.node.emit(
            ClientReply(
                self.node.id,
                wall_ms(),
                trace_id,
                op,
                key,
                outcome.status,
                outcome.index,
                outcome.term,
                latency_ms,
                outcome.error,
            )
        )

    async def write(
        self,
        op: str,
        key: str,
        value: bytes,
        client_id: str,
        seq: int,
        trace_id: str = "",
        expected: bytes | None = None,
    ) -> Outcome:
        """Commit a write (``put``, ``delete``; the file ops ``fput``, ``fdel``, ``fcas``
        with ``expected``) or membership change (``add``, ``remove``)."""
        loop = asyncio.get_running_loop()
        deadline_s = loop.time() + self.timeout_s()
        last: Outcome | None = None  # the latest failed attempt, explained at the deadline
        while True:
            remaining_s = deadline_s - loop.time()
            if remaining_s <= 0:
                return _final(last or Outcome(503, error=self._no_leader_reason()))
            raft = self.driver.raft
            if raft.role is Role.LEADER:
                outcome = await self._propose(
                    op, key, value, client_id, seq, remaining_s, expected
                )
            elif raft.leader is not None and raft.leader != self.node.id:
                outcome = await self._forward(
                    raft.leader, op, key, value, client_id, seq, trace_id, remaining_s, expected
                )
            else:
                await self._wait_for_leader(remaining_s)
                last = Outcome(503, error=self._no_leader_reason(), retry=True)
                continue
            if not outcome.retry:
                return outcome
            last = outcome
            await asyncio.sleep(min(RETRY_PAUSE_S, max(0.0, deadline_s - loop.time())))

    async def read(self, key: str, linearizable: bool) -> Outcome:
        """``linearizable``: ReadIndex then the local state machine; else local at once."""
        if not linearizable:
            return _found(self.driver.kv.get(key), self.driver.kv.applied_index)
        barrier = await self.read_barrier()
        if barrier.status != 200:
            return barrier
        return _found(self.driver.kv.get(key), barrier.index)

    async def read_barrier(self) -> Outcome:
        """§6.4: wait until this node's state machine has applied a read index the
        leader confirmed; then any local read is linearizable. 200 with ``index``
        = that read index, or 503 saying why not."""
        loop = asyncio.get_running_loop()
        deadline_s = loop.time() + self.timeout_s()
        last_error = ""
        while True:
            remaining_s = deadline_s - loop.time()
            if remaining_s <= 0:
                return Outcome(503, error=last_error or self._no_leader_reason())
            try:
                read_index = await asyncio.wait_for(
                    self.driver.read_index(), min(remaining_s, self.attempt_s())
                )
            except ProposalFailed as exc:
                last_error = self._no_leader_reason() if exc.reason == "no leader" else exc.reason
                if self.driver.raft.leader is None:
                    await self._wait_for_leader(remaining_s)
                else:
                    await asyncio.sleep(RETRY_PAUSE_S)
                continue
            except TimeoutError:
                last_error = f"timeout: the leader ({self.driver.raft.leader}) did not confirm"
                continue
            try:
                await asyncio.wait_for(
                    self.driver.wait_applied(read_index), max(0.001, deadline_s - loop.time())
                )
            except TimeoutError:
                last_error = f"timeout: this node has not yet applied index {read_index}"
                continue
            return Outcome(200, index=read_index)

    def timeout_s(self) -> float:
        return min(MAX_REQUEST_TIMEOUT_S, REQUEST_TIMEOUT_S * max(1.0, self.node.clock.time_scale))

    def attempt_s(self) -> float:
        return ATTEMPT_TIMEOUT_S * max(1.0, self.node.clock.time_scale)

    # -- as the leader ------------------------------------------------------

    async def _propose(
        self,
        op: str,
        key: str,
        value: bytes,
        client_id: str,
        seq: int,
        timeout_s: float,
        expected: bytes | None = None,
    ) -> Outcome:
        future = self._start_proposal(op, key, value, client_id, seq, timeout_s, expected)
        with contextlib.suppress(Exception):
            await future  # its outcome, failure included, is read below
        return self._outcome(op, future)

    def _start_proposal(
        self,
        op: str,
        key: str,
        value: bytes,
        client_id: str,
        seq: int,
        timeout_s: float,
        expected: bytes | None = None,
    ) -> asyncio.Future[Committed]:
        if op in ("add", "remove"):
            return self.driver.propose_membership(op, key, timeout_s)
        command = Command(op, key, value, expected, client_id, seq).encode()
        return self.driver.propose(command, timeout_s)

    def _outcome(self, op: str, future: asyncio.Future[Committed]) -> Outcome:
        """What a finished proposal means for its client."""
        exc = future.exception()
        if exc is None:
            return _committed(future.result())
        if isinstance(exc, ProposalTimeout):
            return Outcome(503, error=self._commit_timeout_reason())
        if isinstance(exc, ProposalFailed):
            if op in ("add", "remove") and not exc.retry:
                transient = any(t in exc.reason for t in TRANSIENT_REFUSALS)
                return Outcome(503 if transient else 409, error=exc.reason, retry=transient)
            return Outcome(503, error=exc.reason, retry=exc.retry)
        raise exc

    def _on_forward(self, env: Envelope) -> None:
        """Leader: propose every forwarded request; answers go back batched."""
        message = env.body
        assert isinstance(message, KvForward)
        origin = env.src
        is_leader = self.driver.raft.role is Role.LEADER
        for raw in message.requests:
            request = parse_request(raw)
            if request is None:
                self.node.counters["kv_forward_malformed"] += 1
                continue
            request_id, op, key, value, client_id, seq, trace_id = request
            started_s = time.monotonic()
            if trace_id:
                self.node.emit(
                    ClientRequest(self.node.id, wall_ms(), trace_id, op, key, "", origin)
                )
            if not is_leader:
                outcome = Outcome(503, error=f"{self.node.id} is not the leader", retry=True)
                self._answer(origin, request_id, op, key, trace_id, started_s, outcome)
                continue
            if self._serving >= MAX_FORWARDS_SERVING:
                outcome = Outcome(503, error="leader busy", retry=True)
                self._answer(origin, request_id, op, key, trace_id, started_s, outcome)
                continue
            self._serving += 1
            expected = request_expected(raw)
            future = self._start_proposal(
                op, key, value, client_id, seq, self.timeout_s(), expected
            )
            future.add_done_callback(
                functools.partial(
                    self._forwarded_done, origin, request_id, op, key, trace_id, started_s
                )
            )

    def _forwarded_done(
        self,
        origin: str,
        request_id: int,
        op: str,
        key: str,
        trace_id: str,
        started_s: float,
        future: asyncio.Future[Committed],
    ) -> None:
        self._serving -= 1
        self._answer(origin, request_id, op, key, trace_id, started_s, self._outcome(op, future))

    def _answer(
        self,
        origin: str,
        request_id: int,
        op: str,
        key: str,
        trace_id: str,
        started_s: float,
        outcome: Outcome,
    ) -> None:
        self.traced_reply(trace_id, started_s, op, key, outcome)
        reply: list[Any] = [
            request_id,
            outcome.status,
            outcome.index,
            outcome.term,
            outcome.value,
            outcome.error,
        ]
        self._replies.add(origin, reply, len(outcome.value or b"") + len(outcome.error))

    # -- as a follower --------------------------------------------------------

    async def _forward(
        self,
        leader: str,
        op: str,
        key: str,
        value: bytes,
        client_id: str,
        seq: int,
        trace_id: str,
        remaining_s: float,
        expected: bytes | None = None,
    ) -> Outcome:
        if len(self._forwards) >= MAX_FORWARDS_WAITING:
            return Outcome(503, error="too many forwarded requests waiting")
        request_id = next(self._request_ids)
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._forwards[request_id] = (leader, future)
        request: list[Any] = [request_id, op, key, value, client_id, seq, trace_id]
        if op == "fcas":
            request.append(expected)
        size_bytes = len(key) + len(value) + len(client_id) + len(expected or b"")
        self._requests.add(leader, request, size_bytes)
        try:
            return await asyncio.wait_for(future, min(remaining_s, self.attempt_s()))
        except TimeoutError:
            return Outcome(503, error=f"timeout: the leader ({leader}) did not answer", retry=True)
        finally:
            self._forwards.pop(request_id, None)

    def _on_forward_reply(self, env: Envelope) -> None:
        message = env.body
        assert isinstance(message, KvForwardReply)
        for raw in message.replies:
            reply = parse_reply(raw)
            if reply is None:
                self.node.counters["kv_forward_malformed"] += 1
                continue
            request_id, status, index, term, value, error = reply
            waiting = self._forwards.get(request_id)
            if waiting is not None and not waiting[1].done():
                # A 503 from the leader (it lost leadership, a change is pending)
                # may succeed at the next attempt; other answers are final.
                waiting[1].set_result(Outcome(status, index, term, value, error, status == 503))

    def _abandon_forwards(self) -> None:
        """A new leader: requests sent to another node will not be answered, retry them now
        rather than after ATTEMPT_TIMEOUT_S (this is most of a fast failover)."""
        leader = self.driver.raft.leader
        for sent_to, future in self._forwards.values():
            if sent_to != leader and not future.done():
                error = f"{sent_to} is no longer the leader"
                future.set_result(Outcome(503, error=error, retry=True))

    async def _wait_for_leader(self, timeout_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.driver.leader_changed(), min(timeout_s, self.attempt_s()))

    def _no_leader_reason(self) -> str:
        raft = self.driver.raft
        voters = raft.voters
        if not voters:
            return f"no leader: {self.node.id} has not joined the cluster yet"
        reachable = sum(1 for v in voters if self._reachable(v))
        needed = quorum_size(len(voters))
        if reachable < needed:
            return (
                f"not enough nodes: {self.node.id} reaches {reachable} of {len(voters)} voters,"
                f" a leader needs {needed}"
            )
        return f"no leader: no leader known to {self.node.id} (an election may be under way)"

    def _reachable(self, voter: str) -> bool:
        """Have we heard from ``voter`` lately? A paused node keeps its sockets open
        but stops sending heartbeats; a node that is not a neighbour counts if routed."""
        node = self.node
        if voter == node.id:
            return True
        if voter not in node.neighbours:
            return node.next_hop(voter) is not None
        heard_ms = self._heard_ms.get(voter)
        interval_ms = node.config.heartbeat_interval_ms * node.clock.time_scale
        recent_ms = HEARD_RECENTLY_HEARTBEATS * interval_ms
        return heard_ms is not None and wall_ms() - heard_ms <= recent_ms

    def _commit_timeout_reason(self) -> str:
        raft = self.driver.raft
        voters = raft.voters
        progress = raft.progress()
        active = sum(
            1 for v in voters if v == self.node.id or (v in progress and progress[v].recent_active)
        )
        needed = quorum_size(len(voters))
        if active < needed:
            return (
                f"not enough nodes: leader {self.node.id} hears from {active} of {len(voters)}"
                f" voters, a commit needs {needed}; outcome unknown, retry with the same session"
            )
        return "timeout: not committed in time; outcome unknown, retry with the same session"


def _final(outcome: Outcome) -> Outcome:
    return Outcome(outcome.status if outcome.status >= 400 else 503, error=outcome.error)


def _found(value: bytes | None, index: int) -> Outcome:
    if value is None:
        return Outcome(404, index=index, error="no such key")
    return Outcome(200, index=index, value=value)


def _committed(committed: Committed) -> Outcome:
    result = committed.result
    if result is None or result.ok:
        before = result.value if result is not None else None
        return Outcome(200, committed.index, committed.term, before)
    status = {"bad_command": 400, "bad_meta": 400, "too_large": 413, "not_found": 404}.get(
        result.error, 409
    )
    return Outcome(status, committed.index, committed.term, result.value, result.error)
