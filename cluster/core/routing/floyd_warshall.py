"""Floyd-Warshall: the global, all-pairs view that the nodes' own tables are checked against.

No node runs this: routing is distributed, each node builds its own table.
The backend runs it on the configured topology (it sees everything) to show
what the tables *should* say, and the dashboard's "converged" indicator is
the comparison of the two. Three nested loops over an adjacency matrix make
the textbook dynamic programme visible: after round ``k``, ``dist[i][j]`` is
the shortest path from i to j using only the first k nodes as stops.

The next-hop matrix uses the same canonical tie rule as dijkstra.py (the
smallest first hop among all shortest paths), so a converged node's table
equals the row of this matrix exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cluster.core.routing.dijkstra import Graph
from cluster.core.routing.forwarding import ForwardingTable, Route


@dataclass(frozen=True, slots=True)
class AllPairs:
    """``dist[i][j]`` and ``next_hop[i][j]``; an unreachable j is absent from row i.

    ``dist[i][i]`` is 0; ``next_hop[i]`` never contains i.
    """

    nodes: tuple[str, ...]
    dist: dict[str, dict[str, int]]
    next_hop: dict[str, dict[str, str]]

    def table(self, node: str, infinity: int | None = None) -> ForwardingTable:
        """Row ``node`` as a forwarding table; with ``infinity``, costlier routes count as absent.

        Distance-vector cannot express a cost at or above its infinity
        metric, so its converged tables match ``table(node, infinity)``.
        """
        routes = {
            dst: Route(hop, self.dist[node][dst])
            for dst, hop in self.next_hop[node].items()
            if infinity is None or self.dist[node][dst] < infinity
        }
        return ForwardingTable.of(node, routes)

    def tables(self, infinity: int | None = None) -> dict[str, ForwardingTable]:
        return {node: self.table(node, infinity) for node in self.nodes}


def floyd_warshall(graph: Graph, nodes: Sequence[str] | None = None) -> AllPairs:
    """All-pairs shortest paths over ``graph`` (``{node: {neighbour: cost}}``)."""
    names = tuple(nodes) if nodes is not None else _all_names(graph)
    index = {name: i for i, name in enumerate(names)}
    n = len(names)
    # None = no path found yet; plain lists keep the triple loop readable and fast.
    dist: list[list[int | None]] = [[None] * n for _ in range(n)]
    nxt: list[list[int | None]] = [[None] * n for _ in range(n)]
    for i in range(n):
        dist[i][i] = 0
    for a, row in graph.items():
        for b, cost in row.items():
            i, j = index[a], index[b]
            if i != j:
                dist[i][j] = cost
                nxt[i][j] = j
    for k in range(n):
        row_k = dist[k]
        for i in range(n):
            d_ik = dist[i][k]
            if d_ik is None or i == k:
                continue
            row_i, hops_i, hop_ik = dist[i], nxt[i], nxt[i][k]
            assert hop_ik is not None  # i reaches k, so it has a first hop towards k
            for j in range(n):
                d_kj = row_k[j]
                if d_kj is None or j in (k, i):
                    continue
                through_k = d_ik + d_kj
                current = row_i[j]
                if current is None or through_k < current:
                    row_i[j] = through_k
                    hops_i[j] = hop_ik
                elif through_k == current and names[hop_ik] < names[_some(hops_i[j])]:
                    # An equally short path via k: keep the smaller first hop
                    # so the result is the canonical one (see module doc).
                    hops_i[j] = hop_ik
    return AllPairs(
        names,
        {names[i]: {names[j]: d for j, d in enumerate(dist[i]) if d is not None} for i in range(n)},
        {
            names[i]: {names[j]: names[h] for j, h in enumerate(nxt[i]) if h is not None}
            for i in range(n)
        },
    )


def _some(value: int | None) -> int:
    assert value is not None  # a known distance always has a first hop
    return value


def _all_names(graph: Mapping[str, Mapping[str, int]]) -> tuple[str, ...]:
    found = set(graph)
    for row in graph.values():
        found.update(row)
    return tuple(sorted(found))
