"""One seeded run of a whole Raft cluster: nodes, network, faults, clients, checks.

Every random choice — settings, delays, losses, crashes, elections' timeouts,
client operations — comes from one ``random.Random(seed)``, so a seed replays
exactly. A run has two phases:

1. ``steps`` ticks of chaos: message loss, delay, reordering, duplication,
   symmetric and one-way partitions, crashes (losing everything not yet
   persisted through a Ready) and restarts, membership changes, snapshots,
   clients writing with sessions and reading with ReadIndex. Invariants are
   checked at every Ready and after every tick.
2. Healing: the network is repaired and every node restarted; within
   ``liveness_ticks`` a leader must be elected and commit a new entry on
   every voter (liveness). Then the logs, the state machines, exactly-once
   application and the linearizability of the clients' history are checked.

Each node's Ready is handled as the contract says (ready.py), and sometimes
left half-done for a tick — as a slow fsync would — while messages keep
arriving.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from cluster.core.kv import Command, KvResult, KvStore, decode_command
from cluster.core.raft import (
    Accepted,
    NotLeader,
    Proposed,
    ProposeResult,
    RaftConfig,
    RaftNode,
    ReadResult,
    Ready,
    Role,
)
from cluster.schema.messages import Envelope, decode_envelope, encode_envelope
from cluster.schema.raft import ENTRY_CONFIG, ENTRY_NORMAL, decode_voters
from cluster.sim.disk import SimDisk
from cluster.sim.invariants import Invariants, InvariantViolation, check_logs_pairwise
from cluster.sim.linearizability import check as check_linearizable
from cluster.sim.network import NetworkConfig, SimNetwork
from cluster.sim.workload import (
    MAX_ATTEMPTS,
    MAX_HISTORY_OPS,
    OP_TIMEOUT_TICKS,
    History,
    PendingOp,
    SimClient,
)

MAX_NODE_IDS = 7  # n1..n7: membership changes pick from these
# Ready/advance rounds per node per tick; a leader whose own fsync lets it
# commit needs a second round, and there is never a reason for many more.
MAX_READY_ROUNDS_PER_TICK = 4
PAIRWISE_CHECK_EVERY_TICKS = 50
WRITE_KEYS = ("x", "y")
APPEND_KEY = "log"
LIVENESS_KEY = "liveness"


@dataclass(frozen=True)
class SimSettings:
    seed: int
    steps: int
    initial_nodes: int
    network: NetworkConfig
    raft: RaftConfig
    fault_rate: float  # chance per tick of one fault action
    membership: bool  # add and remove voters
    client_count: int
    op_rate: float  # chance per tick that an idle client starts an operation
    slow_ready_rate: float  # chance that a Ready stays half-done for a tick
    wire: bool  # messages go through the real codec (msgpack, registry checks)
    linearizability: bool
    liveness_ticks: int

    def lines(self) -> list[str]:
        r = self.raft
        return [
            f"seed {self.seed}: {self.initial_nodes} nodes, {self.steps} steps,"
            f" {self.network.text()}, faults {self.fault_rate:.3f}/tick,"
            f" membership {'on' if self.membership else 'off'}",
            f"  raft: election {r.election_timeout_min_ticks}..{r.election_timeout_max_ticks}"
            f" heartbeat {r.heartbeat_interval_ticks} pre_vote {r.pre_vote}"
            f" check_quorum {r.check_quorum} batch {r.max_entries_per_append}"
            f" inflight {r.max_inflight_appends} snapshot every {r.snapshot_threshold_entries}"
            f" chunk {r.snapshot_chunk_bytes} B",
            f"  clients {self.client_count} op rate {self.op_rate:.2f},"
            f" slow ready {self.slow_ready_rate:.2f}, wire {self.wire},"
            f" linearizability {self.linearizability}, liveness within {self.liveness_ticks} ticks",
        ]


def draw_settings(seed: int, rng: random.Random, steps: int) -> SimSettings:
    """Scenario parameters, drawn from the run's own generator (first draws)."""
    election_min = rng.choice((6, 8, 10))
    raft = RaftConfig(
        election_timeout_min_ticks=election_min,
        election_timeout_max_ticks=election_min * rng.choice((2, 3)),
        heartbeat_interval_ticks=rng.choice((1, 2)),
        max_entries_per_append=rng.choice((1, 3, 64)),
        max_append_bytes=rng.choice((40, 1 << 20)),
        max_inflight_appends=rng.choice((1, 4, 32)),
        snapshot_threshold_entries=rng.choice((5, 15, 40, 10_000)),
        snapshot_chunk_bytes=rng.choice((16, 64, 1 << 20)),
        max_uncommitted_entries=rng.choice((4, 1000)),
        max_pending_reads=rng.choice((2, 100)),
        max_committed_per_ready=rng.choice((1, 100)),
        pre_vote=rng.random() < 0.8,
        check_quorum=rng.random() < 0.8,
    )
    # Raft's timing requirement (§5.6): message delay well below the election
    # timeout. Some seeds break it on purpose (safety must hold regardless);
    # the liveness phase restores it.
    delay_max = rng.choice((1, 2, election_min // 3, election_min // 2, 2 * election_min))
    network = NetworkConfig(
        loss_rate=rng.choice((0.0, 0.01, 0.05, 0.2)),
        duplicate_rate=rng.choice((0.0, 0.02, 0.1)),
        delay_min_ticks=1,
        delay_max_ticks=delay_max,
    )
    return SimSettings(
        seed=seed,
        steps=steps,
        initial_nodes=rng.choice((1, 2, 3, 3, 3, 5, 5)),
        network=network,
        raft=raft,
        fault_rate=rng.choice((0.0, 0.03, 0.06, 0.12)),
        membership=rng.random() < 0.5,
        client_count=rng.choice((1, 2, 3)),
        op_rate=rng.choice((0.1, 0.3, 0.8)),
        slow_ready_rate=rng.choice((0.0, 0.2, 0.5)),
        wire=rng.random() < 0.25,
        linearizability=True,
        liveness_ticks=40 * raft.election_timeout_max_ticks,
    )


@dataclass
class SimNode:
    id: str
    peers: list[str]
    disk: SimDisk = field(default_factory=SimDisk)
    raft: RaftNode | None = None
    kv: KvStore = field(default_factory=KvStore)
    outstanding: Ready | None = None
    # Client operations waiting here: proposal index -> (term, op); read id -> op.
    pending_writes: dict[int, tuple[int, PendingOp]] = field(default_factory=dict)
    pending_reads: dict[int, PendingOp] = field(default_factory=dict)
    waiting_reads: list[tuple[int, PendingOp]] = field(default_factory=list)
    # (session, seq) applied (not as duplicates) by this state machine instance.
    fresh_applied: set[tuple[str, int]] = field(default_factory=set)


@dataclass
class SimStats:
    ticks: int = 0
    max_term: int = 0
    commits: int = 0
    crashes: int = 0
    partitions: int = 0
    membership_changes: int = 0
    snapshots_installed: int = 0
    ops: dict[str, int] = field(default_factory=dict)

    def text(self) -> str:
        ops = " ".join(f"{k} {v}" for k, v in sorted(self.ops.items()))
        return (
            f"ticks {self.ticks} max term {self.max_term} committed {self.commits}"
            f" crashes {self.crashes} partitions {self.partitions}"
            f" membership {self.membership_changes} snapshots {self.snapshots_installed} ops: {ops}"
        )


class Simulation:
    def __init__(
        self,
        seed: int,
        steps: int = 300,
        log: Callable[[str], None] | None = None,
        settings: SimSettings | None = None,
    ) -> None:
        self.rng = random.Random(seed)
        self.settings = settings or draw_settings(seed, self.rng, steps)
        self.log = log
        self.tick = 0
        self.network = SimNetwork(self.rng, self.settings.network)
        self.invariants = Invariants()
        self.nodes: dict[str, SimNode] = {}
        self.history = History()
        self.stats = SimStats()
        self.next_request_id = 0
        self.retired: set[str] = set()  # removed for good and shut down
        # The last configuration some node applied: (index, voters).
        self.committed_config: tuple[int, tuple[str, ...]] = (
            0,
            tuple(f"n{i + 1}" for i in range(self.settings.initial_nodes)),
        )
        self.clients = [SimClient(f"c{i + 1}") for i in range(self.settings.client_count)]
        for client in self.clients:
            client.new_session()
        initial = [f"n{i + 1}" for i in range(self.settings.initial_nodes)]
        for node_id in initial:
            self._start(SimNode(node_id, list(initial)))

    # -- running ----------------------------------------------------------------

    def run(self) -> SimStats:
        for _ in range(self.settings.steps):
            self.step(chaos=True)
        self._heal_everything()
        self._check_liveness()
        self._final_checks()
        return self.stats

    def step(self, chaos: bool) -> None:
        self.tick += 1
        self.stats.ticks = self.tick
        if chaos and self.rng.random() < self.settings.fault_rate:
            self._inject_fault()
        self._drive_clients(start_new=chaos)
        for node in self._up():
            assert node.raft is not None
            node.raft.tick()
        for src, dst, msg in self.network.due(self.tick):
            target = self.nodes.get(dst)
            if target is None or target.raft is None:
                continue
            if self.settings.wire:
                msg = decode_envelope(encode_envelope(Envelope(src, dst, 0, msg))).body
            if self.log:
                self.log(f"t{self.tick} {src}→{dst} {msg.text()}")
            target.raft.step(src, msg)
        for node in self._up():
            self._handle_ready(node)
        rafts = {n.id: n.raft for n in self._up() if n.raft is not None}
        before = len(self.invariants.checked_leaders)
        self.invariants.check_leaders(rafts)
        if self.log and len(self.invariants.checked_leaders) != before:
            for nid, raft in self.invariants.current_leaders.items():
                self.log(f"t{self.tick} {nid} leads term {raft.term} voters {raft.voters}")
        for raft in rafts.values():
            self.stats.max_term = max(self.stats.max_term, raft.term)
        if self.tick % PAIRWISE_CHECK_EVERY_TICKS == 0:
            check_logs_pairwise(rafts)

    def _up(self) -> list[SimNode]:
        return [n for _, n in sorted(self.nodes.items()) if n.raft is not None]

    # -- the Ready contract -----------------------------------------------------

    def _handle_ready(self, node: SimNode) -> None:
        raft = node.raft
        assert raft is not None
        for _ in range(MAX_READY_ROUNDS_PER_TICK):
            if node.outstanding is not None:
                if self.rng.random() < self.settings.slow_ready_rate:
                    return  # the "fsync" is still running; messages keep arriving
                self._finish_ready(node, node.outstanding)
            if not raft.has_ready():
                return
            rd = raft.ready()
            self.invariants.on_ready(node.id, raft, rd)
            node.outstanding = rd

    def _finish_ready(self, node: SimNode, rd: Ready) -> None:
        raft = node.raft
        assert raft is not None
        node.outstanding = None
        node.disk.save(rd)  # 1-5: persist (and "fsync")
        for dst, msg in rd.messages:  # 6: only now may messages leave
            self.network.send(self.tick, node.id, dst, msg)
        if rd.snapshot is not None:  # 7
            node.kv = KvStore.restore(rd.snapshot.data)
            node.fresh_applied = set()
            self.stats.snapshots_installed += 1
            node.pending_writes = {
                i: w for i, w in node.pending_writes.items() if i > rd.snapshot.index
            }
        for entry in rd.committed_entries:  # 8
            if entry.index != node.kv.applied_index + 1:
                raise InvariantViolation(
                    "apply_order", f"{node.id} applies {entry.index} after {node.kv.applied_index}"
                )
            if entry.kind == ENTRY_NORMAL:
                result = node.kv.apply(entry.index, entry.data)
                self._check_exactly_once(node, entry.data, result)
            else:
                node.kv.apply_noop(entry.index)
                result = KvResult(True)
                if entry.kind == ENTRY_CONFIG and entry.index > self.committed_config[0]:
                    voters = decode_voters(entry.data)
                    if voters is not None:
                        self.committed_config = (entry.index, voters)
            self.stats.commits = max(self.stats.commits, entry.index)
            waiting = node.pending_writes.pop(entry.index, None)
            if waiting is not None:
                self._write_answered(node, entry.term, waiting, result)
        for rs in rd.read_states:  # 9
            op = node.pending_reads.pop(rs.request_id, None)
            if op is None or op.client.op is not op or op.node != node.id:
                continue
            if rs.ok:
                node.waiting_reads.append((rs.read_index, op))
            else:
                self._retry_soon(op, 1)
        self._serve_reads(node)
        raft.advance(rd)  # 10
        if raft.compaction_due:
            raft.compact(node.kv.applied_index, node.kv.snapshot())

    def _check_exactly_once(self, node: SimNode, data: bytes, result: KvResult) -> None:
        cmd = decode_command(data)
        if cmd is None or not cmd.client_id or result.duplicate or not result.ok:
            return
        key = (cmd.client_id, cmd.seq)
        if key in node.fresh_applied:
            raise InvariantViolation(
                "exactly_once", f"{node.id} applied {cmd.client_id}#{cmd.seq} twice"
            )
        node.fresh_applied.add(key)

    # -- faults -----------------------------------------------------------------

    def _inject_fault(self) -> None:
        rng = self.rng
        actions = [
            "crash",
            "restart",
            "partition",
            "one_way",
            "isolate",
            "isolate_leader",  # the partition that tests stale leaders (Jepsen's favourite)
            "heal",
            "heal",
        ]
        if self.settings.membership:
            actions += ["add", "add", "remove", "remove"]
        action = rng.choice(actions)
        up = self._up()
        down = [n for _, n in sorted(self.nodes.items()) if n.raft is None]
        ids = sorted(self.nodes)
        if action == "crash" and up:
            self._crash(rng.choice(up))
        elif action == "restart" and down:
            self._restart(rng.choice(down))
        elif action == "partition" and len(ids) > 1:
            shuffled = ids[:]
            rng.shuffle(shuffled)
            cut = rng.randint(1, len(ids) - 1)
            self.network.split(shuffled[:cut], shuffled[cut:])
            self.stats.partitions += 1
            self._note(f"partition {shuffled[:cut]} | {shuffled[cut:]}")
        elif action == "one_way" and len(ids) > 1:
            src, dst = rng.sample(ids, 2)
            self.network.block(src, dst)
            self.stats.partitions += 1
            self._note(f"one-way cut {src}→{dst}")
        elif action == "isolate" and len(ids) > 1:
            lonely = rng.choice(ids)
            self.network.split([lonely], [i for i in ids if i != lonely])
            self.stats.partitions += 1
            self._note(f"isolate {lonely}")
        elif action == "isolate_leader" and len(ids) > 1:
            leader = self._leader()
            if leader is not None:
                self.network.split([leader.id], [i for i in ids if i != leader.id])
                self.stats.partitions += 1
                self._note(f"isolate leader {leader.id}")
        elif action == "heal":
            self.network.heal()
            self._note("heal network")
        elif action in ("add", "remove"):
            self._change_membership(action)

    def _crash(self, node: SimNode) -> None:
        node.raft = None
        node.outstanding = None  # a Ready not yet persisted is lost, messages unsent
        node.pending_writes.clear()
        node.pending_reads.clear()
        node.waiting_reads.clear()
        self.stats.crashes += 1
        self._note(f"crash {node.id}")

    def _restart(self, node: SimNode) -> None:
        self._start(node)
        self._note(f"restart {node.id} (term {node.disk.term}, {len(node.disk.entries)} entries)")

    def _start(self, node: SimNode) -> None:
        storage = node.disk.load()
        node.kv = KvStore.restore(storage.snapshot.data) if storage.snapshot else KvStore()
        node.fresh_applied = set()
        node.raft = RaftNode(
            node.id,
            node.peers,
            storage,
            random.Random(self.rng.getrandbits(64)),
            self.settings.raft,
        )
        self.nodes[node.id] = node

    def _change_membership(self, action: str) -> None:
        leader = self._leader()
        if leader is None or leader.raft is None:
            return
        voters = leader.raft.voters
        if action == "add":
            candidates = [i for i in sorted(self.nodes) if i not in voters]
            if len(self.nodes) < MAX_NODE_IDS:
                candidates.append(f"n{len(self.nodes) + 1}")
            if not candidates:
                return
            target = self.rng.choice(candidates)
            if target not in self.nodes:
                self._start(SimNode(target, []))  # a new process joining: it knows no peers
        else:
            target = self.rng.choice(sorted(voters))
        result = leader.raft.propose_membership(action, target)
        if isinstance(result, Proposed):
            self.stats.membership_changes += 1
        self._note(f"{leader.id}: {action} {target} -> {result}")

    def _leader(self) -> SimNode | None:
        best: SimNode | None = None
        for node in self._up():
            assert node.raft is not None
            if node.raft.role is Role.LEADER and (
                best is None or best.raft is None or node.raft.term > best.raft.term
            ):
                best = node
        return best

    def _note(self, text: str) -> None:
        if self.log:
            self.log(f"t{self.tick} ** {text}")

    # -- clients ----------------------------------------------------------------

    def _drive_clients(self, start_new: bool) -> None:
        for client in self.clients:
            op = client.op
            if op is None:
                room = len(self.history.ops) < MAX_HISTORY_OPS
                if start_new and room and self.rng.random() < self.settings.op_rate:
                    self._start_op(client)
                continue
            if op.node is None:
                if self.tick >= op.retry_tick:
                    self._attempt(op)
            elif self.tick > op.deadline_tick:
                op.node = None  # timed out: try again, maybe elsewhere
                client.leader_guess = None
                self._attempt(op)

    def _start_op(self, client: SimClient) -> None:
        rng = self.rng
        kind = rng.choice(("put", "put", "get", "get", "append", "delete"))
        if kind == "append":
            key = APPEND_KEY
        elif kind == "get":
            key = rng.choice((*WRITE_KEYS, APPEND_KEY))
        else:
            key = rng.choice(WRITE_KEYS)
        seq = 0
        value: bytes | None = None
        if kind != "get":
            seq = client.next_seq
            client.next_seq += 1
            if kind == "put":
                value = f"{client.session}:{seq}".encode()
            elif kind == "append":
                value = f"{client.session}.{seq};".encode()
        op = PendingOp(client, kind, key, value, seq, invoke=self.history.now())
        client.op = op
        self._attempt(op)

    def _attempt(self, op: PendingOp) -> None:
        op.attempts += 1
        if op.attempts > MAX_ATTEMPTS:
            self._give_up(op)
            return
        up = [n for n in self._up() if n.raft is not None]
        if not up:
            self._retry_soon(op, 5)
            return
        guess = self.nodes.get(op.client.leader_guess or "")
        # Reads often go to any node (a follower forwards them, §6.4), which
        # also reaches deposed leaders that do not know it yet.
        wander = op.kind == "get" and self.rng.random() < 0.5
        usable_guess = guess is not None and guess.raft is not None and not wander
        target = guess if usable_guess and guess is not None else self.rng.choice(up)
        raft = target.raft
        assert raft is not None
        result: ReadResult | ProposeResult
        if op.kind == "get":
            self.next_request_id += 1
            op.request_id = self.next_request_id
            result = raft.read_index(op.request_id)
            if isinstance(result, Accepted):
                target.pending_reads[op.request_id] = op
        else:
            cmd = Command(op.kind, op.key, op.value or b"", None, op.client.session, op.seq)
            result = raft.propose(cmd.encode())
            if isinstance(result, Proposed):
                op.proposed = True
                target.pending_writes[result.index] = (result.term, op)
        if self.log:
            what = f"{op.kind} {op.key}" + (f" {op.value!r}" if op.value else "")
            self.log(f"t{self.tick} {op.client.session}#{op.seq} {what} -> {target.id}: {result}")
        if isinstance(result, Accepted | Proposed):
            op.node = target.id
            op.deadline_tick = self.tick + OP_TIMEOUT_TICKS
            return
        op.client.leader_guess = result.leader_hint if isinstance(result, NotLeader) else None
        self._retry_soon(op, 2)

    def _retry_soon(self, op: PendingOp, ticks: int) -> None:
        op.node = None
        op.retry_tick = self.tick + ticks

    def _write_answered(
        self, node: SimNode, term: int, waiting: tuple[int, PendingOp], result: KvResult
    ) -> None:
        proposed_term, op = waiting
        if op.client.op is not op or op.node != node.id:
            return  # the client moved on; the session made this entry harmless
        if term != proposed_term:
            self._retry_soon(op, 1)  # another leader's entry took the index: retry
            return
        if result.error == "session_expired":
            self._finish(op, "fail", None)
            op.client.new_session()
            return
        if result.error == "stale_request":
            raise InvariantViolation(
                "exactly_once", f"{op.client.session}#{op.seq}: the current request was refused"
            )
        self._finish(op, "ok", result.value)

    def _serve_reads(self, node: SimNode) -> None:
        if not node.waiting_reads:
            return
        still: list[tuple[int, PendingOp]] = []
        for read_index, op in node.waiting_reads:
            if op.client.op is not op or op.node != node.id:
                continue
            if node.kv.applied_index >= read_index:
                self._finish(op, "ok", node.kv.get(op.key))
            else:
                still.append((read_index, op))
        node.waiting_reads = still

    def _give_up(self, op: PendingOp) -> None:
        outcome = "unknown" if op.kind == "get" or op.proposed else "fail"
        self._finish(op, outcome, None)

    def _finish(self, op: PendingOp, outcome: str, output: bytes | None) -> None:
        self.history.record(op, outcome, output if op.kind == "get" else None)
        if self.log:
            shown = f" = {output!r}" if op.kind == "get" and outcome == "ok" else ""
            name = f"{op.client.session}#{op.seq}"
            self.log(f"t{self.tick} {name} {op.kind} {op.key}: {outcome}{shown}")
        self.stats.ops[outcome] = self.stats.ops.get(outcome, 0) + 1
        op.client.op = None
        if outcome == "ok":
            op.client.leader_guess = op.node

    # -- the end: heal, liveness, final checks -----------------------------------

    def _heal_everything(self) -> None:
        """Repair the network, restart every node, retire the ones removed for good.

        Thesis §4.2.3: once its removal is committed a server is shut down;
        left running, without pre-vote and check-quorum, it disrupts the
        cluster forever (that is the problem those two features solve).
        """
        self.network.heal()
        timely_delay_ticks = max(1, self.settings.raft.election_timeout_min_ticks // 3)
        self.network.config = replace(
            self.network.config,
            loss_rate=0.0,
            duplicate_rate=0.0,
            delay_max_ticks=min(self.network.config.delay_max_ticks, timely_delay_ticks),
        )
        for node in [n for _, n in sorted(self.nodes.items()) if n.raft is None]:
            self._restart(node)
        self._note("healed: network repaired, every node up")
        self._retire_removed()

    def _retire_removed(self) -> None:
        members = self._possible_members()
        for node in self._up():
            if node.id not in members:
                self._crash(node)
                self.retired.add(node.id)
                self._note(f"retire {node.id}: its removal is committed")

    def _committed_config_index(self) -> int:
        return self.committed_config[0]

    def _possible_members(self) -> set[str]:
        """Voters of the last committed configuration, or of any configuration after it."""
        committed_index, voters = self.committed_config
        members = set(voters)
        for node in self._up():
            assert node.raft is not None
            log = node.raft.log
            for index in range(max(committed_index, log.snapshot_index) + 1, log.last_index() + 1):
                entry = log.entry(index)
                if entry.kind == ENTRY_CONFIG:
                    members.update(decode_voters(entry.data) or ())
        return members

    def _liveness_bound_ticks(self) -> int:
        """Election time, plus time to ship the longest log to an empty follower.

        A voter added with an empty log must catch up before a two-node
        majority can commit (thesis §4.2.1), one batch per round trip.
        """
        longest = max(n.raft.log.last_index() for n in self._up() if n.raft is not None)
        cfg = self.settings.raft
        round_trips = longest // cfg.max_entries_per_append + 1
        round_trip_ticks = 2 * self.network.config.delay_max_ticks + cfg.heartbeat_interval_ticks
        return self.settings.liveness_ticks + round_trips * round_trip_ticks

    def _check_liveness(self) -> None:
        """After healing, a leader must commit a new entry on every voter, in bounded time."""
        probe: tuple[str, int, int] | None = None  # (leader, index, term)
        bound_ticks = self._liveness_bound_ticks()
        retired_for = self._committed_config_index()
        for _ in range(bound_ticks):
            self.step(chaos=False)
            if self._committed_config_index() != retired_for:
                retired_for = self._committed_config_index()
                self._retire_removed()
            leader = self._leader()
            if leader is None or leader.raft is None:
                continue
            raft = leader.raft
            if probe is None or probe[0] != leader.id or probe[2] != raft.term:
                cmd = Command("put", LIVENESS_KEY, str(self.tick).encode())
                result = raft.propose(cmd.encode())
                if isinstance(result, Proposed):
                    probe = (leader.id, result.index, result.term)
                continue
            _, index, term = probe
            committed = self.invariants.committed.get(index)
            if committed is None or committed.term != term:
                continue
            voters = [self.nodes[v] for v in raft.voters if v in self.nodes]
            if all(v.kv.applied_index >= index for v in voters):
                self._settle_clients()
                return
        roles = ", ".join(
            f"{n.id}:{n.raft.role}/t{n.raft.term}/c{n.raft.commit_index}"
            for n in self._up()
            if n.raft is not None
        )
        raise InvariantViolation(
            "liveness",
            f"no leader committed a new entry on every voter within"
            f" {bound_ticks} ticks of healing ({roles})",
        )

    def _settle_clients(self) -> None:
        """Let outstanding operations finish, then give up on the rest."""
        for _ in range((MAX_ATTEMPTS + 1) * OP_TIMEOUT_TICKS):
            if all(c.op is None for c in self.clients):
                break
            self.step(chaos=False)
        for client in self.clients:
            if client.op is not None:
                self._give_up(client.op)

    def _final_checks(self) -> None:
        rafts = {n.id: n.raft for n in self._up() if n.raft is not None}
        check_logs_pairwise(rafts)
        # State machines that applied the same prefix hold the same data.
        by_index: dict[int, tuple[str, dict[str, bytes]]] = {}
        for node in self._up():
            known = by_index.setdefault(node.kv.applied_index, (node.id, node.kv.data))
            if known[1] != node.kv.data:
                raise InvariantViolation(
                    "state_machine_safety",
                    f"{known[0]} and {node.id} applied up to {node.kv.applied_index}"
                    " but hold different data",
                )
        for node in self._up():
            tokens = [t for t in (node.kv.get(APPEND_KEY) or b"").split(b";") if t]
            if len(tokens) != len(set(tokens)):
                raise InvariantViolation(
                    "exactly_once", f"{node.id}: an append was applied twice: {tokens}"
                )
        if self.settings.linearizability:
            verdict = check_linearizable(self.history.ops)
            if verdict.verdict == "violation":
                raise InvariantViolation("linearizability", verdict.explanation)
