"""Distance-vector routing (RIP in miniature) for one node, as a pure state machine.

No node sees the map. Each node only tells its neighbours "I can reach X at
cost d", and picks for every destination the neighbour with the lowest
``cost of the link to it + what it says``: Bellman-Ford, computed bit by bit
across the network. It is simpler than link-state, and it has a famous flaw
the laboratory is meant to show.

Rules, as RIP (RFC 2453 §3.9) has them:

* A route learned from neighbour k is replaced by a better offer from anyone,
  and *always* updated by k itself, even to something worse: k knows best.
* A neighbour's update lists what it can reach; a destination it stops
  listing is not withdrawn at once: the route times out after
  ``route_timeout_ticks`` without news. A withdrawn route is advertised at
  the ``infinity`` metric for ``garbage_ticks`` (route poisoning), then
  forgotten. The infinity metric (16 in RIP) is the largest cost the
  protocol can express.
* Updates go out every ``update_interval_ticks``, and at once when a route
  changes (triggered updates; switchable).

Count to infinity. Let A–B–C be a line and the link B–C fail. B's route to C
dies, but A still advertises "C at 2" (through B!). B believes it, routes C
via A at 3, A hears B's 3 and, since B is its next hop, updates to 4, and so
on: a two-node loop whose metric climbs by the link costs each round until
it reaches infinity. The infinity metric is what bounds the damage.

The fixes, switchable so the problem can be shown and then fixed:

* split horizon: never tell k about routes whose next hop is k (A does not
  offer C back to B) — B's route then just times out;
* poison reverse: tell k about them explicitly at infinity — B hears at once
  that A cannot help. It takes precedence over plain split horizon.

Both stop loops between two nodes, not loops through three or more; only
the infinity metric bounds those.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from cluster.core.routing.forwarding import ForwardingTable, Route, RouteChange
from cluster.core.routing.protocol import NoteBuffer, RoutingOutput, Send
from cluster.core.routing.untrusted import MAX_ENTRIES, is_costs
from cluster.schema.routing import DistanceVector

RIP_INFINITY = 16
MAX_INFINITY = 1_000_000  # the metric is carried as an int; this keeps it small and exact


@dataclass(frozen=True, slots=True)
class DistanceVectorConfig:
    """Switches and timers (ticks); the timer ratios are RIP's 30 s / 180 s / 120 s."""

    infinity: int = RIP_INFINITY
    split_horizon: bool = True
    poison_reverse: bool = True
    triggered_updates: bool = True
    update_interval_ticks: int = 30
    route_timeout_ticks: int = 180
    garbage_ticks: int = 120
    converged_after_ticks: int = 100  # quiet this long: the node believes it has converged

    def validate(self) -> DistanceVectorConfig:
        if not 2 <= self.infinity <= MAX_INFINITY:
            raise ValueError(f"infinity must be between 2 and {MAX_INFINITY}, got {self.infinity}")
        for name in (
            "update_interval_ticks",
            "route_timeout_ticks",
            "garbage_ticks",
            "converged_after_ticks",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1 tick")
        if self.route_timeout_ticks <= self.update_interval_ticks:
            raise ValueError("route_timeout_ticks must be longer than update_interval_ticks")
        return self


@dataclass(slots=True)
class _Entry:
    metric: int  # == infinity while the route is being withdrawn
    next_hop: str
    advertised: int  # what next_hop last said, to recompute when the link cost changes
    updated_tick: int
    withdrawn_tick: int | None = None


class DistanceVectorRouter:
    """The distance-vector core of node ``node``; see protocol.py for how to drive it."""

    def __init__(
        self,
        node: str,
        peers: Mapping[str, int | None],
        rng: random.Random,
        config: DistanceVectorConfig | None = None,
    ) -> None:
        self._node = node
        self._config = (config or DistanceVectorConfig()).validate()
        self._peers: dict[str, int | None] = dict(peers)
        self._routes: dict[str, _Entry] = {}
        self._now_ticks = 0
        # A random phase, as RIP recommends, so updates do not synchronise.
        self._next_update_tick = 1 + rng.randrange(self._config.update_interval_ticks)
        self._changed = False
        self._update_due = False  # periodic update owed; sent together with a triggered one
        self._table = ForwardingTable.of(node, {})
        self._last_change_tick = 0
        self._rejected_total = 0
        self._sends: list[Send] = []
        self._notes = NoteBuffer()

    # -- read-only views ---------------------------------------------------

    @property
    def node(self) -> str:
        return self._node

    @property
    def table(self) -> ForwardingTable:
        return self._table

    def ticks_until_due(self) -> int:
        """How many ticks until the first one that may do more than count (see protocol.py).

        Every deadline ``tick`` and ``_finish`` test, as ticks from now: the
        periodic update (its random phase is already in ``_next_update_tick``),
        each live route's timeout, each withdrawn route's garbage collection,
        and the flip to converged. A route timeout and the garbage collection
        fire on the first tick *past* their interval (the tests are ``>``),
        hence the ``+ 1``; the update and the flip fire on the tick that
        reaches theirs (``>=``). Garbage collection sends nothing, but it
        changes what later updates say, so it counts as doing something.
        Triggered updates, ``_changed`` and ``_sends`` need no timer: the
        last call's ``_finish`` already sent or cleared them.
        """
        cfg = self._config
        now = self._now_ticks
        due_ticks = self._next_update_tick - now
        for entry in self._routes.values():
            if entry.withdrawn_tick is None:
                deadline_tick = entry.updated_tick + cfg.route_timeout_ticks + 1
            else:
                deadline_tick = entry.withdrawn_tick + cfg.garbage_ticks + 1
            due_ticks = min(due_ticks, deadline_tick - now)
        if now - self._last_change_tick < cfg.converged_after_ticks:
            due_ticks = min(due_ticks, self._last_change_tick + cfg.converged_after_ticks - now)
        if self._changed or self._update_due or self._sends:
            return 1  # never left pending by _finish; if it were, the next tick would act
        return max(1, due_ticks)

    @property
    def rejected_total(self) -> int:
        return self._rejected_total

    @property
    def config(self) -> DistanceVectorConfig:
        return self._config

    def metrics(self) -> dict[str, tuple[int, str]]:
        """Every route held, withdrawn ones too: dst → (metric, next hop)."""
        return {d: (e.metric, e.next_hop) for d, e in sorted(self._routes.items())}

    def vector_for(self, peer: str) -> DistanceVector:
        """The update this node sends to ``peer``, after split horizon / poison reverse."""
        cfg = self._config
        entries = {self._node: 0}
        for dst, entry in self._routes.items():
            if entry.next_hop == peer and cfg.poison_reverse:
                entries[dst] = cfg.infinity
            elif entry.next_hop == peer and cfg.split_horizon:
                continue
            else:
                entries[dst] = entry.metric
        return DistanceVector(entries)

    # -- inputs ------------------------------------------------------------

    def tick(self) -> RoutingOutput:
        self._now_ticks += 1
        cfg = self._config
        for dst in list(self._routes):
            entry = self._routes[dst]
            if entry.withdrawn_tick is None:
                if self._now_ticks - entry.updated_tick > cfg.route_timeout_ticks:
                    self._withdraw(dst, f"no update from {entry.next_hop} for a timeout")
            elif self._now_ticks - entry.withdrawn_tick > cfg.garbage_ticks:
                del self._routes[dst]  # it was advertised as unreachable long enough
        if self._now_ticks >= self._next_update_tick:
            self._next_update_tick = self._now_ticks + cfg.update_interval_ticks
            self._update_due = True
        return self._finish()

    def step(self, frm: str, msg: object) -> RoutingOutput:
        if frm not in self._peers:
            self._reject(f"message from {frm!r}, which is not a neighbour")
        elif not isinstance(msg, DistanceVector):
            self._reject(f"{type(msg).__name__} from {frm} is not a distance vector")
        elif not is_costs(msg.entries, 0, MAX_INFINITY):
            self._reject(f"malformed distance vector from {frm}")
        else:
            self._on_vector(frm, msg.entries)
        return self._finish()

    def set_link(self, peer: str, cost: int | None) -> RoutingOutput:
        if peer not in self._peers:
            self._peers[peer] = cost
            self._sends.append(Send(peer, self.vector_for(peer)))  # let it learn us now
            self._notes.add(f"link to {peer} added")
        elif self._peers[peer] != cost:
            self._peers[peer] = cost
            self._notes.add(f"cost to {peer} is now {cost}")
            for dst, entry in list(self._routes.items()):
                if entry.next_hop == peer and entry.withdrawn_tick is None:
                    if cost is None:
                        self._withdraw(dst, f"cannot forward to {peer} any more")
                    else:
                        self._set_metric(dst, entry, min(entry.advertised + cost, self._infinity))
        return self._finish()

    def remove_link(self, peer: str) -> RoutingOutput:
        self._peers.pop(peer, None)
        self._lose(peer, "link removed")
        return self._finish()

    def link_down(self, peer: str) -> RoutingOutput:
        self._lose(peer, "connection lost")
        return self._finish()

    # -- Bellman-Ford, one neighbour's vector at a time ----------------------

    @property
    def _infinity(self) -> int:
        return self._config.infinity

    def _on_vector(self, frm: str, entries: Mapping[str, int]) -> None:
        cost = self._peers[frm]
        if cost is None:
            return  # we cannot forward to frm, so nothing it reaches helps us
        for dst, advertised in entries.items():
            if dst == self._node:
                continue
            offer = min(advertised + cost, self._infinity)
            entry = self._routes.get(dst)
            if entry is None:
                if offer < self._infinity and len(self._routes) < MAX_ENTRIES:
                    self._routes[dst] = _Entry(offer, frm, advertised, self._now_ticks)
                    self._changed = True
            elif entry.next_hop == frm:
                # Our current next hop speaks for the route, good news or bad.
                entry.advertised = advertised
                if offer < self._infinity:
                    entry.updated_tick = self._now_ticks
                self._set_metric(dst, entry, offer)
            elif offer < entry.metric or (
                offer == entry.metric < self._infinity and frm < entry.next_hop
            ):
                # A better offer; on a tie, the smaller name wins, so converged
                # tables match the canonical next hop of dijkstra.py.
                self._routes[dst] = _Entry(offer, frm, advertised, self._now_ticks)
                self._changed = True

    def _set_metric(self, dst: str, entry: _Entry, metric: int) -> None:
        if metric >= self._infinity:
            if entry.withdrawn_tick is None:
                self._withdraw(dst, f"{entry.next_hop} reports it unreachable")
            return
        if metric != entry.metric or entry.withdrawn_tick is not None:
            entry.metric = metric
            entry.withdrawn_tick = None
            self._changed = True

    def _withdraw(self, dst: str, why: str) -> None:
        entry = self._routes[dst]
        entry.metric = self._infinity
        entry.withdrawn_tick = self._now_ticks
        self._changed = True
        self._notes.add(f"route to {dst} withdrawn: {why}")

    def _lose(self, peer: str, why: str) -> None:
        for dst, entry in list(self._routes.items()):
            if entry.next_hop == peer and entry.withdrawn_tick is None:
                self._withdraw(dst, f"{peer}: {why}")

    def _send_updates(self) -> None:
        for peer in self._peers:
            self._sends.append(Send(peer, self.vector_for(peer)))

    def _reject(self, why: str) -> None:
        self._rejected_total += 1
        self._notes.add(f"rejected: {why}")

    def _finish(self) -> RoutingOutput:
        table = None
        changes: tuple[RouteChange, ...] = ()
        if self._changed:
            self._changed = False
            self._last_change_tick = self._now_ticks
            self._update_due |= self._config.triggered_updates
            new = ForwardingTable.of(
                self._node,
                {
                    d: Route(e.next_hop, e.metric)
                    for d, e in self._routes.items()
                    if e.metric < self._infinity
                },
            )
            if new != self._table:
                changes = tuple(self._table.diff(new))
                self._table = table = new
        if self._update_due:
            self._update_due = False
            self._send_updates()
        sends, self._sends = tuple(self._sends), []
        converged = self._now_ticks - self._last_change_tick >= self._config.converged_after_ticks
        return RoutingOutput(sends, table, changes, converged, self._notes.take())
