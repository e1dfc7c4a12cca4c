"""The forwarding table and the one decision every node makes per message.

Both routing protocols end in the same value: for each destination, the
neighbour to hand a message to and what the whole path costs. Keeping that
value separate from the protocols lets the node shell forward without
knowing which protocol built the table, lets the backend compare a node's
table with the global view using ``==``, and gives the dashboard one shape
to draw.

Hop budget (TTL). A message carries how many more hops it may take. A node
that is not the destination spends one hop to forward it; a message that
arrives with no budget left at a node that is not its destination is
dropped. A routing loop therefore costs at most ``ttl`` transmissions per
message instead of melting the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from cluster.schema.routing import TraceHop, TraceProbe, TraceReply

NO_ROUTE_COST = -1  # recorded in a trace hop when the node had no route to the target


@dataclass(frozen=True, slots=True)
class Route:
    next_hop: str
    cost: int


@dataclass(frozen=True, slots=True)
class RouteChange:
    """One line of a table diff; ``before``/``after`` is None for an added/removed route."""

    dst: str
    before: Route | None
    after: Route | None

    def text(self) -> str:
        def show(r: Route | None) -> str:
            return "-" if r is None else f"{r.next_hop}/{r.cost}"

        return f"{self.dst}: {show(self.before)} → {show(self.after)}"


@dataclass(frozen=True, slots=True)
class ForwardingTable:
    """Routes of ``node`` to every destination it can reach (never itself)."""

    node: str
    routes: Mapping[str, Route] = field(default_factory=lambda: MappingProxyType({}))

    @staticmethod
    def of(node: str, routes: Mapping[str, Route]) -> ForwardingTable:
        """Build from a plain dict; the copy is read-only so the value stays a value."""
        return ForwardingTable(node, MappingProxyType(dict(sorted(routes.items()))))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ForwardingTable):
            return NotImplemented
        return self.node == other.node and dict(self.routes) == dict(other.routes)

    def __hash__(self) -> int:
        return hash((self.node, tuple(sorted(self.routes.items()))))

    def next_hop(self, dst: str) -> str | None:
        route = self.routes.get(dst)
        return None if route is None else route.next_hop

    def cost(self, dst: str) -> int | None:
        """Cost to ``dst``: 0 to itself, None when unreachable."""
        if dst == self.node:
            return 0
        route = self.routes.get(dst)
        return None if route is None else route.cost

    def decide(self, dst: str, ttl: int) -> Deliver | Forward | Drop:
        """What to do with a message for ``dst`` that has ``ttl`` hops of budget left."""
        if dst == self.node:
            return Deliver()
        if ttl <= 0:
            return Drop("ttl")
        route = self.routes.get(dst)
        if route is None:
            return Drop("no_route")
        return Forward(route.next_hop, ttl - 1)

    def diff(self, newer: ForwardingTable) -> list[RouteChange]:
        """What changed from this table to ``newer``, by destination."""
        changes = []
        for dst in sorted(set(self.routes) | set(newer.routes)):
            before, after = self.routes.get(dst), newer.routes.get(dst)
            if before != after:
                changes.append(RouteChange(dst, before, after))
        return changes

    def to_dict(self) -> dict[str, dict[str, str | int]]:
        """JSON form for telemetry and the dashboard: ``{dst: {next_hop, cost}}``."""
        return {d: {"next_hop": r.next_hop, "cost": r.cost} for d, r in self.routes.items()}

    def text(self) -> str:
        body = " ".join(f"{d}→{r.next_hop}/{r.cost}" for d, r in self.routes.items())
        return f"{self.node}: {body or '(no routes)'}"


@dataclass(frozen=True, slots=True)
class Deliver:
    """The message is for this node."""


@dataclass(frozen=True, slots=True)
class Forward:
    """Send the message to neighbour ``next_hop`` with ``ttl`` hops of budget left."""

    next_hop: str
    ttl: int


@dataclass(frozen=True, slots=True)
class Drop:
    """Do not send; ``reason`` is ``no_route`` or ``ttl`` (the MsgDropped reasons)."""

    reason: str


def trace_step(
    table: ForwardingTable, probe: TraceProbe, ttl: int, t_ms: float
) -> tuple[Deliver | Forward | Drop, TraceProbe, TraceReply | None]:
    """Handle a trace probe at ``table.node``: record this hop, then decide.

    Returns the decision, the probe with this hop appended (to forward when
    the decision is Forward), and the reply to route back to the probe's
    origin when the probe ends here (reached, or dropped). ``t_ms`` comes
    from the shell's clock: the core only copies it into the record.
    """
    cost = table.cost(probe.target)
    hop: TraceHop = (table.node, NO_ROUTE_COST if cost is None else cost, t_ms)
    recorded = TraceProbe(probe.origin, probe.target, probe.probe_id, [*probe.hops, hop])
    decision = table.decide(probe.target, ttl)
    reply = None
    if isinstance(decision, Deliver):
        reply = TraceReply(probe.origin, probe.target, probe.probe_id, recorded.hops, True, "")
    elif isinstance(decision, Drop):
        reply = TraceReply(
            probe.origin, probe.target, probe.probe_id, recorded.hops, False, decision.reason
        )
    return decision, recorded, reply
