"""The network graph a run is built on: which nodes are linked, and how well.

Routing, the simulator, the node shells and the dashboard all need one
agreed description of the network, checked once, so that a typo in a TOML
file becomes a message naming the problem instead of a route that silently
never converges. A ``Topology`` is a value: edits (add a link, cut one,
change its cost or loss) return a new ``Topology`` and never mutate, so the
backend can keep the old one for a diff and a test can keep both.

Direction. In an undirected topology a link ``a–b`` carries traffic both
ways with the same properties. In a directed one a link ``a→b`` forwards data
only from ``a`` to ``b``; to forward both ways with different costs, add both
``a→b`` and ``b→a``. The physical connection under a link is still two-way,
as a cable or a TCP connection is, so routing's own control messages (hellos,
advertisements) may cross it in either direction: that is how ``b`` can tell
``a`` that the link is alive.

Costs are positive integers, as OSPF interface costs and RIP metrics are:
integer sums are exact (so a node's table can be compared with the global
view with ``==``), and a cost of zero would let distance-vector loops spin
forever without the metric ever reaching infinity.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAX_TOPOLOGY_NODES = 50  # same bound as the run (cluster.config.MAX_NODES): a legible drawing
MAX_COST = 1_000_000  # far above any useful cost; keeps path sums small exact integers
MAX_LATENCY_MS = 60_000.0  # a minute per hop is already absurd for a lesson
MAX_BANDWIDTH_MBPS = 100_000.0  # 100 Gb/s; above that nothing on one laptop notices

PRESETS = ("mesh", "ring", "line", "star", "tree", "grid", "random")
LINK_FIELDS = ("cost", "latency_ms", "jitter_ms", "loss", "bandwidth_mbps")


class TopologyError(ValueError):
    """The topology is invalid; the message names the node, link or field at fault."""


@dataclass(frozen=True, slots=True)
class Link:
    """One link and its properties; ``a→b`` in a directed topology, ``a–b`` otherwise."""

    a: str
    b: str
    cost: int = 1
    latency_ms: float = 1.0
    jitter_ms: float = 0.0
    loss: float = 0.0  # probability in 0..1 that one message on this link is lost
    bandwidth_mbps: float = 1000.0

    def name(self, directed: bool) -> str:
        return f"{self.a}{'→' if directed else '–'}{self.b}"

    def problems(self) -> list[str]:
        """Every property outside its allowed range, as readable phrases."""
        found: list[str] = []
        if not self.a or not self.b:
            found.append("endpoints must be non-empty node ids")
        if self.a == self.b:
            found.append("a link from a node to itself is not allowed")
        if isinstance(self.cost, bool) or not isinstance(self.cost, int):
            found.append(f"cost must be an integer, got {self.cost!r}")
        elif not 1 <= self.cost <= MAX_COST:
            found.append(f"cost must be between 1 and {MAX_COST}, got {self.cost}")
        for name, value in (("latency_ms", self.latency_ms), ("jitter_ms", self.jitter_ms)):
            if not _number_in(value, 0.0, MAX_LATENCY_MS):
                found.append(f"{name} must be between 0 and {MAX_LATENCY_MS:g}, got {value!r}")
        if not _number_in(self.loss, 0.0, 1.0):
            found.append(f"loss must be between 0 and 1, got {self.loss!r}")
        if not _number_in(self.bandwidth_mbps, 0.0, MAX_BANDWIDTH_MBPS) or self.bandwidth_mbps == 0:
            found.append(
                f"bandwidth_mbps must be above 0 and at most {MAX_BANDWIDTH_MBPS:g}, "
                f"got {self.bandwidth_mbps!r}"
            )
        return found

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _number_in(value: object, low: float, high: float) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) and low <= value <= high


@dataclass(frozen=True, slots=True)
class Topology:
    """Nodes and links, checked on construction (connectivity is checked separately).

    Construction refuses unknown endpoints, duplicate links and properties out
    of range. It does *not* refuse a disconnected graph, because cutting links
    while running is the point of the laboratory; ``require_connected()`` is
    for configuration time, where a disconnected network is a mistake.
    """

    nodes: tuple[str, ...]
    links: tuple[Link, ...] = ()
    directed: bool = False

    def __post_init__(self) -> None:
        if not self.nodes:
            raise TopologyError("a topology needs at least one node")
        if len(self.nodes) > MAX_TOPOLOGY_NODES:
            raise TopologyError(
                f"a topology has at most {MAX_TOPOLOGY_NODES} nodes, got {len(self.nodes)}"
            )
        seen: set[str] = set()
        for node in self.nodes:
            if not isinstance(node, str) or not node:
                raise TopologyError(f"node ids must be non-empty strings, got {node!r}")
            if node in seen:
                raise TopologyError(f"node {node} is listed twice")
            seen.add(node)
        keys: set[tuple[str, str]] = set()
        for link in self.links:
            where = f"link {link.name(self.directed)}"
            for end in (link.a, link.b):
                if end not in seen:
                    raise TopologyError(f"{where}: unknown node {end!r}")
            problems = link.problems()
            if problems:
                raise TopologyError(f"{where}: {'; '.join(problems)}")
            key = self._key(link.a, link.b)
            if key in keys:
                raise TopologyError(f"{where} is listed twice")
            keys.add(key)

    # -- queries -----------------------------------------------------------

    def _key(self, a: str, b: str) -> tuple[str, str]:
        return (a, b) if self.directed else (min(a, b), max(a, b))

    def link(self, a: str, b: str) -> Link | None:
        """The link that carries data from ``a`` to ``b``, or None."""
        for link in self.links:
            if (link.a, link.b) == (a, b) or (not self.directed and (link.b, link.a) == (a, b)):
                return link
        return None

    def arcs(self) -> Iterator[tuple[str, str, Link]]:
        """Every direction data may flow: (from, to, link); an undirected link gives two."""
        for link in self.links:
            yield link.a, link.b, link
            if not self.directed:
                yield link.b, link.a, link

    def out_costs(self) -> dict[str, dict[str, int]]:
        """Adjacency with costs, ``{node: {neighbour: cost}}``, every node present."""
        graph: dict[str, dict[str, int]] = {n: {} for n in self.nodes}
        for a, b, link in self.arcs():
            graph[a][b] = link.cost
        return graph

    def peers(self, node: str) -> dict[str, int | None]:
        """What one node's routing core is configured with.

        Every node it shares a physical connection with, mapped to the cost of
        forwarding to it, or None when the only link between them points the
        other way (control messages may still cross it, data may not).
        """
        if node not in self.nodes:
            raise TopologyError(f"unknown node {node!r}")
        found: dict[str, int | None] = {}
        for link in self.links:
            if link.a == node:
                found[link.b] = link.cost
            elif link.b == node:
                if not self.directed:
                    found[link.a] = link.cost
                else:
                    found.setdefault(link.a, None)
        return found

    def unreachable_pairs(self) -> list[tuple[str, str]]:
        """(src, dst) pairs with no path from src to dst, sorted."""
        graph = self.out_costs()
        missing: list[tuple[str, str]] = []
        for src in self.nodes:
            reached = {src}
            frontier = [src]
            while frontier:
                for nxt in graph[frontier.pop()]:
                    if nxt not in reached:
                        reached.add(nxt)
                        frontier.append(nxt)
            missing.extend((src, dst) for dst in self.nodes if dst not in reached)
        return sorted(missing)

    def require_connected(self) -> Topology:
        """Refuse a network where some node cannot reach another; return self."""
        missing = self.unreachable_pairs()
        if missing:
            src, dst = missing[0]
            kind = "strongly connected" if self.directed else "connected"
            raise TopologyError(
                f"topology is not {kind}: no path from {src} to {dst}"
                + (f" ({len(missing)} unreachable pairs)" if len(missing) > 1 else "")
            )
        return self

    def to_networkx(self) -> Any:
        """A ``networkx.DiGraph`` with a ``weight`` per arc (both arcs when undirected).

        Always directed, so one reference algorithm serves both kinds.
        """
        import networkx as nx

        graph = nx.DiGraph()
        graph.add_nodes_from(self.nodes)
        for a, b, link in self.arcs():
            graph.add_edge(a, b, weight=link.cost)
        return graph

    # -- edits: each returns a new, validated Topology ---------------------

    def with_link(self, link: Link) -> Topology:
        if self._exact(link.a, link.b) is not None:
            raise TopologyError(f"link {link.name(self.directed)} already exists")
        return dataclasses.replace(self, links=(*self.links, link))

    def without_link(self, a: str, b: str) -> Topology:
        old = self._exact(a, b)
        if old is None:
            raise TopologyError(f"no link {a}{'→' if self.directed else '–'}{b} to remove")
        return dataclasses.replace(self, links=tuple(x for x in self.links if x is not old))

    def with_link_changed(self, a: str, b: str, **changes: Any) -> Topology:
        """Change some of cost, latency_ms, jitter_ms, loss, bandwidth_mbps of one link."""
        old = self._exact(a, b)
        if old is None:
            raise TopologyError(f"no link {a}{'→' if self.directed else '–'}{b} to change")
        unknown = sorted(set(changes) - set(LINK_FIELDS))
        if unknown:
            raise TopologyError(
                f"link {old.name(self.directed)}: unknown field {unknown[0]!r}; "
                f"known: {', '.join(LINK_FIELDS)}"
            )
        new = dataclasses.replace(old, **changes)
        return dataclasses.replace(self, links=tuple(new if x is old else x for x in self.links))

    def _exact(self, a: str, b: str) -> Link | None:
        """The stored link with this key (either orientation when undirected)."""
        key = self._key(a, b)
        for link in self.links:
            if self._key(link.a, link.b) == key:
                return link
        return None

    # -- dict form (TOML tables, JSON) -------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "directed": self.directed,
            "nodes": list(self.nodes),
            "links": [link.to_dict() for link in self.links],
        }

    @staticmethod
    def from_dict(raw: Mapping[str, Any], *, require_connected: bool = True) -> Topology:
        """Build from ``{"directed", "nodes", "links": [{"a", "b", "cost", ...}]}``.

        Every problem becomes a TopologyError naming the offending entry, so a
        TOML ``[topology]`` table with a typo is refused with a useful message.
        """
        if not isinstance(raw, Mapping):
            raise TopologyError("topology must be a table with nodes and links")
        unknown = sorted(set(raw) - {"directed", "nodes", "links"})
        if unknown:
            raise TopologyError(
                f"topology: unknown key {unknown[0]!r}; known: directed, nodes, links"
            )
        directed = raw.get("directed", False)
        if not isinstance(directed, bool):
            raise TopologyError(f"topology: directed must be true or false, got {directed!r}")
        nodes = raw.get("nodes")
        if not isinstance(nodes, list | tuple) or not all(isinstance(n, str) for n in nodes):
            raise TopologyError("topology: nodes must be a list of node ids (strings)")
        links_raw = raw.get("links", [])
        if not isinstance(links_raw, list | tuple):
            raise TopologyError("topology: links must be a list of tables")
        links = [_link_from_dict(i, entry) for i, entry in enumerate(links_raw)]
        topology = Topology(tuple(nodes), tuple(links), directed)
        return topology.require_connected() if require_connected else topology

    def text(self) -> str:
        kind = "directed" if self.directed else "undirected"
        return f"{kind} topology, {len(self.nodes)} nodes, {len(self.links)} links"


def _link_from_dict(index: int, entry: Any) -> Link:
    where = f"links[{index}]"
    if not isinstance(entry, Mapping):
        raise TopologyError(f"{where}: must be a table with a, b and link properties")
    unknown = sorted(set(entry) - {"a", "b", *LINK_FIELDS})
    if unknown:
        raise TopologyError(
            f"{where}: unknown field {unknown[0]!r}; known: a, b, {', '.join(LINK_FIELDS)}"
        )
    a, b = entry.get("a"), entry.get("b")
    if not isinstance(a, str) or not isinstance(b, str):
        raise TopologyError(f"{where}: a and b must name nodes (strings)")
    values = {k: entry[k] for k in LINK_FIELDS if k in entry}
    for k in ("latency_ms", "jitter_ms", "loss", "bandwidth_mbps"):
        if isinstance(values.get(k), int) and not isinstance(values.get(k), bool):
            values[k] = float(values[k])  # TOML writes 5 for 5.0; accept it
    link = Link(a, b, **values)
    problems = link.problems()
    if problems:
        raise TopologyError(f"{where} ({a}–{b}): {'; '.join(problems)}")
    return link


# -- presets -----------------------------------------------------------------

RANDOM_EXTRA_LINK_PROBABILITY = 0.25  # on top of a spanning tree: a few alternative paths
RANDOM_MAX_COST = 9  # one digit on the drawing, yet enough spread for non-trivial routes


def node_ids(count: int) -> list[str]:
    """The default node names, ``n1 .. nN`` (as the launcher names processes)."""
    return [f"n{i}" for i in range(1, count + 1)]


def preset(
    name: str,
    nodes: Sequence[str] | int,
    *,
    seed: int = 0,
    directed: bool = False,
    link: Link | None = None,
) -> Topology:
    """A named topology over ``nodes`` (ids, or a count giving n1..nN).

    Every preset is connected. ``link`` gives the properties of every link
    (its endpoints are ignored; default: cost 1). ``random`` draws a spanning
    tree plus extra links, with costs 1..9, from ``random.Random(seed)``; the
    same seed gives the same network. With ``directed``, ``ring`` becomes a
    one-way cycle and ``random`` a random strongly connected digraph; the other
    presets get both directions of every link, each editable on its own.
    """
    ids = node_ids(nodes) if isinstance(nodes, int) else list(nodes)
    template = link or Link("_", "_")
    if name not in PRESETS:
        raise TopologyError(f"unknown topology preset {name!r}; known: {', '.join(PRESETS)}")
    if not ids:
        raise TopologyError("a topology needs at least one node")
    if name == "random":
        return _random(ids, random.Random(seed), directed, template)
    if name == "ring" and directed:
        pairs = [(ids[i], ids[(i + 1) % len(ids)]) for i in range(len(ids))] if len(ids) > 1 else []
        return Topology(tuple(ids), _links(_dedupe(pairs), template), True)
    pairs = _PAIRS[name](ids)
    if directed:
        pairs = pairs + [(b, a) for a, b in pairs]
    return Topology(tuple(ids), _links(pairs, template), directed)


def _links(
    pairs: Iterable[tuple[str, str]], template: Link, costs: Sequence[int] = ()
) -> tuple[Link, ...]:
    out = []
    for i, (a, b) in enumerate(pairs):
        cost = costs[i] if costs else template.cost
        out.append(dataclasses.replace(template, a=a, b=b, cost=cost))
    return tuple(out)


def _dedupe(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: set[tuple[str, str]] = set()
    out = []
    for pair in pairs:
        if pair not in seen and pair[0] != pair[1]:
            seen.add(pair)
            out.append(pair)
    return out


def _mesh(ids: list[str]) -> list[tuple[str, str]]:
    return [(a, b) for i, a in enumerate(ids) for b in ids[i + 1 :]]


def _ring(ids: list[str]) -> list[tuple[str, str]]:
    if len(ids) < 3:
        return _line(ids)  # two nodes: a ring would list the same link twice
    return [(ids[i], ids[(i + 1) % len(ids)]) for i in range(len(ids))]


def _line(ids: list[str]) -> list[tuple[str, str]]:
    return list(itertools.pairwise(ids))


def _star(ids: list[str]) -> list[tuple[str, str]]:
    return [(ids[0], other) for other in ids[1:]]


def _tree(ids: list[str]) -> list[tuple[str, str]]:
    # A binary heap layout: the parent of node i is (i - 1) // 2.
    return [(ids[(i - 1) // 2], ids[i]) for i in range(1, len(ids))]


def _grid(ids: list[str]) -> list[tuple[str, str]]:
    # As square as possible; a short last row stays connected to the row above.
    cols = math.ceil(math.sqrt(len(ids)))
    pairs = []
    for i in range(len(ids)):
        if (i + 1) % cols != 0 and i + 1 < len(ids):
            pairs.append((ids[i], ids[i + 1]))
        if i + cols < len(ids):
            pairs.append((ids[i], ids[i + cols]))
    return pairs


_PAIRS = {"mesh": _mesh, "ring": _ring, "line": _line, "star": _star, "tree": _tree, "grid": _grid}


def _random(ids: list[str], rng: random.Random, directed: bool, template: Link) -> Topology:
    order = list(ids)
    rng.shuffle(order)
    if directed:
        # A cycle through every node makes the digraph strongly connected.
        pairs = [(order[i], order[(i + 1) % len(order)]) for i in range(len(order))]
        candidates = [(a, b) for a in ids for b in ids if a != b]
    else:
        # Each node links to a random earlier one: a random spanning tree.
        pairs = [(order[rng.randrange(i)], order[i]) for i in range(1, len(order))]
        candidates = _mesh(ids)
    pairs = _dedupe(pairs) if len(order) > 1 else []
    present = {p if directed else (min(p), max(p)) for p in pairs}
    for a, b in candidates:
        key = (a, b) if directed else (min(a, b), max(a, b))
        if key not in present and rng.random() < RANDOM_EXTRA_LINK_PROBABILITY:
            present.add(key)
            pairs.append((a, b))
    costs = [rng.randint(1, RANDOM_MAX_COST) for _ in pairs]
    return Topology(tuple(ids), _links(pairs, template, costs), directed)
