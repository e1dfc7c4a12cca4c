"""Routing inside a node process: the pure routing core, driven by real time and real links.

Each node computes its own forwarding table (DESIGN.md): no one hands it
routes. This module is the shell around the core of cluster/core/routing,
in the style of etcd's raft: it feeds the core time (``tick`` every
``routing_tick_ms × time_scale``), the routing messages that arrive from neighbours
(``step``), and what the transport learns about links (``set_link``,
``remove_link``, ``link_down``), and it carries out what each call returns:

* ``sends`` go one hop to a neighbour (``send_link``): routing's messages are
  about links and must never depend on the routes they build;
* a new ``table`` becomes the node's forwarding table at once and is
  reported as a ``RouteTable`` event, with its changes;
* the core's ``converged`` belief is reported when it flips.

Link death is detected twice over: the core declares a neighbour dead after
``dead_interval_ticks`` without a hello (a paused process, a cut cable), and
the transport reports a lost TCP connection (a killed process) at once.
"""

from __future__ import annotations

import logging
import math
import random
from typing import Any

from cluster.core.routing.distance_vector import DistanceVectorConfig, DistanceVectorRouter
from cluster.core.routing.linkstate import LinkStateConfig, LinkStateRouter
from cluster.core.routing.protocol import RoutingOutput, RoutingProtocol
from cluster.node.clock import LazyTicker, wall_ms
from cluster.node.node import Node
from cluster.schema.messages import Envelope
from cluster.schema.routing import DistanceVector, LinkStateAdvert, RoutingHello
from cluster.schema.telemetry import RouteTable

log = logging.getLogger(__name__)

# What the dashboard and GET /api/route call each protocol's way of computing.
ALGORITHMS = {
    "link-state": "link-state (Dijkstra)",
    "distance-vector": "distance-vector (Bellman-Ford)",
}
# After a stall (a paused process, a busy core) the loop does not replay every
# missed tick in a burst: that would declare every neighbour dead before their
# waiting hellos are read. At most this many ticks late, the rest are skipped.
MAX_TICKS_BEHIND = 5
# A neighbour is declared dead after at least this much silence, whatever the
# tick. A 2-core laptop running dozens of Python processes can leave one of
# them unscheduled for a second; declaring its neighbours dead then floods
# the network with changes that make the starvation worse (we saw a 20-node
# mesh flap for minutes). A killed node is still noticed at once (its TCP
# connection closes) and a cut link too (both ends are told); only a silent
# failure, such as a paused process, waits this long.
MIN_DEAD_INTERVAL_MS = 2000
# OSPF's MinLSInterval, with a wall-clock floor for the same reason: a node
# whose neighbours flap issues at most two new LSAs a second, not one per
# change. A single cut is not delayed (the previous LSA is long past).
MIN_LSA_INTERVAL_MS = 500
# Each new LSA goes to every neighbour: with 49 of them (a 50-node mesh
# starting up, its adjacencies changing all the time) two LSAs a second
# would be a hundred messages a second per node. The interval grows with
# the neighbour count to keep a node near this many LSA messages a second
# (at 49 neighbours that is OSPF's own MinLSInterval, 5 s).
LSA_MSGS_PER_S_PER_NODE = 10
# Dijkstra costs about N² log N: ~50 µs for 5 nodes, ~3 ms for 50. At most one
# run per N² × this many ms keeps it under ~1 % of a node's CPU: every tick
# for a 5-node lesson, about once a second for 50 nodes.
SPF_INTERVAL_MS_PER_NODE_SQUARED = 0.4


def _ticks(interval_ms: float, routing_tick_ms: int) -> int:
    return max(1, math.ceil(interval_ms / routing_tick_ms))


def shell_linkstate(routing_tick_ms: int, degree: int, nodes: int) -> LinkStateConfig:
    """The shell's link-state settings for this tick, neighbour count and network size.

    The core's defaults, plus the dead-interval floor above and the OSPF
    mechanisms that keep a dense network (the default full mesh of up to 50
    nodes) from drowning in its own flooding: a minimum interval between our
    own LSAs, no re-flooding of a copy the origin sends everyone itself, and
    a hold time between two runs of Dijkstra instead of one per LSA received.
    """
    base = LinkStateConfig()
    lsa_ms = max(MIN_LSA_INTERVAL_MS, 1000 * degree / LSA_MSGS_PER_S_PER_NODE)
    return LinkStateConfig(
        dead_interval_ticks=max(
            base.dead_interval_ticks, _ticks(MIN_DEAD_INTERVAL_MS, routing_tick_ms)
        ),
        min_lsa_interval_ticks=max(base.hello_interval_ticks // 2, _ticks(lsa_ms, routing_tick_ms)),
        flood_reduction=True,
        spf_interval_ticks=_ticks(SPF_INTERVAL_MS_PER_NODE_SQUARED * nodes**2, routing_tick_ms),
    )


def make_core(node: Node) -> RoutingProtocol:
    """The routing core the node's config asks for, seeded by the run's seed."""
    config = node.config
    peers = {n.peer: n.cost for n in node.neighbours.values()}
    # Only the phase of the periodic timers is random; a seed per node keeps
    # a run's routing traffic repeatable.
    rng = random.Random(f"{config.seed}/{node.id}/routing")
    if config.routing == "distance-vector":
        dv = DistanceVectorConfig(
            split_horizon=config.split_horizon, poison_reverse=config.poison_reverse
        )
        return DistanceVectorRouter(node.id, peers, rng, dv)
    settings = shell_linkstate(config.routing_tick_ms, len(peers), len(node.address_book) + 1)
    return LinkStateRouter(node.id, peers, rng, settings)


class Routing:
    def __init__(self, node: Node) -> None:
        self._node = node
        self.core = make_core(node)
        self.algorithm = ALGORITHMS.get(node.config.routing, node.config.routing)
        self.converged = False
        self._ticker = LazyTicker(
            node.clock,
            node.config.routing_tick_ms,
            lambda: self._apply(self.core.tick()),
            self.core.ticks_until_due,
            MAX_TICKS_BEHIND,
        )
        for message_type in (RoutingHello, LinkStateAdvert, DistanceVector):
            node.on(message_type, self._on_message)
        node.watch_links(self._on_link)

    async def run(self) -> None:
        """Tick the core every ``tick_ms`` of scaled time, until cancelled.

        The core says how many ticks only count (``ticks_until_due``): the
        ticker (clock.LazyTicker) sleeps through them, so an idle node wakes
        for its hellos and timers, not every 10 ms. The skipped ticks are
        delivered before any message or link change reaches the core.
        """
        await self._ticker.run()

    @property
    def ticks(self) -> int:
        return self._ticker.ticks

    # -- inputs --------------------------------------------------------------

    def _on_message(self, env: Envelope) -> None:
        # Routing messages travel one hop, so the source is the neighbour that sent it.
        if env.src not in self._node.neighbours:
            self._node.counters["routing_not_neighbour"] += 1
            return
        self._ticker.catch_up()
        self._apply(self.core.step(env.src, env.body))
        self._ticker.replan()

    def _on_link(self, peer: str, change: str) -> None:
        self._ticker.catch_up()
        self._on_link_change(peer, change)
        self._ticker.replan()

    def _on_link_change(self, peer: str, change: str) -> None:
        neighbours = self._node.neighbours
        if change in ("added", "cost") and peer in neighbours:
            self._apply(self.core.set_link(peer, neighbours[peer].cost))
        elif change == "removed":
            self._apply(self.core.remove_link(peer))
        elif change == "down" and peer in neighbours:
            self._apply(self.core.link_down(peer))

    # -- outputs -------------------------------------------------------------

    def _apply(self, out: RoutingOutput) -> None:
        node = self._node
        for send in out.sends:
            node.send_link(send.to, send.msg)
        if out.table is not None:
            node.set_table(out.table)
        flipped = out.converged != self.converged
        self.converged = out.converged
        if out.table is not None or flipped:
            node.emit(self.table_event([c.text() for c in out.changes]))
        for note in out.notes:
            log.info("%s routing: %s", node.id, note)
        rejected = self.core.rejected_total
        if rejected:
            node.counters["routing_rejected"] = rejected

    def table_event(self, changes: list[str] | None = None) -> RouteTable:
        node = self._node
        table: dict[str, dict[str, Any]] = dict(node.table.to_dict())
        return RouteTable(node.id, wall_ms(), self.algorithm, table, self.converged, changes or [])

    def status(self) -> dict[str, Any]:
        """What GET /status shows of routing."""
        self._ticker.catch_up()
        return {
            "algorithm": self.algorithm,
            "converged": self.converged,
            "table": self._node.table.to_dict(),
            "ticks": self.ticks,
        }
