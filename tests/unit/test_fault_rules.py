"""The network fault rules (cluster/core/faults.py): what is blocked, what is refused.

The same functions check the instructor's requests in the backend and the
``SetFaults`` a node receives, so these tests pin both: which pairs a
partition or a one-way rule blocks, and the sentence a bad request gets.
What the rules do to real frames is checked in
tests/integration/test_faults_run.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from cluster.core.faults import (
    MAX_FAULT_DELAY_MS,
    FaultError,
    FaultRules,
    LinkFault,
    all_groups,
    link_fault,
    parse_link_request,
    parse_oneway,
    parse_partition,
)

NODES = ["n1", "n2", "n3", "n4", "n5"]


def test_a_partition_blocks_every_pair_across_groups_and_none_within() -> None:
    rules = FaultRules(parse_partition([["n1", "n2"], ["n3", "n4", "n5"]], NODES))
    for a in NODES:
        for b in NODES:
            across = (a in ("n1", "n2")) != (b in ("n1", "n2"))
            assert rules.blocked(a, b) == across, (a, b)


def test_unlisted_nodes_form_one_more_group_together() -> None:
    rules = FaultRules(parse_partition([["n1"], ["n2"]], NODES))
    assert rules.blocked("n1", "n2") and rules.blocked("n1", "n3") and rules.blocked("n3", "n2")
    assert not rules.blocked("n3", "n4") and not rules.blocked("n5", "n3")
    assert all_groups(rules.partition, NODES) == [["n1"], ["n2"], ["n3", "n4", "n5"]]


def test_a_node_that_joined_after_the_partition_is_with_the_unlisted_nodes() -> None:
    rules = FaultRules(parse_partition([["n1", "n2"]], NODES))
    assert not rules.blocked("n6", "n3")
    assert rules.blocked("n6", "n1")


def test_oneway_stops_to_from_and_lets_from_to_pass() -> None:
    rules = FaultRules(oneways=(parse_oneway(["n1"], ["n2", "n3"], NODES),))
    assert not rules.blocked("n1", "n2") and not rules.blocked("n1", "n3")
    assert rules.blocked("n2", "n1") and rules.blocked("n3", "n1")
    # nodes outside the rule are untouched, also between the "to" nodes
    assert not rules.blocked("n2", "n3") and not rules.blocked("n4", "n1")
    assert rules.blocked_from("n2", NODES) == ["n1"]
    assert rules.blocked_from("n1", NODES) == []


def test_rules_add_up_and_a_node_never_blocks_itself() -> None:
    rules = FaultRules(
        parse_partition([["n1", "n2"]], NODES),
        (parse_oneway(["n3"], ["n4"], NODES),),
    )
    assert rules.blocked("n4", "n3") and rules.blocked("n3", "n1")
    assert not rules.blocked("n1", "n1")
    assert FaultRules().empty and not rules.empty


def test_the_wire_form_round_trips() -> None:
    rules = FaultRules(
        parse_partition([["n1", "n2"], ["n3"]], NODES),
        (parse_oneway(["n4"], ["n5"], NODES),),
        tuple(parse_link_request({"a": "n1", "b": "n2", "loss": 0.25, "delay_ms": 30}, NODES)),
    )
    assert FaultRules.from_wire(*rules.to_wire()) == rules
    assert rules.links_from("n2") == {"n1": LinkFault("n2", "n1", delay_ms=30.0, loss=0.25)}


def test_a_link_request_is_both_directions_unless_oneway() -> None:
    both = parse_link_request({"a": "n1", "b": "n2", "up": False}, NODES)
    assert [(f.src, f.dst, f.up) for f in both] == [("n1", "n2", False), ("n2", "n1", False)]
    one = parse_link_request({"a": "n1", "b": "n2", "reorder": 1, "oneway": True}, NODES)
    assert [(f.src, f.dst, f.reorder) for f in one] == [("n1", "n2", 1.0)]
    assert link_fault("n1", "n2", {}).neutral
    assert not link_fault("n1", "n2", {"duplicate": 0.1}).neutral


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ([["n1", "n2"], ["n2", "n3"]], "n2 is in two groups"),
        ([["n1", "n9"]], "unknown node 'n9'; nodes are n1, n2, n3, n4, n5"),
        ([NODES], "every node is in one group, so nothing would be cut"),
        ([["n1"], []], "group 2 must be a non-empty list"),
        ([["n1", "n1"], ["n2"]], "n1 is listed twice in group 1"),
        ("n1,n2", "groups must be a non-empty list"),
        ([["n1", 2]], "group 1 must name nodes by id"),
        ([], "groups must be a non-empty list"),
    ],
)
def test_bad_partitions_say_what_is_wrong(groups: Any, message: str) -> None:
    with pytest.raises(FaultError, match=message):
        parse_partition(groups, NODES)


@pytest.mark.parametrize(
    ("frm", "to", "message"),
    [
        (["n1", "n2"], ["n2", "n3"], "n2 is in both from and to"),
        (["n1"], [], "to must be a non-empty list"),
        ("n1", ["n2"], "from must be a non-empty list"),
        (["n1"], ["n7"], "unknown node 'n7'"),
    ],
)
def test_bad_oneway_rules_say_what_is_wrong(frm: Any, to: Any, message: str) -> None:
    with pytest.raises(FaultError, match=message):
        parse_oneway(frm, to, NODES)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"a": "n1", "b": "n1"}, "a and b must be two different nodes"),
        ({"a": "n1", "b": "n8"}, "unknown node 'n8'"),
        ({"a": "n1"}, "b must name nodes by id"),
        ({"a": "n1", "b": "n2", "loss": 1.5}, "loss must be between 0 and 1, got 1.5"),
        ({"a": "n1", "b": "n2", "duplicate": -0.1}, "duplicate must be between 0 and 1"),
        ({"a": "n1", "b": "n2", "reorder": "often"}, "reorder must be between 0 and 1"),
        ({"a": "n1", "b": "n2", "delay_ms": -5}, "delay_ms must be between 0 and"),
        (
            {"a": "n1", "b": "n2", "jitter_ms": MAX_FAULT_DELAY_MS + 1},
            "jitter_ms must be between 0 and 10000",
        ),
        ({"a": "n1", "b": "n2", "delay_ms": float("nan")}, "delay_ms must be between"),
        ({"a": "n1", "b": "n2", "loss": True}, "loss must be between 0 and 1, got True"),
        ({"a": "n1", "b": "n2", "up": "no"}, "up must be true or false"),
        ({"a": "n1", "b": "n2", "oneway": 1}, "oneway must be true or false"),
        ({"a": "n1", "b": "n2", "lag_ms": 5}, "unknown link field 'lag_ms'"),
    ],
)
def test_bad_link_requests_say_what_is_wrong(body: dict[str, Any], message: str) -> None:
    with pytest.raises(FaultError, match=message):
        parse_link_request(body, NODES)


def test_a_node_refuses_a_malformed_rule_set() -> None:
    good_link = {"src": "n1", "dst": "n2", "loss": 0.1}
    for partition, oneways, links in [
        ([["n1"], ["n1"]], [], []),
        ([], [["n1"]], []),
        ([], [[["n1"], ["n1"]]], []),
        ([], [], [{"src": "n1", "dst": "n2", "loss": 2.0}]),
        ([], [], [good_link, good_link]),
        ([], [], ["n1->n2"]),
        ([], "none", []),
    ]:
        with pytest.raises(FaultError):
            FaultRules.from_wire(partition, oneways, links)
