"""Our Dijkstra and Floyd-Warshall against networkx, on many random graphs.

networkx is the reference: our own implementations must give the same
distances, reach the same nodes, and pick the canonical next hop (the
smallest first hop among all shortest paths), directed and undirected.
"""

from __future__ import annotations

import itertools
from typing import Any

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.core.routing.dijkstra import Graph, dijkstra
from cluster.core.routing.floyd_warshall import floyd_warshall
from cluster.core.topology import Link, Topology


@st.composite
def graphs(draw: st.DrawFn) -> tuple[list[str], dict[str, dict[str, int]], bool]:
    """Random (possibly disconnected) graphs with small costs, so ties are common."""
    count = draw(st.integers(1, 10))
    nodes = [f"n{i}" for i in range(count)]
    directed = draw(st.booleans())
    graph: dict[str, dict[str, int]] = {n: {} for n in nodes}
    pairs = [(a, b) for a in nodes for b in nodes if a != b]
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=30)) if pairs else []
    for a, b in chosen:
        cost = draw(st.integers(1, 4))
        graph[a][b] = cost
        if not directed:
            graph[b][a] = cost
    return nodes, graph, directed


def reference(graph: Graph, nodes: list[str]) -> Any:
    g = nx.DiGraph()
    g.add_nodes_from(nodes)
    for a, row in graph.items():
        for b, cost in row.items():
            g.add_edge(a, b, weight=cost)
    return g


def canonical_next_hop(g: Any, graph: Graph, src: str, dst: str, dist: dict[str, int]) -> str:
    to_dst = nx.single_source_dijkstra_path_length(g.reverse(), dst)
    return min(k for k, c in graph[src].items() if k in to_dst and c + to_dst[k] == dist[dst])


@settings(max_examples=300, deadline=None)
@given(graphs())
def test_dijkstra_matches_networkx(case: tuple[list[str], dict[str, dict[str, int]], bool]) -> None:
    nodes, graph, _ = case
    g = reference(graph, nodes)
    for src in nodes:
        ours = dijkstra(graph, src)
        theirs = nx.single_source_dijkstra_path_length(g, src)
        assert ours.dist == theirs
        for dst in theirs:
            if dst == src:
                continue
            path = ours.path(dst)
            assert path[0] == src and path[-1] == dst
            assert sum(graph[a][b] for a, b in itertools.pairwise(path)) == theirs[dst]
            assert ours.first_hop[dst] == path[1]
            assert ours.first_hop[dst] == canonical_next_hop(g, graph, src, dst, theirs)


@settings(max_examples=200, deadline=None)
@given(graphs())
def test_floyd_warshall_equals_all_pairs_dijkstra(
    case: tuple[list[str], dict[str, dict[str, int]], bool],
) -> None:
    nodes, graph, _ = case
    fw = floyd_warshall(graph, nodes)
    for src in nodes:
        run = dijkstra(graph, src)
        assert fw.dist[src] == run.dist
        assert fw.next_hop[src] == run.first_hop
    assert fw.dist == dict(nx.all_pairs_dijkstra_path_length(reference(graph, nodes)))


def test_equal_cost_paths_pick_the_smallest_first_hop() -> None:
    # a→b→d and a→c→d both cost 2; so does the direct a→d at 2.
    graph = {"a": {"c": 1, "b": 1, "d": 2}, "b": {"d": 1}, "c": {"d": 1}, "d": {}}
    assert dijkstra(graph, "a").first_hop["d"] == "b"
    assert floyd_warshall(graph).next_hop["a"]["d"] == "b"


def test_unreachable_nodes_are_absent() -> None:
    graph = {"a": {"b": 1}, "b": {}, "c": {"a": 1}}
    assert dijkstra(graph, "a").dist == {"a": 0, "b": 1}
    assert dijkstra(graph, "a").path("c") == []
    fw = floyd_warshall(graph)
    assert "c" not in fw.dist["a"] and fw.dist["c"] == {"c": 0, "a": 1, "b": 2}


def test_tables_from_floyd_warshall_respect_the_infinity_metric() -> None:
    topo = Topology(("a", "b", "c"), (Link("a", "b", cost=10), Link("b", "c", cost=10)))
    fw = floyd_warshall(topo.out_costs(), topo.nodes)
    assert fw.table("a").cost("c") == 20
    assert fw.table("a", infinity=16).cost("c") is None
    assert fw.table("a", infinity=16).next_hop("b") == "b"
