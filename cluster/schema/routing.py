"""Wire messages of the routing protocols and of the trace (traceroute) probe.

Routing cores (cluster/core/routing) produce and consume these; the node
shell carries them in an ``Envelope`` to a *neighbour* only (routing's own
messages are never forwarded hop by hop: that is what they build). Trace
probes are the exception: they are ordinary routed messages that record the
path they take.

The registry checks only the outer type of each field; the routing cores
validate what is inside (costs are positive integers, names are strings,
sizes are bounded) and drop a bad message with a counter, never crash.
"""

from __future__ import annotations

from dataclasses import dataclass

from cluster.schema.messages import wire

# A hop record of a trace: (node, that node's route cost to the target or -1
# when it had no route, the shell's wall-clock time in ms when it handled it).
TraceHop = tuple[str, int, float]


def _pairs(costs: dict[str, int]) -> str:
    return ",".join(f"{peer}:{cost}" for peer, cost in sorted(costs.items()))


@wire
@dataclass(frozen=True, slots=True)
class RoutingHello:
    """Periodic "I am here" on every link, listing the neighbours ``node`` hears.

    Hearing one's own name in a neighbour's hello proves the link works both
    ways (OSPF's two-way check); only then is the neighbour used for routes.
    """

    node: str
    heard: list[str]

    def text(self) -> str:
        return f"Hello {self.node} heard [{','.join(sorted(self.heard))}]"


@wire
@dataclass(frozen=True, slots=True)
class LinkStateAdvert:
    """What ``origin`` says about its own links, flooded to every node.

    ``seq`` grows with every new version from the origin: a node keeps and
    forwards only the highest it has seen. ``age_ticks`` is how long the
    sender has held this copy; a copy older than the maximum age is dropped,
    which clears the advertisements of nodes that died. ``neighbours`` are
    the links the origin can forward on, with costs; ``heard`` are all the
    neighbours it has a working two-way connection with.
    """

    origin: str
    seq: int
    age_ticks: int
    neighbours: dict[str, int]
    heard: list[str]

    def text(self) -> str:
        return f"LSA {self.origin} #{self.seq} age {self.age_ticks} {{{_pairs(self.neighbours)}}}"


@wire
@dataclass(frozen=True, slots=True)
class DistanceVector:
    """The sender's distance to every destination it knows (RIP-style full update).

    A metric equal to the infinity metric means "unreachable through me": it
    is how a route is withdrawn (poisoned) and what poison reverse sends back.
    """

    entries: dict[str, int]

    def text(self) -> str:
        return f"DV {{{_pairs(self.entries)}}}"


@wire
@dataclass(frozen=True, slots=True)
class TraceProbe:
    """A routed probe from ``origin`` to ``target`` that records every hop."""

    origin: str
    target: str
    probe_id: int
    hops: list[TraceHop]

    def text(self) -> str:
        path = "→".join(h[0] for h in self.hops) or self.origin
        return f"Trace #{self.probe_id} {self.origin}⇢{self.target} via {path}"


@wire
@dataclass(frozen=True, slots=True)
class TraceReply:
    """The recorded path of a probe, sent back to its origin.

    ``reached`` is False when a node on the way had no route or the hop budget
    ran out; ``reason`` then says which (``no_route``, ``ttl``), else it is "".
    """

    origin: str
    target: str
    probe_id: int
    hops: list[TraceHop]
    reached: bool
    reason: str

    def text(self) -> str:
        path = "→".join(h[0] for h in self.hops)
        outcome = "reached" if self.reached else f"failed ({self.reason})"
        return f"TraceReply #{self.probe_id} {outcome} via {path}"
