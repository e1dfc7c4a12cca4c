"""A whole network of routing cores in one process, ticked in lock step.

The routing cores are pure, so a test can run every node of a network
together and ask questions a real cluster cannot answer exactly: after how
many ticks does every table equal the global shortest paths? Does a
two-node loop appear when a link is cut, and how high does its metric
climb? The simulator answers them deterministically: message delays are the
links' latencies in ticks, every random choice (jitter, loss, the cores'
timer phases) comes from one seed, and ``describe()`` prints what is needed
to reproduce a run.

Physical model. Each link is a two-way connection; routing messages may
cross it either way (topology.py explains why, for directed links). A cut
connection silently loses what crosses it: the cores find out by their own
timers, as real routers do, unless the cut is made with ``notify=True``
(the transport noticed, as a closed TCP connection does). A killed node
receives and sends nothing; a restarted one starts from a fresh core.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cluster.core.routing.distance_vector import DistanceVectorConfig, DistanceVectorRouter
from cluster.core.routing.floyd_warshall import floyd_warshall
from cluster.core.routing.forwarding import ForwardingTable, RouteChange
from cluster.core.routing.linkstate import LinkStateConfig, LinkStateRouter
from cluster.core.routing.protocol import RoutingOutput, RoutingProtocol
from cluster.core.topology import Link, Topology, TopologyError

PROTOCOLS = ("linkstate", "distance_vector")
MAX_IN_FLIGHT = 200_000  # a flooding bug must fail the run, not exhaust memory
MAX_HISTORY = 10_000  # table changes kept for inspection; older ones are forgotten


class SimError(RuntimeError):
    """The simulation was misused or a core misbehaved (e.g. a message storm)."""


@dataclass(frozen=True, slots=True)
class SimSettings:
    protocol: str = "linkstate"
    seed: int = 0
    tick_ms: int = 10  # converts link latency_ms into delivery delays in ticks
    apply_loss: bool = False  # lose messages with each link's loss probability
    linkstate: LinkStateConfig = field(default_factory=LinkStateConfig)
    distance_vector: DistanceVectorConfig = field(default_factory=DistanceVectorConfig)


@dataclass(frozen=True, slots=True)
class TableChange:
    tick: int
    node: str
    changes: tuple[RouteChange, ...]


@dataclass(order=True, slots=True)
class _InFlight:
    deliver_tick: int
    order: int
    src: str = field(compare=False)
    dst: str = field(compare=False)
    msg: Any = field(compare=False)


def _wire(a: str, b: str) -> frozenset[str]:
    return frozenset((a, b))


class RoutingSim:
    def __init__(self, topology: Topology, settings: SimSettings | None = None) -> None:
        self.settings = settings or SimSettings()
        if self.settings.protocol not in PROTOCOLS:
            raise SimError(f"unknown protocol {self.settings.protocol!r}; known: {PROTOCOLS}")
        self.topology = topology
        self.now_ticks = 0
        self._rng = random.Random(self.settings.seed)
        self._cut: set[frozenset[str]] = set()
        self._dead: set[str] = set()
        self._queue: list[_InFlight] = []
        self._order = 0
        self.history: deque[TableChange] = deque(maxlen=MAX_HISTORY)
        self.sent_total: dict[str, int] = {}
        self.lost_total = 0
        self.converged_flags: dict[str, bool] = {}
        self.cores: dict[str, RoutingProtocol] = {n: self._new_core(n) for n in topology.nodes}
        self.observers: list[Callable[[RoutingSim], None]] = []  # called after every tick

    def describe(self) -> str:
        """The settings that reproduce this run, for a failing test's message."""
        s = self.settings
        return (
            f"seed={s.seed} protocol={s.protocol} tick_ms={s.tick_ms} loss={s.apply_loss} "
            f"{self.topology.text()}; links={[(x.a, x.b, x.cost) for x in self.topology.links]}"
        )

    def _new_core(self, node: str) -> RoutingProtocol:
        peers = self.topology.peers(node)
        core_rng = random.Random(self._rng.getrandbits(64))
        if self.settings.protocol == "linkstate":
            return LinkStateRouter(node, peers, core_rng, self.settings.linkstate)
        return DistanceVectorRouter(node, peers, core_rng, self.settings.distance_vector)

    # -- time ----------------------------------------------------------------

    def tick(self) -> None:
        """Deliver what is due, then tick every live node once."""
        self.now_ticks += 1
        while self._queue and self._queue[0].deliver_tick <= self.now_ticks:
            item = heapq.heappop(self._queue)
            if self._can_cross(item.src, item.dst):
                self._handle(item.dst, self.cores[item.dst].step(item.src, item.msg))
            else:
                self.lost_total += 1
        for node in self.topology.nodes:
            if node not in self._dead:
                self._handle(node, self.cores[node].tick())
        for observe in self.observers:
            observe(self)

    def run(self, ticks: int) -> None:
        for _ in range(ticks):
            self.tick()

    def run_until(self, condition: Callable[[RoutingSim], bool], max_ticks: int) -> int:
        """Tick until ``condition`` holds; return the ticks it took, or raise with the seed."""
        start = self.now_ticks
        while not condition(self):
            if self.now_ticks - start >= max_ticks:
                raise SimError(f"condition not reached within {max_ticks} ticks; {self.describe()}")
            self.tick()
        return self.now_ticks - start

    def run_until_converged(self, max_ticks: int) -> int:
        return self.run_until(RoutingSim.converged, max_ticks)

    # -- the physical network --------------------------------------------------

    def _link_between(self, a: str, b: str) -> Link | None:
        return self.topology.link(a, b) or self.topology.link(b, a)

    def _can_cross(self, src: str, dst: str) -> bool:
        return (
            src not in self._dead
            and dst not in self._dead
            and _wire(src, dst) not in self._cut
            and self._link_between(src, dst) is not None
        )

    def _handle(self, node: str, out: RoutingOutput) -> None:
        for send in out.sends:
            kind = type(send.msg).__name__
            self.sent_total[kind] = self.sent_total.get(kind, 0) + 1
            link = self._link_between(node, send.to)
            if link is None or not self._can_cross(node, send.to):
                self.lost_total += 1
                continue
            if self.settings.apply_loss and self._rng.random() < link.loss:
                self.lost_total += 1
                continue
            if len(self._queue) >= MAX_IN_FLIGHT:
                raise SimError(f"more than {MAX_IN_FLIGHT} messages in flight; {self.describe()}")
            jitter_ms = self._rng.uniform(0, link.jitter_ms) if link.jitter_ms else 0.0
            delay_ticks = max(1, math.ceil((link.latency_ms + jitter_ms) / self.settings.tick_ms))
            self._order += 1
            heapq.heappush(
                self._queue,
                _InFlight(self.now_ticks + delay_ticks, self._order, node, send.to, send.msg),
            )
        if out.changes:
            self.history.append(TableChange(self.now_ticks, node, out.changes))
        self.converged_flags[node] = out.converged

    # -- faults and edits ------------------------------------------------------

    def cut(self, a: str, b: str, notify: bool = False) -> None:
        """Cut the connection between a and b; ``notify``: both ends notice at once."""
        if self._link_between(a, b) is None:
            raise SimError(f"no link between {a} and {b}")
        self._cut.add(_wire(a, b))
        if notify:
            for x, y in ((a, b), (b, a)):
                if x not in self._dead:
                    self._handle(x, self.cores[x].link_down(y))

    def restore(self, a: str, b: str) -> None:
        self._cut.discard(_wire(a, b))

    def kill(self, node: str) -> None:
        self._dead.add(node)

    def restart(self, node: str) -> None:
        """Bring a killed node back with a fresh core: it remembers nothing."""
        self._dead.discard(node)
        self.cores[node] = self._new_core(node)

    def set_topology(self, new: Topology) -> None:
        """Apply a configuration edit: every node whose links changed is told."""
        if set(new.nodes) != set(self.topology.nodes) or new.directed != self.topology.directed:
            raise TopologyError("an edit may change links only, not nodes or direction")
        old, self.topology = self.topology, new
        for node in new.nodes:
            before, after = old.peers(node), new.peers(node)
            if node in self._dead:
                continue
            core = self.cores[node]
            for peer in before.keys() - after.keys():
                self._handle(node, core.remove_link(peer))
            for peer, cost in after.items():
                if peer not in before or before[peer] != cost:
                    self._handle(node, core.set_link(peer, cost))

    # -- what the nodes believe versus the truth --------------------------------

    def tables(self) -> dict[str, ForwardingTable]:
        return {n: c.table for n, c in self.cores.items() if n not in self._dead}

    def live_topology(self) -> Topology:
        """The configured topology minus cut connections and dead nodes' links."""
        links = tuple(
            link
            for link in self.topology.links
            if _wire(link.a, link.b) not in self._cut
            and link.a not in self._dead
            and link.b not in self._dead
        )
        return Topology(self.topology.nodes, links, self.topology.directed)

    def expected_tables(self) -> dict[str, ForwardingTable]:
        """Floyd-Warshall on the live network: what every live node's table should be."""
        infinity = (
            self.settings.distance_vector.infinity
            if self.settings.protocol == "distance_vector"
            else None
        )
        live = self.live_topology()
        everyone = floyd_warshall(live.out_costs(), live.nodes).tables(infinity)
        return {n: t for n, t in everyone.items() if n not in self._dead}

    def converged(self) -> bool:
        return self.tables() == self.expected_tables()

    def wrong_tables(self) -> dict[str, str]:
        """Node → "has … expected …" for every table that differs (for test messages)."""
        expected = self.expected_tables()
        return {
            n: f"has {t.text()!r}, expected {expected[n].text()!r}"
            for n, t in self.tables().items()
            if t != expected[n]
        }

    def two_node_loops(self) -> list[tuple[str, str, str]]:
        """(dst, a, b) where a routes dst via b and b routes it via a: the classic loop."""
        tables = self.tables()
        loops = []
        for a, table in tables.items():
            for dst, route in table.routes.items():
                b = route.next_hop
                if a < b and b in tables and tables[b].next_hop(dst) == a:
                    loops.append((dst, a, b))
        return sorted(loops)
