"""Dijkstra's shortest paths, written out to be read (networkx checks it in tests).

Link-state routing ends here: every node holds the same map of the network
and runs this from itself. We keep our own short implementation instead of
calling ``networkx.single_source_dijkstra`` because students should be able
to read the algorithm that routes their messages, and because we need one
thing networkx does not promise: a *canonical* next hop when several paths
tie. The tests compare the distances with networkx on many random graphs.

Canonical next hop: among all shortest paths to a destination, the one whose
first hop has the smallest name. Floyd-Warshall (floyd_warshall.py) and
distance-vector pick by the same rule, so once the network has converged
every method agrees exactly and the dashboard can compare tables with ``==``.
Costs are positive integers (topology.py), which the proof below needs.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass

Graph = Mapping[str, Mapping[str, int]]  # {node: {neighbour: cost of node→neighbour}}


@dataclass(frozen=True, slots=True)
class ShortestPaths:
    """Everything one Dijkstra run learns from ``source``.

    ``dist`` and ``first_hop`` hold the reachable nodes only; ``prev`` is the
    node before each one on its chosen path, to draw the path.
    """

    source: str
    dist: dict[str, int]
    first_hop: dict[str, str]
    prev: dict[str, str]

    def path(self, dst: str) -> list[str]:
        """Nodes from source to ``dst`` inclusive, or [] when unreachable."""
        if dst not in self.dist:
            return []
        path = [dst]
        while path[-1] != self.source:
            path.append(self.prev[path[-1]])
        return path[::-1]


def dijkstra(graph: Graph, source: str) -> ShortestPaths:
    """Shortest paths from ``source``; arcs towards nodes missing from ``graph`` count too."""
    dist: dict[str, int] = {source: 0}
    first_hop: dict[str, str] = {}
    prev: dict[str, str] = {}
    done: set[str] = set()
    # Ties on distance pop in name order, which keeps runs reproducible.
    queue: list[tuple[int, str]] = [(0, source)]
    while queue:
        d, u = heapq.heappop(queue)
        if u in done:
            continue  # a stale entry: u was reached more cheaply already
        done.add(u)
        for v, cost in graph.get(u, {}).items():
            if v in done:
                continue
            candidate = d + cost
            hop = v if u == source else first_hop[u]
            # With costs >= 1 every u on a shortest path to v is settled
            # before v, so v sees all its equal-cost predecessors and keeps
            # the smallest first hop among them: the canonical one.
            better = v not in dist or candidate < dist[v]
            tie = not better and candidate == dist[v] and hop < first_hop[v]
            if better or tie:
                dist[v] = candidate
                first_hop[v] = hop
                prev[v] = u
                if better:
                    heapq.heappush(queue, (candidate, v))
    return ShortestPaths(source, dist, first_hop, prev)
