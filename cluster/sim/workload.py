"""Simulated clients: what they ask, how they retry, and the history they leave.

Each client has one operation outstanding at a time (the session rule of
cluster/core/kv.py). A write carries (session, seq); when it times out or
lands on a node that is not the leader, the client retries the *same*
(session, seq) elsewhere, which is how duplicates get into the log and why
the state machine must deduplicate them. After ``MAX_ATTEMPTS`` the client
gives up: the write's outcome is unknown if any attempt reached a leader's
log, failed otherwise.

Reads use ReadIndex (§6.4). Every invocation and completion is stamped with
a logical clock that increases at every event, so the history records real
time order exactly; the linearizability checker then judges it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cluster.sim.linearizability import Op

# A client waits this many ticks for an answer before trying another node.
OP_TIMEOUT_TICKS = 60
# Attempts per operation before the client gives up (outcome unknown).
MAX_ATTEMPTS = 4
# Operations kept in the history; a run that reaches it stops issuing new ones.
MAX_HISTORY_OPS = 5_000


@dataclass
class PendingOp:
    client: SimClient
    kind: str  # put, delete, append, get
    key: str
    value: bytes | None
    seq: int
    invoke: int
    attempts: int = 0
    deadline_tick: int = 0
    retry_tick: int = 0  # do not try again before this tick
    proposed: bool = False  # some attempt reached a leader's log
    node: str | None = None  # where the current attempt waits
    request_id: int = 0


@dataclass
class SimClient:
    id: str
    session: str = ""
    sessions_opened: int = 0
    next_seq: int = 1
    op: PendingOp | None = None
    leader_guess: str | None = None

    def new_session(self) -> None:
        """Start over as a new session (thesis §6.3: after an expired session)."""
        self.sessions_opened += 1
        self.session = f"{self.id}.{self.sessions_opened}"
        self.next_seq = 1


@dataclass
class History:
    ops: list[Op] = field(default_factory=list)
    clock: int = 0

    def now(self) -> int:
        self.clock += 1
        return self.clock

    def record(self, op: PendingOp, outcome: str, output: bytes | None) -> None:
        complete = None if outcome == "unknown" else self.now()
        self.ops.append(
            Op(
                client=op.client.id,
                kind=op.kind,
                key=op.key,
                invoke=op.invoke,
                complete=complete,
                outcome=outcome,
                value=op.value,
                output=output,
            )
        )
