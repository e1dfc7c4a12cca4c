"""A hand-driven cluster of Raft cores: the test bench for unit tests and lessons.

Unlike the randomized simulator, nothing happens unless the test asks: tick
this node, deliver the queued messages, cut this link, crash that node. Each
node's Ready is handled exactly as the contract says (persist to a
``SimDisk``, send, apply to a ``KvStore``, advance), so tests exercise the
real API a node process uses.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cluster.core.kv import KvStore
from cluster.core.raft import RaftConfig, RaftNode, ReadState, Role
from cluster.schema.raft import ENTRY_NORMAL, Entry
from cluster.sim.disk import SimDisk

# settle() gives up after this many delivery rounds: a test that needs more
# has a livelock, and should fail rather than hang.
MAX_SETTLE_ROUNDS = 200

Filter = Callable[[str, str, Any], bool]


@dataclass
class HarnessNode:
    id: str
    peers: list[str]
    disk: SimDisk = field(default_factory=SimDisk)
    raft: RaftNode | None = None
    kv: KvStore = field(default_factory=KvStore)
    applied: list[Entry] = field(default_factory=list)
    read_states: list[ReadState] = field(default_factory=list)


class Harness:
    def __init__(
        self,
        ids: list[str],
        config: RaftConfig | None = None,
        seed: int = 1,
    ) -> None:
        self.config = config or RaftConfig(
            election_timeout_min_ticks=10,
            election_timeout_max_ticks=20,
            heartbeat_interval_ticks=2,
        )
        self.rng = random.Random(seed)
        self.nodes: dict[str, HarnessNode] = {}
        self.queue: list[tuple[str, str, Any]] = []
        self.blocked: set[tuple[str, str]] = set()  # (src, dst) pairs that drop messages
        self.sent: list[tuple[str, str, Any]] = []  # every message ever sent, for assertions
        for node_id in ids:
            self.add_node(node_id, list(ids))

    # -- membership of the harness itself -------------------------------------

    def add_node(self, node_id: str, peers: list[str]) -> RaftNode:
        """Start a node process; a node joining a running cluster passes ``peers=[]``."""
        node = HarnessNode(node_id, peers)
        node.raft = RaftNode(node_id, peers, None, random.Random(self.rng.random()), self.config)
        self.nodes[node_id] = node
        return node.raft

    def raft(self, node_id: str) -> RaftNode:
        raft = self.nodes[node_id].raft
        if raft is None:
            raise AssertionError(f"{node_id} is crashed")
        return raft

    def crash(self, node_id: str) -> None:
        """SIGKILL: the node's memory is gone; its disk stays."""
        self.nodes[node_id].raft = None
        self.queue = [m for m in self.queue if m[1] != node_id]

    def restart(self, node_id: str) -> RaftNode:
        node = self.nodes[node_id]
        storage = node.disk.load()
        node.kv = KvStore.restore(storage.snapshot.data) if storage.snapshot else KvStore()
        node.applied = []
        node.raft = RaftNode(
            node_id, node.peers, storage, random.Random(self.rng.random()), self.config
        )
        return node.raft

    def set_disk(
        self, node_id: str, term: int, entry_terms: list[int], vote: str | None = None
    ) -> None:
        """Give a crashed node a crafted disk: ``entry_terms[k]`` is the term of index k+1.

        Lets a test (or a lesson) start from a figure of the paper, e.g. Figure 8.
        """
        if self.nodes[node_id].raft is not None:
            raise AssertionError(f"crash {node_id} before replacing its disk")
        disk = SimDisk()
        disk.term = term
        disk.vote = vote
        disk.entries = [
            Entry(index, entry_term, ENTRY_NORMAL, f"{index}/t{entry_term}".encode())
            for index, entry_term in enumerate(entry_terms, start=1)
        ]
        self.nodes[node_id].disk = disk

    # -- network --------------------------------------------------------------

    def isolate(self, node_id: str) -> None:
        for other in self.nodes:
            if other != node_id:
                self.blocked.add((node_id, other))
                self.blocked.add((other, node_id))

    def cut(self, src: str, dst: str) -> None:
        """One-way: messages from src to dst are lost."""
        self.blocked.add((src, dst))

    def heal(self) -> None:
        self.blocked.clear()

    # -- driving --------------------------------------------------------------

    def process(self, node_id: str | None = None) -> None:
        """Handle every pending Ready of one node (or all), exactly per the contract."""
        for nid in [node_id] if node_id else list(self.nodes):
            node = self.nodes[nid]
            raft = node.raft
            while raft is not None and raft.has_ready():
                rd = raft.ready()
                node.disk.save(rd)
                for dst, msg in rd.messages:
                    self.sent.append((nid, dst, msg))
                    if (nid, dst) not in self.blocked and dst in self.nodes:
                        self.queue.append((nid, dst, msg))
                if rd.snapshot is not None:
                    node.kv = KvStore.restore(rd.snapshot.data)
                for entry in rd.committed_entries:
                    node.applied.append(entry)
                    if entry.kind == ENTRY_NORMAL:
                        node.kv.apply(entry.index, entry.data)
                    else:
                        node.kv.apply_noop(entry.index)
                node.read_states.extend(rd.read_states)
                raft.advance(rd)

    def deliver(self, only: Filter | None = None) -> int:
        """Deliver the queued messages (those ``only`` accepts), then process. Returns count."""
        self.process()
        batch, self.queue = self.queue, []
        delivered = 0
        for src, dst, msg in batch:
            if only is not None and not only(src, dst, msg):
                self.queue.append((src, dst, msg))
                continue
            raft = self.nodes[dst].raft
            if raft is None or (src, dst) in self.blocked:
                continue
            raft.step(src, msg)
            delivered += 1
        self.process()
        return delivered

    def settle(self) -> None:
        """Deliver until no message is in flight."""
        for _ in range(MAX_SETTLE_ROUNDS):
            self.process()
            if not self.queue:
                return
            self.deliver()
        raise AssertionError("messages still flowing after MAX_SETTLE_ROUNDS rounds")

    def tick(self, node_id: str, ticks: int = 1) -> None:
        for _ in range(ticks):
            self.raft(node_id).tick()
        self.process(node_id)

    def tick_all(self, ticks: int = 1, settle: bool = True) -> None:
        for _ in range(ticks):
            for node in self.nodes.values():
                if node.raft is not None:
                    node.raft.tick()
            if settle:
                self.settle()
            else:
                self.process()

    def campaign(self, node_id: str) -> None:
        """Tick one node until its election timeout fires (it starts a (pre-)election)."""
        raft = self.raft(node_id)
        for _ in range(self.config.election_timeout_max_ticks + 1):
            if raft.role is not Role.FOLLOWER:
                break
            raft.tick()
        self.process(node_id)

    def elect(self, node_id: str) -> RaftNode:
        """Make ``node_id`` leader: let its timeout fire first, deliver everything."""
        self.campaign(node_id)
        self.settle()
        raft = self.raft(node_id)
        if raft.role is not Role.LEADER:
            raise AssertionError(f"{node_id} did not win: {raft.role} in term {raft.term}")
        return raft

    def leaders(self) -> list[str]:
        return [
            nid
            for nid, node in self.nodes.items()
            if node.raft is not None and node.raft.role is Role.LEADER
        ]

    def messages_of(self, kind: type) -> list[tuple[str, str, Any]]:
        return [m for m in self.sent if isinstance(m[2], kind)]
