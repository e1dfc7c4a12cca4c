"""The routing simulator itself: edits reach the cores, runs replay from a seed."""

from __future__ import annotations

import pytest

from cluster.core.routing.forwarding import Route
from cluster.core.topology import Link, TopologyError, preset
from cluster.sim.routing_sim import PROTOCOLS, RoutingSim, SimError, SimSettings


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_adding_and_removing_links_while_running(protocol: str) -> None:
    line = preset("line", 6)
    sim = RoutingSim(line, SimSettings(protocol=protocol, seed=1))
    sim.run_until_converged(500)
    assert sim.tables()["n1"].routes["n6"] == Route("n2", 5)
    shortcut = line.with_link(Link("n1", "n6", cost=2))
    sim.set_topology(shortcut)
    sim.run_until_converged(500)
    assert sim.tables()["n1"].routes["n6"] == Route("n6", 2)
    assert sim.tables()["n1"].routes["n5"] == Route("n6", 3)
    sim.set_topology(shortcut.without_link("n2", "n3"))
    sim.run_until_converged(1000)
    assert sim.tables()["n2"].routes["n3"] == Route("n1", 6)
    with pytest.raises(TopologyError, match="links only"):
        sim.set_topology(preset("line", 7))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_split_network_routes_only_within_each_part(protocol: str) -> None:
    sim = RoutingSim(preset("line", 4), SimSettings(protocol=protocol, seed=2))
    sim.run_until_converged(500)
    sim.cut("n2", "n3", notify=True)
    sim.run_until_converged(1000)
    assert set(sim.tables()["n1"].routes) == {"n2"}
    assert set(sim.tables()["n4"].routes) == {"n3"}


def test_same_seed_same_run() -> None:
    def run(seed: int) -> list[tuple[int, str, str]]:
        sim = RoutingSim(
            preset("random", 8, seed=3, link=Link("_", "_", loss=0.1, jitter_ms=25.0)),
            SimSettings(seed=seed, apply_loss=True),
        )
        sim.run(150)
        return [(h.tick, h.node, c.text()) for h in sim.history for c in h.changes]

    assert run(11) == run(11)
    assert run(11) != run(12)


def test_misuse_is_refused_with_the_seed_in_the_message() -> None:
    with pytest.raises(SimError, match="unknown protocol"):
        RoutingSim(preset("line", 2), SimSettings(protocol="ospf"))
    sim = RoutingSim(preset("line", 3), SimSettings(seed=42))
    with pytest.raises(SimError, match="no link between n1 and n3"):
        sim.cut("n1", "n3")
    with pytest.raises(SimError, match="seed=42"):
        sim.run_until(lambda s: False, max_ticks=5)


def test_latency_in_ticks_delays_convergence() -> None:
    fast = RoutingSim(preset("line", 5), SimSettings(seed=1))
    slow = RoutingSim(preset("line", 5, link=Link("_", "_", latency_ms=200.0)), SimSettings(seed=1))
    assert slow.run_until_converged(2000) > fast.run_until_converged(2000)
