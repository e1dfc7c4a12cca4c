"""Topology: validation names the problem, presets are connected, edits are values."""

from __future__ import annotations

import json
import tomllib

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.core.topology import (
    MAX_TOPOLOGY_NODES,
    PRESETS,
    Link,
    Topology,
    TopologyError,
    node_ids,
    preset,
)

TRIANGLE = Topology(("a", "b", "c"), (Link("a", "b"), Link("b", "c", cost=3)))


@pytest.mark.parametrize(
    ("nodes", "links", "message"),
    [
        ((), (), "at least one node"),
        (("a", "a"), (), "node a is listed twice"),
        (("a", "b"), (Link("a", "x"),), "unknown node 'x'"),
        (("a", "b"), (Link("a", "b", cost=-1),), "cost must be between 1"),
        (("a", "b"), (Link("a", "b", cost=0),), "cost must be between 1"),
        (("a", "b"), (Link("a", "b", loss=1.5),), "loss must be between 0 and 1"),
        (("a", "b"), (Link("a", "b", loss=-0.1),), "loss must be between 0 and 1"),
        (("a", "b"), (Link("a", "b", latency_ms=-1.0),), "latency_ms must be between"),
        (("a", "b"), (Link("a", "b", jitter_ms=float("nan")),), "jitter_ms must be between"),
        (("a", "b"), (Link("a", "b", bandwidth_mbps=0.0),), "bandwidth_mbps must be above 0"),
        (("a", "b"), (Link("a", "a"),), "to itself"),
        (("a", "b"), (Link("a", "b"), Link("b", "a")), "listed twice"),
    ],
)
def test_invalid_topology_is_refused_with_a_message_naming_the_problem(
    nodes: tuple[str, ...], links: tuple[Link, ...], message: str
) -> None:
    with pytest.raises(TopologyError, match=message):
        Topology(nodes, links)


def test_link_error_names_the_link() -> None:
    with pytest.raises(TopologyError, match="link a–b: loss"):
        Topology(("a", "b"), (Link("a", "b", loss=2.0),))
    with pytest.raises(TopologyError, match="link a→b: cost"):
        Topology(("a", "b"), (Link("a", "b", cost=-3),), directed=True)


def test_directed_allows_both_directions_as_separate_links() -> None:
    topo = Topology(("a", "b"), (Link("a", "b", cost=1), Link("b", "a", cost=7)), directed=True)
    assert topo.out_costs() == {"a": {"b": 1}, "b": {"a": 7}}


def test_too_many_nodes_refused() -> None:
    with pytest.raises(TopologyError, match=f"at most {MAX_TOPOLOGY_NODES}"):
        Topology(tuple(node_ids(MAX_TOPOLOGY_NODES + 1)))


def test_disconnected_is_refused_only_where_connectivity_is_required() -> None:
    apart = Topology(("a", "b", "c"), (Link("a", "b"),))  # allowed as a value: cuts happen
    with pytest.raises(TopologyError, match="not connected: no path from a to c"):
        apart.require_connected()
    one_way = Topology(("a", "b"), (Link("a", "b"),), directed=True)
    with pytest.raises(TopologyError, match="not strongly connected: no path from b to a"):
        one_way.require_connected()
    with pytest.raises(TopologyError, match="no path"):
        Topology.from_dict(apart.to_dict())
    assert Topology.from_dict(apart.to_dict(), require_connected=False) == apart


def test_peers_of_a_directed_link_pointing_inwards_have_no_cost() -> None:
    topo = Topology(("a", "b", "c"), (Link("a", "b", cost=2), Link("c", "a", cost=5)), True)
    assert topo.peers("a") == {"b": 2, "c": None}
    assert topo.peers("c") == {"a": 5}
    assert TRIANGLE.peers("b") == {"a": 1, "c": 3}


def test_dict_round_trip_through_json_and_toml() -> None:
    again = Topology.from_dict(json.loads(json.dumps(TRIANGLE.to_dict())))
    assert again == TRIANGLE
    toml_text = """
    directed = false
    nodes = ["a", "b"]
    [[links]]
    a = "a"
    b = "b"
    cost = 4
    latency_ms = 5
    loss = 0.1
    """
    topo = Topology.from_dict(tomllib.loads(toml_text))
    assert topo.link("b", "a") == Link("a", "b", cost=4, latency_ms=5.0, loss=0.1)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"nodes": ["a"], "colour": 1}, "unknown key 'colour'"),
        ({"nodes": "a,b"}, "nodes must be a list"),
        (
            {"nodes": ["a", "b"], "links": [{"a": "a", "b": "b", "weight": 2}]},
            r"links\[0\]: unknown field 'weight'",
        ),
        (
            {"nodes": ["a", "b"], "links": [{"a": "a", "b": "b", "loss": 3}]},
            r"links\[0\] \(a–b\): loss",
        ),
        (
            {"nodes": ["a", "b"], "links": [{"a": "a", "b": "b", "cost": 1.5}]},
            "cost must be an integer",
        ),
        ({"nodes": ["a", "b"], "links": [{"a": "a"}]}, r"links\[0\]: a and b must name nodes"),
        ({"nodes": ["a"], "directed": "yes"}, "directed must be true or false"),
    ],
)
def test_from_dict_refuses_bad_input(raw: dict[str, object], message: str) -> None:
    with pytest.raises(TopologyError, match=message):
        Topology.from_dict(raw)


def test_edits_return_new_values_and_keep_the_old() -> None:
    added = TRIANGLE.with_link(Link("a", "c", cost=9))
    assert added.link("c", "a") is not None and TRIANGLE.link("c", "a") is None
    changed = added.with_link_changed("c", "a", cost=2, loss=0.5)
    assert changed.link("a", "c") == Link("a", "c", cost=2, loss=0.5)
    assert added.link("a", "c") == Link("a", "c", cost=9)
    removed = changed.without_link("b", "a")
    assert removed.link("a", "b") is None and len(removed.links) == 2
    with pytest.raises(TopologyError, match="already exists"):
        TRIANGLE.with_link(Link("b", "a"))
    with pytest.raises(TopologyError, match="no link a–c to remove"):
        TRIANGLE.without_link("a", "c")
    with pytest.raises(TopologyError, match="loss must be between 0 and 1"):
        TRIANGLE.with_link_changed("a", "b", loss=7.0)
    with pytest.raises(TopologyError, match="unknown field 'colour'"):
        TRIANGLE.with_link_changed("a", "b", colour="red")


def test_preset_shapes() -> None:
    assert len(preset("mesh", 5).links) == 10
    assert len(preset("ring", 5).links) == 5
    assert len(preset("line", 5).links) == 4
    star = preset("star", 5)
    assert all(link.a == "n1" for link in star.links)
    assert len(preset("tree", 7).links) == 6
    grid = preset("grid", 9)  # 3 × 3: 12 links
    assert len(grid.links) == 12
    assert preset("ring", 4, directed=True).out_costs()["n4"] == {"n1": 1}
    with pytest.raises(TopologyError, match="unknown topology preset 'cube'"):
        preset("cube", 4)


def test_random_preset_is_reproducible_from_its_seed() -> None:
    assert preset("random", 12, seed=7) == preset("random", 12, seed=7)
    assert preset("random", 12, seed=7) != preset("random", 12, seed=8)


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(PRESETS),
    count=st.integers(1, 20),
    seed=st.integers(0, 2**32),
    directed=st.booleans(),
)
def test_every_preset_is_connected(name: str, count: int, seed: int, directed: bool) -> None:
    topo = preset(name, count, seed=seed, directed=directed)
    topo.require_connected()
    graph = topo.to_networkx()
    assert graph.number_of_nodes() == count
    if count > 1:
        assert nx.is_strongly_connected(graph)


def test_preset_link_template_sets_properties() -> None:
    topo = preset("line", 3, link=Link("_", "_", cost=4, latency_ms=20.0, loss=0.1))
    assert {(x.cost, x.latency_ms, x.loss) for x in topo.links} == {(4, 20.0, 0.1)}
