"""Link-state on dense networks: the two OSPF mechanisms the node shell switches on.

A full mesh is the default network of a run, and link-state flooding on it
costs about n² messages per advertisement (every node passes every LSA to
every other). Two switches of ``LinkStateConfig`` bound that:

* ``flood_reduction``: an LSA is not passed on to the neighbours its origin
  lists as heard (the origin sends them its LSAs itself);
* ``min_lsa_interval_ticks``: OSPF's MinLSInterval (RFC 2328 §12.4): changes
  that come close together share one new LSA;
* ``spf_interval_ticks``: Dijkstra at most once per so many ticks, however
  many LSAs arrive (OSPF implementations' SPF hold time).

Both must keep the protocol correct — same tables as networkx, also with
lossy links and after cuts — while sending far less.

Reference: RFC 2328 §12.4 (MinLSInterval), §13.3 (next step in flooding).
"""

from __future__ import annotations

import dataclasses

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.core.routing.linkstate import LinkStateConfig
from cluster.core.topology import Link, preset
from cluster.schema.routing import LinkStateAdvert
from cluster.sim.routing_sim import RoutingSim, SimSettings

DENSE = LinkStateConfig(min_lsa_interval_ticks=5, flood_reduction=True, spf_interval_ticks=2)


def converged_sim(topology_name: str, count: int, config: LinkStateConfig) -> RoutingSim:
    sim = RoutingSim(preset(topology_name, count), SimSettings(seed=2, linkstate=config))
    sim.run_until_converged(2000)
    return sim


def test_a_full_mesh_floods_far_less_and_agrees() -> None:
    plain = converged_sim("mesh", 12, LinkStateConfig())
    dense = converged_sim("mesh", 12, DENSE)
    assert dense.tables() == plain.tables() == dense.expected_tables()
    plain_lsas = plain.sent_total["LinkStateAdvert"]
    dense_lsas = dense.sent_total["LinkStateAdvert"]
    print(f"LSAs sent to converge a 12-node mesh: {plain_lsas} plain, {dense_lsas} reduced")
    assert dense_lsas < plain_lsas / 3


def test_a_cut_in_a_dense_mesh_still_reroutes() -> None:
    sim = converged_sim("mesh", 8, DENSE)
    sim.cut("n1", "n2", notify=True)
    sim.run_until_converged(2000)
    assert sim.tables() == sim.expected_tables()
    assert sim.tables()["n1"].routes["n2"].next_hop != "n2"


def test_changes_close_together_share_one_advertisement() -> None:
    plain = converged_sim("star", 10, LinkStateConfig())
    held = converged_sim("star", 10, dataclasses.replace(DENSE, min_lsa_interval_ticks=20))
    # The hub (n1) sees nine neighbours come up within a few ticks.
    assert held.cores["n1"].seq < plain.cores["n1"].seq  # type: ignore[attr-defined]
    assert held.tables() == plain.tables()


@settings(max_examples=20, deadline=None)
@given(count=st.integers(3, 10), seed=st.integers(0, 10**6), directed=st.booleans())
def test_dense_settings_converge_to_networkx_on_lossy_random_networks(
    count: int, seed: int, directed: bool
) -> None:
    topo = preset(
        "random", count, seed=seed, directed=directed, link=Link("_", "_", loss=0.1)
    )
    config = dataclasses.replace(DENSE, lsa_refresh_ticks=100, lsa_max_age_ticks=300)
    sim = RoutingSim(topo, SimSettings(seed=seed, apply_loss=True, linkstate=config))
    sim.run_until(lambda s: s.converged(), 3000)
    truth = dict(nx.all_pairs_dijkstra_path_length(topo.to_networkx()))
    for node, table in sim.tables().items():
        assert {d: r.cost for d, r in table.routes.items()} == {
            d: c for d, c in truth[node].items() if d != node
        }, sim.describe()


def test_a_long_spf_interval_still_converges_exactly() -> None:
    held = dataclasses.replace(DENSE, spf_interval_ticks=10)
    sim = converged_sim("grid", 9, held)
    assert sim.tables() == sim.expected_tables()
    sim.cut("n1", "n2", notify=True)
    sim.run_until_converged(2000)
    assert sim.tables() == sim.expected_tables()


def test_a_healed_partition_exchanges_databases_again() -> None:
    # Two halves apart long enough for each side's LSAs to expire on the other:
    # the nodes at the restored link share no neighbour, so they swap databases.
    config = dataclasses.replace(DENSE, lsa_refresh_ticks=100, lsa_max_age_ticks=300)
    sim = RoutingSim(preset("line", 6), SimSettings(seed=5, linkstate=config))
    sim.run_until_converged(2000)
    sim.cut("n3", "n4", notify=True)
    sim.run(400)
    assert "n6" not in sim.tables()["n1"].routes
    sim.restore("n3", "n4")
    sim.run_until_converged(2000)
    assert sim.tables() == sim.expected_tables()
    assert sim.tables()["n1"].routes["n6"].cost == 5


def test_a_lost_link_leaves_the_table_at_once_even_when_its_lsa_must_wait() -> None:
    # Hold-downs long enough that neither a new LSA nor a scheduled SPF could help.
    slow = dataclasses.replace(DENSE, min_lsa_interval_ticks=500, spf_interval_ticks=500)
    sim = RoutingSim(preset("ring", 5), SimSettings(seed=3, linkstate=slow))
    sim.run_until_converged(3000)
    assert sim.tables()["n1"].routes["n2"].next_hop == "n2"
    out = sim.cores["n1"].link_down("n2")
    assert out.table is not None and out.table.routes["n2"].next_hop == "n5"


def test_bad_news_is_advertised_at_once_good_news_waits() -> None:
    slow = dataclasses.replace(DENSE, min_lsa_interval_ticks=500)
    sim = RoutingSim(preset("ring", 5), SimSettings(seed=3, linkstate=slow))
    sim.run_until_converged(3000)
    n1 = sim.cores["n1"]
    seq = n1.seq  # type: ignore[attr-defined]
    out = n1.link_down("n2")
    advertised = [s.msg for s in out.sends if isinstance(s.msg, LinkStateAdvert)]
    assert advertised and advertised[0].seq == seq + 1  # at once, despite the interval
    out = n1.set_link("n6", 1)  # good news (a new link) waits for the interval
    assert not [s for s in out.sends if isinstance(s.msg, LinkStateAdvert)]
