"""The network in the run's settings: presets, [[links]] tables, and refusals that
name the problem (cluster/config.py, docs/topology-config.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from cluster.config import (
    ClusterConfig,
    ConfigError,
    NeighbourLink,
    NodeConfig,
    PeerAddr,
    load_toml,
    neighbour_links,
)


def test_the_default_is_a_full_mesh_of_plain_links() -> None:
    topology = ClusterConfig().validate().build_topology()
    assert len(topology.links) == 10
    assert all(x.latency_ms == 0.0 and x.loss == 0.0 and x.cost == 1 for x in topology.links)


@pytest.mark.parametrize(
    ("name", "links"), [("ring", 5), ("line", 4), ("star", 4), ("tree", 4), ("grid", 5)]
)
def test_presets(name: str, links: int) -> None:
    assert len(ClusterConfig(topology=name).validate().build_topology().links) == links


def test_random_is_seeded() -> None:
    one = ClusterConfig(nodes=12, topology="random", seed=7).build_topology()
    two = ClusterConfig(nodes=12, topology="random", seed=7).build_topology()
    other = ClusterConfig(nodes=12, topology="random", seed=8).build_topology()
    assert one == two and one != other
    assert not one.unreachable_pairs()


def test_link_defaults_apply_to_every_preset_link() -> None:
    config = ClusterConfig(topology="ring", link_latency_ms=5.0, link_loss=0.1, link_cost=3)
    found = {(x.cost, x.latency_ms, x.loss) for x in config.build_topology().links}
    assert found == {(3, 5.0, 0.1)}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"topology": "hexagon"}, "topology must be one of mesh, ring"),
        ({"routing": "ospf"}, "routing must be one of link-state, distance-vector"),
        ({"link_loss": 1.5}, "link defaults: link_loss must be between 0 and 1, got 1.5"),
        ({"link_cost": 0}, "link_cost must be between 1"),
        ({"links": [{"a": "n1", "b": "n2"}]}, "not connected: no path from n1 to n3"),
        ({"links": [{"a": "n1", "b": "n9"}]}, "unknown node 'n9'"),
        ({"links": [{"a": "n1", "b": "n2", "loss": 2}]}, "links[0] (n1–n2): loss must be"),
        ({"links": [{"a": "n1", "b": "n2", "cost": -1}]}, "cost must be between 1"),
        ({"links": [{"a": "n1", "b": "n2", "colour": 1}]}, "unknown field 'colour'"),
        ({"topology": "ring", "links": [{"a": "n1", "b": "n2"}]}, "are both given"),
        ({"topology": "custom"}, 'topology = "custom" needs a [[links]] table'),
        ({"seed": -1}, "seed must be between 0"),
    ],
)
def test_a_bad_network_is_refused_naming_the_problem(
    settings: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        ClusterConfig(nodes=3).merged(settings).validate()
    assert message in str(caught.value)


def test_a_toml_file_with_a_links_table(tmp_path: Path) -> None:
    path = tmp_path / "lab.toml"
    path.write_text(
        'nodes = 3\ntopology = "custom"\ndirected = true\n'
        '[[links]]\na = "n1"\nb = "n2"\nlatency_ms = 20\n'
        '[[links]]\na = "n2"\nb = "n3"\n'
        '[[links]]\na = "n3"\nb = "n1"\ncost = 4\n'
    )
    config = ClusterConfig().merged(load_toml(path)).validate()
    topology = config.build_topology()
    assert topology.directed and topology.link("n1", "n2").latency_ms == 20.0
    assert topology.link("n2", "n1") is None  # directed: only n1→n2


def test_a_topology_table_is_refused_with_a_pointer(tmp_path: Path) -> None:
    path = tmp_path / "lab.toml"
    path.write_text('[topology]\nnodes = ["n1"]\n')
    with pytest.raises(ConfigError, match="not a \\[topology\\] table"):
        load_toml(path)


def test_neighbours_of_a_directed_link_carry_control_only_one_way() -> None:
    topology = ClusterConfig(nodes=3, topology="ring", directed=True).build_topology()
    assert neighbour_links(topology, "n2") == (
        NeighbourLink("n1", None),  # n1→n2 points at n2: n2 may not forward to n1
        NeighbourLink("n3", 1),
    )


def test_node_config_round_trips_its_links() -> None:
    config = NodeConfig(
        "n1", "run", "127.0.0.1", 1, 2, "/tmp/n1", "127.0.0.1", 3,
        peers=(PeerAddr("n2", "127.0.0.1", 4),),
        links=(NeighbourLink("n2", 2, latency_ms=5.0),),
        routing="distance-vector",
    )  # fmt: skip
    again = NodeConfig.from_json(config.to_json())
    assert again == config
    legacy = NodeConfig.from_json(
        NodeConfig("n1", "r", "h", 1, 2, "d", "h", 3, peers=config.peers).to_json()
    )
    assert legacy.links is None and legacy.neighbours() == (NeighbourLink("n2"),)


def test_run_py_flags_choose_the_network() -> None:
    import run

    flags = run.parse_flags(["--topology", "random", "--seed", "9", "--routing", "distance-vector"])
    config = run.build_config(flags)
    assert (config.topology, config.seed, config.routing) == ("random", 9, "distance-vector")
    assert "random topology, distance-vector routing, seed 9" in run.network_summary(config)
    assert isinstance(flags, argparse.Namespace)
