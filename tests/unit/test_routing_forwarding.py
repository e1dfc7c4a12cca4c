"""The forwarding decision (deliver / forward / drop with a hop budget) and traces."""

from __future__ import annotations

from cluster.core.routing.forwarding import (
    NO_ROUTE_COST,
    Deliver,
    Drop,
    Forward,
    ForwardingTable,
    Route,
    RouteChange,
    trace_step,
)
from cluster.schema.routing import TraceProbe

TABLE = ForwardingTable.of("n1", {"n3": Route("n2", 5), "n2": Route("n2", 1)})


def test_decide_delivers_forwards_and_drops() -> None:
    assert TABLE.decide("n1", 0) == Deliver()  # arrived: no budget needed
    assert TABLE.decide("n3", 4) == Forward("n2", 3)
    assert TABLE.decide("n3", 0) == Drop("ttl")
    assert TABLE.decide("n9", 4) == Drop("no_route")


def test_a_routing_loop_is_bounded_by_the_hop_budget() -> None:
    # Two tables pointing at each other for n9: a message bounces until its budget is spent.
    a = ForwardingTable.of("a", {"n9": Route("b", 2)})
    b = ForwardingTable.of("b", {"n9": Route("a", 2)})
    at, ttl, hops = "a", 16, 0
    while True:
        decision = (a if at == "a" else b).decide("n9", ttl)
        if not isinstance(decision, Forward):
            break
        at, ttl, hops = decision.next_hop, decision.ttl, hops + 1
    assert decision == Drop("ttl") and hops == 16


def test_tables_compare_by_content_and_diff_by_destination() -> None:
    same = ForwardingTable.of("n1", {"n2": Route("n2", 1), "n3": Route("n2", 5)})
    assert same == TABLE and hash(same) == hash(TABLE)
    newer = ForwardingTable.of("n1", {"n2": Route("n2", 1), "n4": Route("n2", 2)})
    assert TABLE.diff(newer) == [
        RouteChange("n3", Route("n2", 5), None),
        RouteChange("n4", None, Route("n2", 2)),
    ]
    assert TABLE.to_dict()["n3"] == {"next_hop": "n2", "cost": 5}
    assert TABLE.text() == "n1: n2→n2/1 n3→n2/5"
    assert TABLE.cost("n1") == 0 and TABLE.cost("n7") is None


def test_trace_records_each_hop_and_replies_at_the_end() -> None:
    probe = TraceProbe("n1", "n3", 7, [])
    decision, probe, reply = trace_step(TABLE, probe, 16, 100.0)
    assert decision == Forward("n2", 15) and reply is None
    assert probe.hops == [("n1", 5, 100.0)]
    n2 = ForwardingTable.of("n2", {})
    decision, probe, reply = trace_step(n2, probe, 15, 101.5)
    assert decision == Drop("no_route")
    assert reply is not None and not reply.reached and reply.reason == "no_route"
    assert [h[0] for h in reply.hops] == ["n1", "n2"] and reply.hops[1][1] == NO_ROUTE_COST
    n3 = ForwardingTable.of("n3", {})
    decision, _, reply = trace_step(n3, TraceProbe("n1", "n3", 8, []), 3, 1.0)
    assert decision == Deliver() and reply is not None and reply.reached
