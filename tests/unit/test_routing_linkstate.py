"""Link-state core: hellos, flooding, ageing, SPF; and whole networks converging.

Reference: OSPFv2 (RFC 2328) — §10 two-way neighbour state, §13 flooding
(newer/older/same), §12.1.6 sequence numbers, §14 ageing — in miniature.
"""

from __future__ import annotations

import random

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.core.routing.distance_vector import DistanceVectorConfig
from cluster.core.routing.forwarding import Route
from cluster.core.routing.linkstate import LinkStateConfig, LinkStateRouter
from cluster.core.routing.protocol import RoutingOutput
from cluster.core.topology import Link, Topology, preset
from cluster.schema.routing import DistanceVector, LinkStateAdvert, RoutingHello
from cluster.sim.routing_sim import RoutingSim, SimSettings

CFG = LinkStateConfig(
    hello_interval_ticks=5, dead_interval_ticks=15, lsa_refresh_ticks=100, lsa_max_age_ticks=300
)


def router(node: str, peers: dict[str, int | None]) -> LinkStateRouter:
    return LinkStateRouter(node, peers, random.Random(1), CFG)


def sent(out: RoutingOutput, to: str, kind: type) -> list[object]:
    return [s.msg for s in out.sends if s.to == to and isinstance(s.msg, kind)]


def test_neighbour_is_up_only_after_a_two_way_hello() -> None:
    a = router("a", {"b": 3})
    out = a.step("b", RoutingHello("b", []))  # b does not hear a yet
    assert a.up_neighbours() == []
    assert sent(out, "b", RoutingHello) == [RoutingHello("a", ["b"])]  # answer so b hears us
    out = a.step("b", RoutingHello("b", ["a"]))
    assert a.up_neighbours() == ["b"]
    lsas = sent(out, "b", LinkStateAdvert)
    assert any(isinstance(x, LinkStateAdvert) and x.neighbours == {"b": 3} for x in lsas)
    # Without b's LSA confirming the link back, SPF must not use it yet.
    assert a.table.routes == {}
    out = a.step("b", LinkStateAdvert("b", 1, 0, {"a": 3}, ["a"]))
    assert out.table is not None and a.table.routes == {"b": Route("b", 3)}
    assert [c.text() for c in out.changes] == ["b: - → b/3"]


def up_pair() -> LinkStateRouter:
    a = router("a", {"b": 1, "c": 1})
    for peer in ("b", "c"):
        a.step(peer, RoutingHello(peer, ["a"]))
        a.step(peer, LinkStateAdvert(peer, 1, 0, {"a": 1}, ["a"]))
    assert a.up_neighbours() == ["b", "c"]
    return a


def test_silence_for_the_dead_interval_takes_a_neighbour_down() -> None:
    a = up_pair()
    seq = a.seq
    for _ in range(CFG.dead_interval_ticks):
        a.step("c", RoutingHello("c", ["a"]))  # c keeps talking, b is silent
        out = a.tick()
        assert "b" in a.up_neighbours()
    out = a.tick()
    assert a.up_neighbours() == ["c"]
    assert any("b down" in n for n in out.notes)
    assert a.seq == seq + 1 and "b" not in a.table.routes
    new = sent(out, "c", LinkStateAdvert)
    assert any(isinstance(x, LinkStateAdvert) and x.neighbours == {"c": 1} for x in new)


def test_link_down_from_the_transport_does_not_wait() -> None:
    a = up_pair()
    a.link_down("b")
    assert a.up_neighbours() == ["c"] and "b" not in a.table.routes


def test_flooding_forwards_newer_ignores_same_and_answers_older() -> None:
    a = up_pair()
    lsa = LinkStateAdvert("x", 5, 2, {"c": 1}, ["c"])
    out = a.step("b", lsa)
    assert sent(out, "c", LinkStateAdvert) == [lsa]  # passed on, with its age
    assert sent(out, "b", LinkStateAdvert) == []  # never back to the sender
    out = a.step("c", lsa)
    assert out.sends == ()  # the same copy again: the flood stops here
    out = a.step("c", LinkStateAdvert("x", 3, 0, {}, []))
    assert [m.seq for m in sent(out, "c", LinkStateAdvert)] == [5]  # type: ignore[attr-defined]


def test_own_old_advertisement_makes_a_restarted_node_jump_its_sequence() -> None:
    a = up_pair()
    out = a.step("b", LinkStateAdvert("a", 40, 0, {}, []))
    assert a.seq == 41
    assert {m.seq for m in sent(out, "b", LinkStateAdvert)} == {41}  # type: ignore[attr-defined]


def test_advertisements_age_out() -> None:
    a = up_pair()
    a.step("b", LinkStateAdvert("x", 1, CFG.lsa_max_age_ticks - 3, {"b": 1}, ["b"]))
    assert "x" in a.database()
    for _ in range(3):
        a.step("b", RoutingHello("b", ["a"]))
        a.step("c", RoutingHello("c", ["a"]))
        a.tick()
    assert "x" not in a.database()
    out = a.step("b", LinkStateAdvert("y", 1, CFG.lsa_max_age_ticks, {}, []))
    assert "y" not in a.database() and out.sends == ()


def test_bad_data_is_counted_and_dropped_never_raised() -> None:
    a = up_pair()
    bad = [
        ("b", LinkStateAdvert("x", 1, 0, {"c": -4}, [])),
        ("b", LinkStateAdvert("", 1, 0, {}, [])),
        ("b", LinkStateAdvert("x", 0, 0, {}, [])),
        ("b", LinkStateAdvert("x", 1, 0, {f"n{i}": 1 for i in range(1000)}, [])),
        ("b", LinkStateAdvert("x", 1, 0, {"c": "1"}, [])),  # type: ignore[dict-item]
        ("b", RoutingHello("c", ["a"])),  # claims to be someone else
        ("b", RoutingHello("b", [3])),  # type: ignore[list-item]
        ("b", DistanceVector({"a": 1})),
        ("z", RoutingHello("z", ["a"])),  # not a neighbour
    ]
    table = a.table
    for frm, msg in bad:
        a.step(frm, msg)
    assert a.rejected_total == len(bad)
    assert a.table == table and "x" not in a.database()


@settings(max_examples=25, deadline=None)
@given(
    count=st.integers(2, 10),
    seed=st.integers(0, 10**6),
    directed=st.booleans(),
)
def test_network_converges_to_networkx_shortest_paths(
    count: int, seed: int, directed: bool
) -> None:
    topo = preset("random", count, seed=seed, directed=directed)
    sim = RoutingSim(topo, SimSettings(seed=seed))
    sim.run_until_converged(max_ticks=500)
    truth = dict(nx.all_pairs_dijkstra_path_length(topo.to_networkx()))
    for node, table in sim.tables().items():
        assert {d: r.cost for d, r in table.routes.items()} == {
            d: c for d, c in truth[node].items() if d != node
        }, sim.describe()


@settings(max_examples=15, deadline=None)
@given(count=st.integers(3, 9), seed=st.integers(0, 10**6), directed=st.booleans())
def test_reconverges_after_a_silent_cut_and_after_a_restore(
    count: int, seed: int, directed: bool
) -> None:
    topo = preset("random", count, seed=seed, directed=directed)
    sim = RoutingSim(topo, SimSettings(seed=seed))
    sim.run_until_converged(500)
    victim = random.Random(seed).choice(topo.links)
    sim.cut(victim.a, victim.b)  # nobody is told: hellos must notice
    sim.run_until_converged(500)
    sim.restore(victim.a, victim.b)
    sim.run_until_converged(500)
    assert sim.tables() == sim.expected_tables()


def test_dead_node_disappears_from_every_table_and_returns_after_restart() -> None:
    sim = RoutingSim(preset("grid", 9), SimSettings(seed=3))
    sim.run_until_converged(500)
    sim.kill("n5")  # the centre of the 3 × 3 grid
    sim.run_until_converged(500)
    assert all("n5" not in t.routes for t in sim.tables().values())
    assert sim.tables()["n4"].cost("n6") == 4  # around the hole instead of through it
    sim.restart("n5")
    sim.run_until_converged(500)
    assert sim.tables()["n4"].routes["n6"] == Route("n5", 2)


def test_cost_edit_moves_traffic_to_the_new_shortest_path() -> None:
    square = Topology(
        ("a", "b", "c", "d"),
        (Link("a", "b"), Link("b", "c"), Link("c", "d"), Link("d", "a")),
    )
    sim = RoutingSim(square, SimSettings(seed=1))
    sim.run_until_converged(300)
    assert sim.tables()["a"].routes["c"] == Route("b", 2)  # tie: the smaller name
    sim.set_topology(square.with_link_changed("a", "b", cost=5))
    sim.run_until_converged(300)
    assert sim.tables()["a"].routes["c"] == Route("d", 2)
    assert sim.tables()["a"].routes["b"] == Route("d", 3)


def test_converged_flag_settles_then_drops_on_change() -> None:
    sim = RoutingSim(preset("ring", 6), SimSettings(seed=2))
    sim.run_until_converged(300)
    sim.run(LinkStateConfig().converged_after_ticks + 1)
    assert all(sim.converged_flags.values())
    sim.cut("n1", "n2", notify=True)
    assert not sim.converged_flags["n1"] and not sim.converged_flags["n2"]


def test_lossy_links_still_converge() -> None:
    lossy = preset("random", 8, seed=4, link=Link("_", "_", loss=0.2, jitter_ms=30.0))
    sim = RoutingSim(lossy, SimSettings(seed=4, apply_loss=True))
    sim.run_until_converged(2000)
    assert sim.lost_total > 0


def test_distance_vector_settings_are_ignored_by_link_state() -> None:
    # The simulator picks the core by protocol; unrelated settings do not leak in.
    settings_ = SimSettings(distance_vector=DistanceVectorConfig(infinity=3))
    sim = RoutingSim(preset("line", 6), settings_)
    sim.run_until_converged(300)
    assert sim.tables()["n1"].cost("n6") == 5
