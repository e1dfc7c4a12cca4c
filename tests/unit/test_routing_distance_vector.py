"""Distance-vector core: Bellman-Ford rules, timers, count to infinity and its fixes.

Reference: RIP version 2 (RFC 2453) — §3.4.1 count to infinity, §3.4.3 split
horizon with poisoned reverse, §3.8 timers, §3.9.2 processing a response.
"""

from __future__ import annotations

import dataclasses
import random

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.core.routing.distance_vector import DistanceVectorConfig, DistanceVectorRouter
from cluster.core.routing.forwarding import Route
from cluster.core.topology import Link, Topology, preset
from cluster.schema.routing import DistanceVector, RoutingHello
from cluster.sim.routing_sim import RoutingSim, SimSettings

CFG = DistanceVectorConfig(update_interval_ticks=10, route_timeout_ticks=60, garbage_ticks=40)


def router(peers: dict[str, int | None], **changes: object) -> DistanceVectorRouter:
    config = dataclasses.replace(CFG, **changes)  # type: ignore[arg-type]
    return DistanceVectorRouter("a", peers, random.Random(1), config)


def test_learns_routes_and_prefers_the_cheaper_offer() -> None:
    a = router({"b": 1, "c": 4})
    out = a.step("b", DistanceVector({"b": 0, "x": 5}))
    assert a.table.routes == {"b": Route("b", 1), "x": Route("b", 6)}
    assert out.table == a.table and out.sends  # a triggered update went out
    a.step("c", DistanceVector({"c": 0, "x": 1}))
    assert a.table.routes["x"] == Route("c", 5)
    a.step("b", DistanceVector({"b": 0, "x": 4}))  # 1 + 4 = 5: a tie, b < c wins
    assert a.table.routes["x"] == Route("b", 5)


def test_the_current_next_hop_is_believed_even_when_the_news_is_bad() -> None:
    a = router({"b": 1, "c": 4})
    a.step("c", DistanceVector({"x": 3}))
    a.step("b", DistanceVector({"x": 1}))
    assert a.table.routes["x"] == Route("b", 2)
    a.step("b", DistanceVector({"x": 9}))
    assert a.table.routes["x"] == Route("b", 10)  # not c's older 7: RIP forgets other offers


def test_split_horizon_omits_and_poison_reverse_poisons() -> None:
    offers = DistanceVector({"b": 0, "x": 2})
    plain = router({"b": 1, "c": 1}, split_horizon=False, poison_reverse=False)
    split = router({"b": 1, "c": 1}, split_horizon=True, poison_reverse=False)
    poison = router({"b": 1, "c": 1}, split_horizon=False, poison_reverse=True)
    for r in (plain, split, poison):
        r.step("b", offers)
        assert r.vector_for("c").entries == {"a": 0, "b": 1, "x": 3}
    assert plain.vector_for("b").entries == {"a": 0, "b": 1, "x": 3}
    assert split.vector_for("b").entries == {"a": 0}
    assert poison.vector_for("b").entries == {"a": 0, "b": 16, "x": 16}


def test_routes_time_out_are_poisoned_then_forgotten() -> None:
    a = router({"b": 1})
    a.step("b", DistanceVector({"x": 2}))
    for _ in range(CFG.route_timeout_ticks):
        a.tick()
    assert "x" in a.table.routes
    out = a.tick()
    assert "x" not in a.table.routes and any("withdrawn" in n for n in out.notes)
    assert a.vector_for("c").entries["x"] == CFG.infinity  # advertised as unreachable
    for _ in range(CFG.garbage_ticks + 1):
        a.tick()
    assert "x" not in a.metrics()


def test_link_down_cost_change_and_one_way_links() -> None:
    a = router({"b": 1, "c": None})
    a.step("c", DistanceVector({"c": 0, "x": 1}))  # we cannot forward to c: ignored
    assert a.table.routes == {}
    a.step("b", DistanceVector({"b": 0, "x": 2}))
    a.set_link("b", 3)
    assert a.table.routes["x"] == Route("b", 5)
    a.link_down("b")
    assert a.table.routes == {}


def test_bad_data_is_counted_and_dropped_never_raised() -> None:
    a = router({"b": 1})
    for frm, msg in [
        ("b", DistanceVector({"x": -1})),
        ("b", DistanceVector({"x": "1"})),  # type: ignore[dict-item]
        ("b", DistanceVector({f"n{i}": 1 for i in range(1000)})),
        ("b", RoutingHello("b", [])),
        ("z", DistanceVector({"x": 1})),
    ]:
        a.step(frm, msg)
    assert a.rejected_total == 5 and a.table.routes == {}


def test_infinity_caps_metrics() -> None:
    a = router({"b": 11})
    a.step("b", DistanceVector({"x": 4, "y": 5, "z": 20}))
    assert a.table.routes == {"x": Route("b", 15)}  # 16 and 31 are unreachable
    assert a.metrics() == {"x": (15, "b")}


@settings(max_examples=20, deadline=None)
@given(count=st.integers(2, 10), seed=st.integers(0, 10**6), directed=st.booleans())
def test_network_converges_to_shortest_paths_within_the_infinity_metric(
    count: int, seed: int, directed: bool
) -> None:
    topo = preset("random", count, seed=seed, directed=directed)
    sim = RoutingSim(topo, SimSettings(protocol="distance_vector", seed=seed))
    sim.run_until_converged(max_ticks=600)
    truth = dict(nx.all_pairs_dijkstra_path_length(topo.to_networkx()))
    for node, table in sim.tables().items():
        expected = {d: c for d, c in truth[node].items() if d != node and c < 16}
        assert {d: r.cost for d, r in table.routes.items()} == expected, sim.describe()


LINE = Topology(("A", "B", "C"), (Link("A", "B"), Link("B", "C")))


def cut_and_watch(config: DistanceVectorConfig) -> tuple[int, int, RoutingSim]:
    """Converge A–B–C, cut B–C; return (ticks with an A⇄B loop for C, highest metric, sim)."""
    sim = RoutingSim(LINE, SimSettings(protocol="distance_vector", seed=1, distance_vector=config))
    sim.run_until_converged(300)
    loop_ticks = 0
    highest = 0

    def watch(s: RoutingSim) -> None:
        nonlocal loop_ticks, highest
        loop_ticks += any(dst == "C" for dst, _, _ in s.two_node_loops())
        for node in ("A", "B"):
            core = s.cores[node]
            assert isinstance(core, DistanceVectorRouter)
            highest = max([highest, *(m for d, (m, _) in core.metrics().items() if d == "C")])

    sim.observers.append(watch)
    sim.cut("B", "C", notify=True)
    sim.run_until(lambda s: s.converged() and not s.two_node_loops(), 2000)
    return loop_ticks, highest, sim


def test_count_to_infinity_happens_without_the_fixes_and_is_bounded_by_infinity() -> None:
    config = DistanceVectorConfig(
        split_horizon=False, poison_reverse=False, triggered_updates=False, infinity=16
    )
    loop_ticks, highest, sim = cut_and_watch(config)
    assert loop_ticks > 0  # A and B sent C's traffic back and forth
    assert highest == 16  # the metric climbed all the way to infinity...
    assert "C" not in sim.tables()["A"].routes  # ...and then the route was gone
    counted = [c.after.cost for h in sim.history for c in h.changes if c.dst == "C" and c.after]
    assert max(counted) == 15 and len(counted) >= 6  # counting 3, 5, 7, ... one round at a time


def test_a_smaller_infinity_ends_the_count_sooner() -> None:
    unfixed = DistanceVectorConfig(
        split_horizon=False, poison_reverse=False, triggered_updates=False
    )
    slow = cut_and_watch(dataclasses.replace(unfixed, infinity=32))
    fast = cut_and_watch(dataclasses.replace(unfixed, infinity=8))
    assert fast[0] < slow[0]


def test_poison_reverse_prevents_the_two_node_loop() -> None:
    for triggered in (False, True):
        config = DistanceVectorConfig(
            split_horizon=False, poison_reverse=True, triggered_updates=triggered
        )
        loop_ticks, highest, _ = cut_and_watch(config)
        assert loop_ticks == 0 and highest == 16


def test_split_horizon_alone_prevents_it_too_but_waits_for_a_timeout() -> None:
    config = DistanceVectorConfig(split_horizon=True, poison_reverse=False)
    loop_ticks, _, sim = cut_and_watch(config)
    assert loop_ticks == 0 and "C" not in sim.tables()["A"].routes


def random_tree(count: int, rng: random.Random) -> Topology:
    nodes = [f"n{i}" for i in range(count)]
    links = tuple(
        Link(nodes[rng.randrange(i)], nodes[i], cost=rng.randint(1, 3)) for i in range(1, count)
    )
    return Topology(tuple(nodes), links)


@settings(max_examples=15, deadline=None)
@given(count=st.integers(3, 8), seed=st.integers(0, 10**6), triggered=st.booleans())
def test_with_poison_reverse_no_two_node_loop_ever_forms_in_a_tree(
    count: int, seed: int, triggered: bool
) -> None:
    rng = random.Random(seed)
    topo = random_tree(count, rng)
    config = DistanceVectorConfig(poison_reverse=True, triggered_updates=triggered)
    sim = RoutingSim(
        topo, SimSettings(protocol="distance_vector", seed=seed, distance_vector=config)
    )
    loops: list[object] = []
    sim.observers.append(lambda s: loops.extend(s.two_node_loops()))
    sim.run_until_converged(600)
    victim = rng.choice(topo.links)
    sim.cut(victim.a, victim.b, notify=rng.random() < 0.5)
    sim.run_until_converged(1000)
    assert loops == [], sim.describe()
