"""Link-state routing (OSPF in miniature) for one node, as a pure state machine.

Every node tells every other node who its neighbours are, so that all hold
the same map of the network and each runs Dijkstra on it from itself. Four
mechanisms, each a few lines below:

1. Hellos. Every ``hello_interval_ticks`` the node says hello on each link,
   listing the neighbours it hears. A neighbour is *up* when its hello lists
   us (the link works both ways: OSPF's two-way check) and *down* when no
   hello came for ``dead_interval_ticks`` or the transport reported the loss.
2. Origination. When its set of up neighbours or a link cost changes, and
   every ``lsa_refresh_ticks`` anyway, the node issues a new link-state
   advertisement (LSA) about itself with the next sequence number.
3. Flooding. An LSA newer than the stored copy (higher ``seq``) is stored and
   passed to every up neighbour except the one it came from; an older one is
   answered with our newer copy; an equal one is ignored, which is what stops
   the flood. A neighbour that comes up gets our whole database.
4. SPF. After the database changes, Dijkstra (dijkstra.py) over the arcs
   that *both* ends confirm gives the forwarding table.

Ageing: each stored LSA ages one per tick and is dropped at
``lsa_max_age_ticks``; refreshing well before that keeps live nodes' LSAs,
while a dead node's LSA disappears on its own. A restarted node starts
again at sequence 1; when its own old LSA comes back to it with a higher
number, it jumps past that number (OSPF does the same), otherwise everyone
would ignore its new advertisements until the old ones aged out.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cluster.core.routing.dijkstra import dijkstra
from cluster.core.routing.forwarding import ForwardingTable, Route, RouteChange
from cluster.core.routing.protocol import NoteBuffer, RoutingOutput, Send
from cluster.core.routing.untrusted import MAX_ENTRIES, is_costs, is_count, is_name, is_names
from cluster.schema.routing import LinkStateAdvert, RoutingHello


@dataclass(frozen=True, slots=True)
class LinkStateConfig:
    """Timers in ticks; defaults suit ``tick_ms`` = 10 (hello every 100 ms)."""

    hello_interval_ticks: int = 10
    dead_interval_ticks: int = 40  # four missed hellos, as OSPF's default ratio
    lsa_refresh_ticks: int = 600
    lsa_max_age_ticks: int = 1800  # three refreshes may be lost before a live LSA expires
    converged_after_ticks: int = 50  # quiet this long: the node believes it has converged
    # OSPF's MinLSInterval (RFC 2328 §12.4): at most one new LSA of our own per
    # this many ticks; changes in between are folded into the next one. 0: at once.
    # Bad news is exempt: a link that went down or was removed is advertised at
    # once, or the others would keep routing into it (a loop or a black hole);
    # only good news waits, which is what a network starting up is made of.
    min_lsa_interval_ticks: int = 0
    # Flooding reduction for dense networks: an LSA is never passed to a
    # neighbour that its origin lists as heard, because the origin sends its
    # LSA to exactly those neighbours itself (when it originates it, and in its
    # database when they come up); and a newcomer gets the database from one
    # neighbour of its part of the network, not from all (see _dump_to). In a
    # full mesh of n nodes a flood then costs n − 1 messages instead of about
    # n². A copy lost on the way is repaired by the origin's next refresh
    # instead of by a duplicate.
    flood_reduction: bool = False
    # OSPF's SPF hold time: Dijkstra runs at most once per this many ticks,
    # however many LSAs arrive in between (a 50-node network starting up
    # delivers thousands). 0: after every change, at once.
    spf_interval_ticks: int = 0

    def validate(self) -> LinkStateConfig:
        for name in self.__dataclass_fields__:
            if name in ("min_lsa_interval_ticks", "flood_reduction", "spf_interval_ticks"):
                continue
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1 tick")
        if self.min_lsa_interval_ticks < 0 or self.spf_interval_ticks < 0:
            raise ValueError("min_lsa_interval_ticks and spf_interval_ticks must not be negative")
        if self.dead_interval_ticks <= self.hello_interval_ticks:
            raise ValueError("dead_interval_ticks must be longer than hello_interval_ticks")
        if self.lsa_max_age_ticks <= self.lsa_refresh_ticks:
            raise ValueError("lsa_max_age_ticks must be longer than lsa_refresh_ticks")
        return self


@dataclass(slots=True)
class _Neighbour:
    cost: int | None  # None: we may not forward to it (directed link pointing at us)
    last_heard_tick: int | None = None
    up: bool = False


@dataclass(slots=True)
class _Stored:
    lsa: LinkStateAdvert
    age_ticks: int


class LinkStateRouter:
    """The link-state core of node ``node``; see protocol.py for how to drive it."""

    def __init__(
        self,
        node: str,
        peers: Mapping[str, int | None],
        rng: random.Random,
        config: LinkStateConfig | None = None,
    ) -> None:
        self._node = node
        self._config = (config or LinkStateConfig()).validate()
        self._neighbours = {p: _Neighbour(c) for p, c in peers.items()}
        self._db: dict[str, _Stored] = {}
        self._seq = 0
        self._now_ticks = 0
        # A random phase keeps all nodes from saying hello in the same tick.
        self._next_hello_tick = 1 + rng.randrange(self._config.hello_interval_ticks)
        self._next_refresh_tick = self._config.lsa_refresh_ticks
        self._own_dirty = True  # the first call originates our first LSA
        self._last_origination_tick: int | None = None
        self._last_spf_tick: int | None = None
        self._own_links_changed = False
        self._bad_news = False  # a link of ours went down: advertise without waiting
        self._db_dirty = False
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

    @property
    def rejected_total(self) -> int:
        return self._rejected_total

    @property
    def seq(self) -> int:
        """Sequence number of our latest LSA."""
        return self._seq

    def up_neighbours(self) -> list[str]:
        return sorted(p for p, n in self._neighbours.items() if n.up)

    def database(self) -> dict[str, LinkStateAdvert]:
        """The LSDB as the dashboard shows it: origin → latest LSA (with its current age)."""
        return {
            origin: LinkStateAdvert(
                s.lsa.origin, s.lsa.seq, s.age_ticks, s.lsa.neighbours, s.lsa.heard
            )
            for origin, s in sorted(self._db.items())
        }

    # -- inputs ------------------------------------------------------------

    def tick(self) -> RoutingOutput:
        self._now_ticks += 1
        cfg = self._config
        for origin in list(self._db):
            stored = self._db[origin]
            stored.age_ticks += 1
            if origin != self._node and stored.age_ticks >= cfg.lsa_max_age_ticks:
                del self._db[origin]
                self._db_dirty = True
                self._notes.add(f"LSA of {origin} expired (age {stored.age_ticks} ticks)")
        for peer, nb in self._neighbours.items():
            silent = nb.last_heard_tick is None or (
                self._now_ticks - nb.last_heard_tick > cfg.dead_interval_ticks
            )
            if nb.up and silent:
                self._set_down(peer, f"no hello for {cfg.dead_interval_ticks} ticks")
        if self._now_ticks >= self._next_hello_tick:
            self._next_hello_tick = self._now_ticks + cfg.hello_interval_ticks
            for peer in self._neighbours:
                self._sends.append(Send(peer, self._hello()))
        if self._now_ticks >= self._next_refresh_tick:
            self._own_dirty = True
        return self._finish()

    def ticks_until_due(self) -> int:
        """How many ticks until the first one that may do more than count (see protocol.py).

        Every timer ``tick`` and ``_finish`` consult, as ticks from now: the
        next hello and refresh, a neighbour's dead interval, an LSA's
        expiry, a held-back origination or SPF run, and the flip to
        converged. Anything else pending (``_sends``, notes) was handed out
        by the last call.
        """
        cfg = self._config
        now = self._now_ticks
        due = min(self._next_hello_tick, self._next_refresh_tick) - now
        for nb in self._neighbours.values():
            if nb.up:
                if nb.last_heard_tick is None:
                    return 1
                due = min(due, nb.last_heard_tick + cfg.dead_interval_ticks + 1 - now)
        for origin, stored in self._db.items():
            if origin != self._node:
                due = min(due, cfg.lsa_max_age_ticks - stored.age_ticks)
        if self._own_dirty:
            last = self._last_origination_tick
            if self._bad_news or last is None:
                return 1
            due = min(due, last + cfg.min_lsa_interval_ticks - now)
        if self._own_links_changed:
            return 1
        if self._db_dirty:
            if self._last_spf_tick is None:
                return 1
            due = min(due, self._last_spf_tick + cfg.spf_interval_ticks - now)
        if now - self._last_change_tick < cfg.converged_after_ticks:
            due = min(due, self._last_change_tick + cfg.converged_after_ticks - now)
        return max(1, due)

    def step(self, frm: str, msg: object) -> RoutingOutput:
        if frm not in self._neighbours:
            self._reject(f"message from {frm!r}, which is not a neighbour")
        elif isinstance(msg, RoutingHello):
            self._on_hello(frm, msg)
        elif isinstance(msg, LinkStateAdvert):
            self._on_lsa(frm, msg)
        else:
            self._reject(f"{type(msg).__name__} from {frm} is not a link-state message")
        return self._finish()

    def set_link(self, peer: str, cost: int | None) -> RoutingOutput:
        nb = self._neighbours.get(peer)
        if nb is None:
            self._neighbours[peer] = _Neighbour(cost)
            self._sends.append(Send(peer, self._hello()))  # start the two-way check now
            self._notes.add(f"link to {peer} added")
        elif nb.cost != cost:
            nb.cost = cost
            self._own_dirty |= nb.up
            self._own_links_changed = True  # recompute at once (see _spf)
            self._notes.add(f"cost to {peer} is now {cost}")
        return self._finish()

    def remove_link(self, peer: str) -> RoutingOutput:
        nb = self._neighbours.pop(peer, None)
        if nb is not None:
            self._own_dirty |= nb.up
            self._bad_news |= nb.up
            self._own_links_changed = True  # recompute at once (see _spf)
            self._notes.add(f"link to {peer} removed")
        return self._finish()

    def link_down(self, peer: str) -> RoutingOutput:
        nb = self._neighbours.get(peer)
        if nb is not None:
            nb.last_heard_tick = None
            if nb.up:
                self._set_down(peer, "connection lost")
        return self._finish()

    # -- the four mechanisms -------------------------------------------------

    def _hello(self) -> RoutingHello:
        heard = [
            p
            for p, n in self._neighbours.items()
            if n.last_heard_tick is not None
            and self._now_ticks - n.last_heard_tick <= self._config.dead_interval_ticks
        ]
        return RoutingHello(self._node, sorted(heard))

    def _on_hello(self, frm: str, msg: RoutingHello) -> None:
        if msg.node != frm or not is_names(msg.heard):
            self._reject(f"malformed hello from {frm}")
            return
        nb = self._neighbours[frm]
        nb.last_heard_tick = self._now_ticks
        two_way = self._node in msg.heard
        if two_way and not nb.up:
            nb.up = True
            self._own_dirty = True
            self._own_links_changed = True  # recompute at once (see _spf)
            self._notes.add(f"{frm} up (two-way hello)")
            # Tell it at once that we hear it, and hand over our whole database.
            self._sends.append(Send(frm, self._hello()))
            for origin, stored in self._db.items():
                if origin == self._node or self._dump_to(frm, msg.heard, stored.lsa):
                    self._sends.append(Send(frm, self._copy(stored)))
        elif not two_way:
            if nb.up:
                self._set_down(frm, "its hello no longer lists us (restarted?)")
            self._sends.append(Send(frm, self._hello()))  # so it can hear us too

    def _dump_to(self, peer: str, peer_heard: list[str], lsa: LinkStateAdvert) -> bool:
        """Whether a new neighbour needs this LSA from us in the database exchange.

        Always, without flooding reduction. With it: not if the origin lists
        the neighbour as heard (the origin sends it itself), and not if we and
        the neighbour already share an up neighbour with a smaller name than
        ours: the neighbour is then in our part of the network, and that one
        hands it the database (in a full mesh, one dump per newcomer instead
        of one from every neighbour).
        """
        if not self._config.flood_reduction:
            return True
        if peer in lsa.heard:
            return False
        common = set(peer_heard) & {p for p, n in self._neighbours.items() if n.up}
        common -= {peer, self._node}
        return not common or self._node < min(common)

    def _on_lsa(self, frm: str, msg: LinkStateAdvert) -> None:
        if not (
            is_name(msg.origin)
            and is_count(msg.seq, 1)
            and is_count(msg.age_ticks)
            and is_costs(msg.neighbours)
            and is_names(msg.heard)
        ):
            self._reject(f"malformed LSA from {frm}")
            return
        if msg.origin == self._node:
            if msg.seq >= self._seq:
                # Our own LSA from a previous life: jump past it and re-originate.
                self._seq = msg.seq
                self._own_dirty = True
            return
        if msg.age_ticks >= self._config.lsa_max_age_ticks:
            return  # expired in transit: it says nothing current
        stored = self._db.get(msg.origin)
        if stored is None or msg.seq > stored.lsa.seq:
            if stored is None and len(self._db) >= MAX_ENTRIES:
                self._reject(f"LSDB full ({MAX_ENTRIES} origins): LSA of {msg.origin} ignored")
                return
            lsa = LinkStateAdvert(msg.origin, msg.seq, 0, dict(msg.neighbours), list(msg.heard))
            self._install(lsa, msg.age_ticks)
            skip = msg.heard if self._config.flood_reduction else ()
            self._flood(self._db[msg.origin], exclude=frm, skip=skip)
        elif msg.seq < stored.lsa.seq:
            self._sends.append(Send(frm, self._copy(stored)))  # it is behind: catch it up

    def _originate(self) -> None:
        self._last_origination_tick = self._now_ticks
        self._seq += 1
        up = [p for p, n in self._neighbours.items() if n.up]
        costs = {p: c for p in up if (c := self._neighbours[p].cost) is not None}
        self._install(LinkStateAdvert(self._node, self._seq, 0, costs, sorted(up)), 0)
        self._flood(self._db[self._node], exclude=None)
        self._next_refresh_tick = self._now_ticks + self._config.lsa_refresh_ticks

    def _install(self, lsa: LinkStateAdvert, age_ticks: int) -> None:
        old = self._db.get(lsa.origin)
        # A refresh with the same content changes no route: no SPF for it.
        if old is None or (old.lsa.neighbours, sorted(old.lsa.heard)) != (
            lsa.neighbours,
            sorted(lsa.heard),
        ):
            self._db_dirty = True
        self._db[lsa.origin] = _Stored(lsa, age_ticks)

    def _flood(self, stored: _Stored, exclude: str | None, skip: Iterable[str] = ()) -> None:
        skipped = set(skip)
        for peer, nb in self._neighbours.items():
            if nb.up and peer != exclude and peer not in skipped:
                self._sends.append(Send(peer, self._copy(stored)))

    def _spf(self) -> ForwardingTable:
        # An arc counts only if both ends report each other: a dead node's
        # stale LSA cannot route traffic into it, because its neighbours'
        # fresh LSAs no longer list it as heard.
        graph: dict[str, dict[str, int]] = {}
        for origin, stored in self._db.items():
            arcs = graph.setdefault(origin, {})
            for peer, cost in stored.lsa.neighbours.items():
                back = self._db.get(peer)
                if back is not None and origin in back.lsa.heard:
                    arcs[peer] = cost
        # Our own links as they are now, not as our last LSA said: that LSA
        # may be held back by min_lsa_interval_ticks, and a link we know is
        # down must not carry one more message meanwhile.
        own = graph.setdefault(self._node, {})
        own.clear()
        for peer, nb in self._neighbours.items():
            back = self._db.get(peer)
            if nb.up and nb.cost is not None and back is not None and self._node in back.lsa.heard:
                own[peer] = nb.cost
        paths = dijkstra(graph, self._node)
        routes = {
            dst: Route(paths.first_hop[dst], d)
            for dst, d in paths.dist.items()
            if dst != self._node
        }
        return ForwardingTable.of(self._node, routes)

    # -- helpers -----------------------------------------------------------

    def _copy(self, stored: _Stored) -> LinkStateAdvert:
        lsa = stored.lsa
        return LinkStateAdvert(
            lsa.origin, lsa.seq, stored.age_ticks, dict(lsa.neighbours), list(lsa.heard)
        )

    def _set_down(self, peer: str, why: str) -> None:
        self._neighbours[peer].up = False
        self._own_dirty = True
        self._bad_news = True
        self._own_links_changed = True  # recompute at once (see _spf)
        self._notes.add(f"{peer} down: {why}")

    def _reject(self, why: str) -> None:
        self._rejected_total += 1
        self._notes.add(f"rejected: {why}")

    def _finish(self) -> RoutingOutput:
        """Originate and recompute at most once per call, then hand the results out."""
        last = self._last_origination_tick
        if self._own_dirty and (
            self._bad_news
            or last is None
            or self._now_ticks - last >= self._config.min_lsa_interval_ticks
        ):
            self._own_dirty = False
            self._bad_news = False
            self._originate()
        table = None
        changes: tuple[RouteChange, ...] = ()
        last_spf = self._last_spf_tick
        spf_due = last_spf is None or (
            self._now_ticks - last_spf >= self._config.spf_interval_ticks
        )
        # A change of our own links skips the SPF hold time: a link we know is
        # down must not carry one more message.
        if self._own_links_changed or (self._db_dirty and spf_due):
            self._own_links_changed = False
            self._db_dirty = False
            self._last_spf_tick = self._now_ticks
            self._last_change_tick = self._now_ticks
            new = self._spf()
            if new != self._table:
                changes = tuple(self._table.diff(new))
                self._table = table = new
        sends, self._sends = tuple(self._sends), []
        converged = self._now_ticks - self._last_change_tick >= self._config.converged_after_ticks
        return RoutingOutput(sends, table, changes, converged, self._notes.take())
