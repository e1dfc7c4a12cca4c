"""The network as the backend owns it, and the routes the nodes report against it.

Routing is distributed: every node computes its own table, and the backend
never routes anything. What the backend has that no node has is the whole
picture, so this module keeps three things together:

* the configured topology and which of its links the instructor has cut.
  An edit becomes control commands to the nodes at the ends of the changed
  links (``SetLink`` for one link, ``SetLinks`` for a whole new set), and the
  new set is remembered per node so that a node restarted later gets it;
* the forwarding table each node last reported (``RouteTable`` events);
* the global view: Floyd-Warshall over the links that can carry traffic now
  (configured, not cut, both ends up), compared entry by entry with the
  nodes' own tables. While the network reconverges after a cut the two
  differ, and the differences are exactly what the dashboard highlights;
  when none is left (and every up node has reported), the network has
  converged.

Floyd-Warshall is O(n³): 125,000 steps for 50 nodes, tens of milliseconds in
Python. Its result depends only on the active topology, so it is cached by
that value and recomputed only after a cut, an edit, or a node going down
or up — never per view.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cluster.config import ClusterConfig, NeighbourLink, neighbour_links
from cluster.core.routing.distance_vector import RIP_INFINITY
from cluster.core.routing.floyd_warshall import AllPairs, floyd_warshall
from cluster.core.topology import LINK_FIELDS, Link, Topology, TopologyError
from cluster.schema.control import SetLink, SetLinks
from cluster.schema.telemetry import NodeUp, RouteTable

if TYPE_CHECKING:
    from backend.hub import Hub

# Active topologies whose all-pairs result is kept: a cut and its restore,
# a few nodes killed and restarted, without recomputing each time.
FW_CACHE_ENTRIES = 16
# Differences listed in full; beyond this the page only needs the count
# (50 nodes that all differ would be 2,450 rows nobody reads).
MAX_DIFFERENCES_LISTED = 200
# A path longer than this is a routing loop being counted to infinity.
MAX_PATH_NODES = 64
ALGORITHMS = {
    "link-state": "link-state (Dijkstra)",
    "distance-vector": "distance-vector (Bellman-Ford)",
}
PATCH_FIELDS = ("up", *LINK_FIELDS)


class EditError(ValueError):
    """An edit the backend refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class _Expected:
    """Floyd-Warshall's answer for one active network, and each up node's row as a table."""

    all_pairs: AllPairs
    tables: dict[str, dict[str, dict[str, str | int]]]


@dataclass(frozen=True)
class Report:
    """What one node last said about its table."""

    table: dict[str, dict[str, Any]]
    converged: bool
    algorithm: str
    t_ms: float


def link_key(directed: bool, a: str, b: str) -> tuple[str, str]:
    return (a, b) if directed else (min(a, b), max(a, b))


def _without(topology: Topology, drop: set[tuple[str, str]]) -> Topology:
    links = tuple(x for x in topology.links if link_key(topology.directed, x.a, x.b) not in drop)
    return Topology(topology.nodes, links, topology.directed)


def with_members(topology: Topology, members: Iterable[str]) -> Topology:
    """``topology`` plus nodes that joined the cluster later (backend/members.py).

    The launcher gives a joined node a plain link (cost 1, nothing injected)
    to every other node, and every other node one to it; so does this view.
    """
    extra = sorted(set(members) - set(topology.nodes))
    if not extra:
        return topology
    nodes = (*topology.nodes, *extra)
    links = list(topology.links)
    seen: set[tuple[str, str]] = set()
    for joined in extra:
        for other in nodes:
            pairs = [(joined, other), (other, joined)] if topology.directed else [(joined, other)]
            for a, b in pairs:
                key = link_key(topology.directed, a, b)
                if a != b and key not in seen:
                    seen.add(key)
                    links.append(Link(a, b, latency_ms=0.0))
    return Topology(nodes, tuple(links), topology.directed)


def _fw_path(all_pairs: AllPairs, src: str, dst: str) -> list[str] | None:
    if src == dst:
        return [src]
    path = [src]
    while path[-1] != dst:
        hop = all_pairs.next_hop.get(path[-1], {}).get(dst)
        if hop is None or len(path) > MAX_PATH_NODES:
            return None
        path.append(hop)
    return path


class TopologyState:
    def __init__(self, cluster: ClusterConfig, hub: Hub | None = None) -> None:
        self._lock = threading.Lock()
        self._hub = hub
        self._template = cluster.link_template()
        self._topology = cluster.build_topology()
        self.preset = "custom" if cluster.links else cluster.topology
        self.seed = cluster.seed
        self.protocol = cluster.routing
        self.split_horizon = cluster.split_horizon
        self.poison_reverse = cluster.poison_reverse
        # Distance-vector cannot express a cost at or above its infinity metric.
        self.infinity = RIP_INFINITY if cluster.routing == "distance-vector" else None
        self._cut: set[tuple[str, str]] = set()
        self._effective = self._topology  # without the cut links; recomputed per edit
        # Bumped by every edit and every reported table: the caches below are
        # keyed by them, so a 50-node view (1,225 links) costs nothing to
        # rebuild when nothing changed.
        self._version = 0
        self._reports_version = 0
        self._reports: dict[str, Report] = {}
        self._fw_cache: OrderedDict[tuple[int, frozenset[str]], _Expected] = OrderedDict()
        self._compared: tuple[tuple[Any, ...], dict[str, Any]] | None = None
        self._static: tuple[tuple[Any, ...], list[dict[str, Any]]] | None = None
        if hub is not None:
            hub.add_listener(self.on_batch)
            hub.view.add_decorator(self.decorate)

    # -- reading --------------------------------------------------------------

    @property
    def topology(self) -> Topology:
        with self._lock:
            return self._topology

    def effective(self) -> Topology:
        """The configured topology without the links that are cut."""
        with self._lock:
            return self._effective

    def to_dict(self) -> dict[str, Any]:
        """``GET /api/topology``: the configured network, each link with ``up`` (not cut)."""
        with self._lock:
            topology, cut = self._topology, set(self._cut)
        links = []
        for link in topology.links:
            entry = link.to_dict()
            entry["up"] = link_key(topology.directed, link.a, link.b) not in cut
            links.append(entry)
        return {
            "directed": topology.directed,
            "nodes": list(topology.nodes),
            "links": links,
            "preset": self.preset,
            "seed": self.seed,
            "routing": self.protocol,
            "algorithm": ALGORITHMS.get(self.protocol, self.protocol),
            "split_horizon": self.split_horizon,
            "poison_reverse": self.poison_reverse,
        }

    def reports(self) -> dict[str, Report]:
        with self._lock:
            return dict(self._reports)

    def all_pairs(self, up_nodes: set[str]) -> AllPairs:
        """Floyd-Warshall over the links that can carry traffic with these nodes up."""
        return self._expected(frozenset(up_nodes)).all_pairs

    def _expected(self, up: frozenset[str]) -> _Expected:
        with self._lock:
            key = (self._version, up)
            found = self._fw_cache.get(key)
            if found is not None:
                self._fw_cache.move_to_end(key)
                return found
            topology = with_members(self._effective, up)
        graph: dict[str, dict[str, int]] = {n: {} for n in topology.nodes}
        for a, b, link in topology.arcs():
            if a in up and b in up:
                graph[a][b] = link.cost
        all_pairs = floyd_warshall(graph, topology.nodes)
        tables = {n: all_pairs.table(n, self.infinity).to_dict() for n in up}
        result = _Expected(all_pairs, tables)
        with self._lock:
            self._fw_cache[key] = result
            while len(self._fw_cache) > FW_CACHE_ENTRIES:
                self._fw_cache.popitem(last=False)
        return result

    def compare(self, states: Mapping[str, str]) -> dict[str, Any]:
        """The global view against the nodes' own tables (``GET /api/routes``).

        Only nodes that are up are compared: a down node has no table, and a
        paused one's is frozen; routes *to* them must vanish from the others.
        """
        with self._lock:
            key = (self._version, self._reports_version, frozenset(states.items()))
            if self._compared is not None and self._compared[0] == key:
                return self._compared[1]
            reports = dict(self._reports)
        up = frozenset(n for n, state in states.items() if state == "up")
        expected_tables = self._expected(up)
        all_pairs = expected_tables.all_pairs
        differences: list[dict[str, Any]] = []
        count = 0
        nodes: dict[str, Any] = {}
        for node in all_pairs.nodes:
            report = reports.get(node)
            nodes[node] = {
                "state": states.get(node, "unknown"),
                "table": report.table if report else None,
                "converged": report.converged if report else False,
                "algorithm": report.algorithm if report else None,
                "t_ms": report.t_ms if report else None,
            }
            if node not in up:
                continue
            expected = expected_tables.tables[node]
            actual = report.table if report else {}
            for dst in sorted(set(expected) | set(actual)):
                want, have = expected.get(dst), actual.get(dst)
                if want != have:
                    count += 1
                    if len(differences) < MAX_DIFFERENCES_LISTED:
                        differences.append(
                            {"node": node, "dst": dst, "expected": want, "actual": have}
                        )
        reported_all = all(n in reports for n in up)
        result = {
            "algorithm": ALGORITHMS.get(self.protocol, self.protocol),
            "converged": count == 0 and reported_all and bool(up),
            "difference_count": count,
            "differences": differences,
            "floyd_warshall": {
                "nodes": list(all_pairs.nodes),
                "dist": all_pairs.dist,
                "next_hop": all_pairs.next_hop,
                "infinity": self.infinity,
            },
            "nodes": nodes,
        }
        with self._lock:
            self._compared = (key, result)
        return result

    def route(self, src: str, dst: str) -> dict[str, Any]:
        """The path a message from ``src`` to ``dst`` takes by the nodes' own tables.

        The first hop and the cost come from ``src``'s table; every later hop
        from the table of the node the message has reached, as forwarding
        really works. A node without a route ends the path (``reason``).
        """
        reports = self.reports()
        source = reports.get(src)
        path = [src]
        reason = ""
        while path[-1] != dst:
            here = path[-1]
            report = reports.get(here)
            entry = report.table.get(dst) if report else None
            if report is None:
                reason = f"{here} has not reported a routing table yet"
                break
            if entry is None:
                reason = f"{here} has no route to {dst}"
                break
            hop = entry.get("next_hop")
            if not isinstance(hop, str) or hop in path or len(path) >= MAX_PATH_NODES:
                path.append(str(hop))
                reason = f"routing loop at {hop}"
                break
            path.append(hop)
        reached = path[-1] == dst and not reason
        first = source.table.get(dst) if source else None
        return {
            "src": src,
            "dst": dst,
            "path": path if reached else None,
            "partial_path": path,
            "reached": reached,
            "cost": 0 if src == dst else (first or {}).get("cost"),
            "next_hop": (first or {}).get("next_hop"),
            "algorithm": source.algorithm if source else ALGORITHMS.get(self.protocol),
            "reason": reason,
        }

    def expected_route(self, src: str, dst: str, states: Mapping[str, str]) -> dict[str, Any]:
        """The same pair in the global Floyd-Warshall view, for comparison."""
        up = {n for n, state in states.items() if state == "up"}
        all_pairs = self.all_pairs(up)
        return {
            "path": _fw_path(all_pairs, src, dst),
            "cost": all_pairs.dist.get(src, {}).get(dst),
        }

    # -- the view -------------------------------------------------------------

    def decorate(self, view: dict[str, Any]) -> None:
        """Links with configured and measured latency, and the convergence state."""
        states = {n["id"]: n["state"] for n in view["nodes"]}
        rtts = {n["id"]: n.get("rtt_ms", {}) for n in view["nodes"]}
        reported = {(x["a"], x["b"]): x["up"] for x in view["links"]}
        links = []
        for static in self._static_links(frozenset(states)):
            a, b = static["a"], static["b"]
            entry = dict(static)
            up = reported.get((a, b), reported.get((b, a), False))
            entry["up"] = not static["cut"] and up
            samples = [r for r in (rtts.get(a, {}).get(b), rtts.get(b, {}).get(a)) if r is not None]
            rtt_ms = sum(samples) / len(samples) if samples else None
            entry["rtt_ms"] = rtt_ms
            # One way: half the heartbeat round trip, which crosses the link twice.
            entry["latency_ms_measured"] = None if rtt_ms is None else rtt_ms / 2
            links.append(entry)
        view["links"] = links
        compared = self.compare(states)
        view["routing"] = {
            "protocol": self.protocol,
            "algorithm": compared["algorithm"],
            "converged": compared["converged"],
            "differences": compared["difference_count"],
            "reported": sum(1 for n in compared["nodes"].values() if n["table"] is not None),
        }
        view["topology"] = {
            "preset": self.preset,
            "directed": self.topology.directed,
            "seed": self.seed,
        }

    def _static_links(self, members: frozenset[str]) -> list[dict[str, Any]]:
        """What the view shows of each link that changes only with an edit (cached)."""
        with self._lock:
            key = (self._version, members)
            if self._static is not None and self._static[0] == key:
                return self._static[1]
            topology, cut = with_members(self._topology, members), set(self._cut)
        entries = []
        for link in topology.links:
            entry: dict[str, Any] = {
                "a": link.a,
                "b": link.b,
                "cut": link_key(topology.directed, link.a, link.b) in cut,
                "directed": topology.directed,
            }
            entry.update({f: getattr(link, f) for f in LINK_FIELDS})
            entries.append(entry)
        with self._lock:
            self._static = (key, entries)
        return entries

    # -- telemetry ------------------------------------------------------------

    def on_batch(self, node: str, events: list[Any]) -> None:
        """Hub listener: keep each node's latest table (runs on the hub's thread)."""
        changed = False
        for event in events:
            kind = type(event)
            if kind is RouteTable:
                with self._lock:
                    self._reports[node] = Report(
                        dict(event.table), event.converged, event.algorithm, event.t_ms
                    )
                    self._reports_version += 1
                changed = True
            elif kind is NodeUp:
                with self._lock:
                    # A new process starts with an empty table; the old one is history.
                    if self._reports.pop(node, None) is not None:
                        self._reports_version += 1
                        changed = True
        if changed and self._hub is not None:
            self._hub.view.mark_changed()

    # -- edits ----------------------------------------------------------------

    def change_link(self, a: str, b: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Cut or restore (``up``) one link or change its properties; EditError if invalid."""
        with self._lock:
            topology, cut = self._topology, set(self._cut)
        for end in (a, b):
            if end not in topology.nodes:
                raise EditError(400, f"unknown node {end!r}; nodes are {', '.join(topology.nodes)}")
        sign = "→" if topology.directed else "–"
        exact = topology.link(a, b)
        if exact is None or (topology.directed and (exact.a, exact.b) != (a, b)):
            raise EditError(404, f"there is no link {a}{sign}{b} in the topology")
        unknown = sorted(set(changes) - set(PATCH_FIELDS))
        if unknown:
            raise EditError(400, f"unknown field {unknown[0]!r}; known: {', '.join(PATCH_FIELDS)}")
        if not changes:
            raise EditError(400, f"nothing to change; give some of {', '.join(PATCH_FIELDS)}")
        values = dict(changes)
        up = values.pop("up", None)
        if up is not None and not isinstance(up, bool):
            raise EditError(400, f"up must be true or false, got {up!r}")
        for name in ("latency_ms", "jitter_ms", "loss", "bandwidth_mbps"):
            if isinstance(values.get(name), int) and not isinstance(values.get(name), bool):
                values[name] = float(values[name])
        try:
            new_topology = topology.with_link_changed(a, b, **values) if values else topology
        except TopologyError as exc:
            raise EditError(400, str(exc)) from exc
        key = link_key(topology.directed, a, b)
        new_cut = set(cut)
        if up is False:
            new_cut.add(key)
        elif up is True:
            new_cut.discard(key)
        return self._commit(new_topology, new_cut)

    def replace(self, raw: Any) -> dict[str, Any]:
        """``PUT /api/topology``: a whole new set of links; EditError names the problem."""
        if not isinstance(raw, Mapping):
            raise EditError(400, "expected a JSON object with links (and optionally directed)")
        current = self.topology
        unknown = sorted(set(raw) - {"directed", "nodes", "links", "allow_disconnected"})
        if unknown:
            raise EditError(
                400,
                f"unknown key {unknown[0]!r}; known: directed, nodes, links, allow_disconnected",
            )
        nodes = raw.get("nodes", list(current.nodes))
        if not isinstance(nodes, list) or sorted(map(str, nodes)) != sorted(current.nodes):
            raise EditError(
                400,
                "nodes cannot be added or removed while running; "
                f"this run has {', '.join(current.nodes)}",
            )
        allow_disconnected = raw.get("allow_disconnected", False)
        if not isinstance(allow_disconnected, bool):
            raise EditError(400, "allow_disconnected must be true or false")
        entries = raw.get("links")
        if not isinstance(entries, list):
            raise EditError(400, "links must be a list of {a, b, cost, latency_ms, ...}")
        defaults = {f: getattr(self._template, f) for f in LINK_FIELDS}
        cleaned = []
        cut_pairs = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, Mapping):
                raise EditError(400, f"links[{i}]: must be an object with a, b and link properties")
            entry = dict(entry)
            up = entry.pop("up", True)
            if not isinstance(up, bool):
                raise EditError(400, f"links[{i}]: up must be true or false, got {up!r}")
            if not up:
                cut_pairs.append((entry.get("a"), entry.get("b")))
            cleaned.append({**defaults, **entry})
        directed = raw.get("directed", current.directed)
        try:
            topology = Topology.from_dict(
                {"directed": directed, "nodes": list(current.nodes), "links": cleaned},
                require_connected=not allow_disconnected,
            )
        except TopologyError as exc:
            raise EditError(400, str(exc)) from exc
        cut = {link_key(topology.directed, str(a), str(b)) for a, b in cut_pairs}
        return self._commit(topology, cut)

    def _commit(self, topology: Topology, cut: set[tuple[str, str]]) -> dict[str, Any]:
        after = _without(topology, cut)
        with self._lock:
            before = self._effective
            self._topology, self._cut, self._effective = topology, cut, after
            self._version += 1
        sent = self._send_commands(before, after)
        if self._hub is not None:
            self._hub.view.mark_changed()
        return {"ok": True, "topology": self.to_dict(), "commands": sent}

    def _send_commands(self, before: Topology, after: Topology) -> dict[str, str]:
        """Tell each node whose neighbours changed; remember its new set for restarts."""
        sent: dict[str, str] = {}
        for node in after.nodes:
            old = {n.peer: n for n in neighbour_links(before, node)}
            new = {n.peer: n for n in neighbour_links(after, node)}
            if old == new:
                continue
            full = SetLinks([n.to_dict() for n in new.values()])
            changed = [p for p in sorted(set(old) | set(new)) if old.get(p) != new.get(p)]
            command: SetLink | SetLinks = full
            if len(changed) == 1:
                command = _set_link(changed[0], new.get(changed[0]))
            if self._hub is None:
                sent[node] = "no hub"
                continue
            self._hub.remember_for(node, full)
            reached = self._hub.send_command(node, command)
            sent[node] = type(command).__name__ if reached else "not connected (gets it on restart)"
        return sent


def _set_link(peer: str, neighbour: NeighbourLink | None) -> SetLink:
    if neighbour is None:
        plain = NeighbourLink(peer)  # a cut link's properties do not matter; send the plain ones
        return SetLink(
            peer, False, None, plain.latency_ms, plain.jitter_ms, plain.loss, plain.bandwidth_mbps
        )
    return SetLink(
        peer,
        True,
        neighbour.cost,
        neighbour.latency_ms,
        neighbour.jitter_ms,
        neighbour.loss,
        neighbour.bandwidth_mbps,
    )
