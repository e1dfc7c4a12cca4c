"""Lessons on any number of nodes: node-list placeholders and groups of links (issue #6).

split_vote and slow_link used to name each follower and each link, so they
ran only on 3 nodes. These tests pin the vocabulary that replaced the
names: ``{followers}``, ``{majority}``, ``{spare_followers}`` and
``{quorum_followers}`` for clusters of 3, 4 and 5; a remembered node list
and ``{list.0}``; the ``set_links`` action on the app's real topology route;
the ``links_latency`` condition; and the loader's refusals, each with the
sentence a lesson author reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from backend_testkit import TOKEN, StandInLauncher
from flask import Flask

from backend import create_app
from backend.hub import Hub
from backend.lessons.actions import describe, perform
from backend.lessons.conditions import Baseline, Probe, evaluate
from backend.lessons.lab import Lab
from backend.lessons.link_groups import LinkGroup
from backend.lessons.placeholders import (
    PlaceholderError,
    Scope,
    builtins,
    fill_text,
    resolve,
    resolve_params,
)
from backend.lessons.scenario import ScenarioError, parse_scenario
from cluster.config import ClusterConfig

HEADER = 'title = "T"\nsummary = "S"\nconcepts = ["c"]\n'


def view_of(count: int, leader: str | None = "n1", down: tuple[str, ...] = (),
            voters: list[str] | None = None) -> dict[str, Any]:
    ids = [f"n{i}" for i in range(1, count + 1)]
    nodes = [{"id": n, "state": "down" if n in down else "up", "term": 4, "commit_index": 9,
              "voters": (voters if voters is not None else ids) if n == leader else []}
             for n in ids]
    return {"leader": leader, "nodes": nodes}


# -- the built-ins, on 3, 4 and 5 nodes ---------------------------------------------------

# Reference: §5.2, §5.3 — elections and commits need a majority, ⌊N/2⌋ + 1.
@pytest.mark.parametrize(
    ("count", "majority", "spare", "quorum"),
    [
        (3, 2, ["n2"], ["n3"]),
        (4, 3, ["n2"], ["n3", "n4"]),
        (5, 3, ["n2", "n3"], ["n4", "n5"]),
    ],
)
def test_followers_split_into_those_a_majority_can_spare_and_those_it_needs(
    count: int, majority: int, spare: list[str], quorum: list[str]
) -> None:
    values = builtins(view_of(count))
    assert values["followers"] == [f"n{i}" for i in range(2, count + 1)]
    assert (values["cluster_size"], values["majority"]) == (count, majority)
    assert values["spare_followers"] == spare
    assert values["quorum_followers"] == quorum
    # the leader plus the quorum followers are exactly a majority
    assert 1 + len(values["quorum_followers"]) == majority


def test_a_down_voter_still_counts_towards_the_majority_but_cannot_be_spared() -> None:
    values = builtins(view_of(5, down=("n2",)))
    assert values["followers"] == ["n3", "n4", "n5"]
    assert values["majority"] == 3, "n2 still votes when it returns"
    # 4 up voters, 3 needed: only one follower can be spared now
    assert values["spare_followers"] == ["n3"]
    assert values["quorum_followers"] == ["n4", "n5"]


def test_only_voters_count_and_a_non_voter_is_still_a_follower() -> None:
    values = builtins(view_of(4, voters=["n1", "n2", "n3"]))
    assert values["followers"] == ["n2", "n3", "n4"]
    assert (values["cluster_size"], values["majority"]) == (3, 2)
    assert values["spare_followers"] == ["n2"]
    assert values["quorum_followers"] == ["n3"]


def test_without_a_leader_nobody_is_spare_and_the_lesson_is_told_why() -> None:
    values = builtins(view_of(3, leader=None))
    assert values["followers"] == ["n1", "n2", "n3"]
    assert values["majority"] == 2
    assert "spare_followers" not in values and "quorum_followers" not in values
    with pytest.raises(PlaceholderError, match="no leader now"):
        resolve_params({"to": ["{spare_followers}"]}, Scope(values, {}), ["n1", "n2", "n3"])


# -- node lists in parameters and sentences -------------------------------------------------

def test_a_node_list_is_spliced_into_a_node_list_and_rest_excludes_it() -> None:
    scope = Scope(builtins(view_of(5)), {})
    nodes = [f"n{i}" for i in range(1, 6)]
    assert resolve_params({"among": ["{followers}"]}, scope, nodes) == {
        "among": ["n2", "n3", "n4", "n5"]}
    params = {"groups": [["{spare_followers}"], ["{rest}"]]}
    assert resolve_params(params, scope, nodes) == {"groups": [["n2", "n3"], ["n1", "n4", "n5"]]}


def test_a_remembered_node_list_is_used_whole_or_by_position() -> None:
    values = builtins(view_of(5))
    kept = {"spare": resolve("{spare_followers}", Scope(values, {})),
            "fast": resolve("{quorum_followers}", Scope(values, {}))}
    assert kept == {"spare": ["n2", "n3"], "fast": ["n4", "n5"]}
    scope = Scope({**values, **kept}, {})
    params = resolve_params({"from": "{leader}", "to": ["{spare}", "{fast.0}"]}, scope, [])
    assert params == {"from": "n1", "to": ["n2", "n3", "n4"]}
    with pytest.raises(PlaceholderError, match="shorter"):
        resolve_params({"node": "{fast.2}"}, scope, [])


def test_a_node_list_reads_as_a_sentence_in_narration() -> None:
    scope = Scope({**builtins(view_of(5)), "one": ["n7"]}, {})
    text = fill_text("{followers} follow {leader}; {majority} of {cluster_size}; {one}", scope)
    assert text == "n2, n3, n4 and n5 follow n1; 3 of 5; n7"
    assert fill_text("{spare_followers}", Scope(builtins(view_of(3)), {})) == "n2"
    assert fill_text("{followers.9}", scope) == "?"


# -- groups of links --------------------------------------------------------------------------

MESH_4 = [("n1", "n2"), ("n1", "n3"), ("n1", "n4"), ("n2", "n3"), ("n2", "n4"), ("n3", "n4")]


def test_among_selects_every_configured_link_inside_the_group() -> None:
    group = LinkGroup.from_params({"among": ["n2", "n3", "n4", "n3"]})
    assert group.select(MESH_4, directed=False) == ([("n2", "n3"), ("n2", "n4"), ("n3", "n4")],
                                                    [])
    ring = [("n1", "n2"), ("n2", "n3"), ("n3", "n4"), ("n4", "n1")]
    assert group.select(ring, directed=False) == ([("n2", "n3"), ("n3", "n4")], [])


def test_from_to_names_each_link_and_reports_the_missing_ones() -> None:
    group = LinkGroup.from_params({"from": "n3", "to": ["n1", "n3", "n4"]})
    assert group.select(MESH_4, directed=False) == ([("n1", "n3"), ("n3", "n4")], [])
    # directed: only the arc from the source counts
    assert group.select([("n1", "n3"), ("n3", "n4")], directed=True) == (
        [("n3", "n4")], [("n3", "n1")])


@pytest.fixture
def five_app(hub: Hub) -> Iterator[Flask]:
    launcher = StandInLauncher([f"n{i}" for i in range(1, 6)])
    app = create_app({
        "TESTING": True,
        "CLUSTERLAB_HUB": hub,
        "CLUSTERLAB_LAUNCHER": launcher,
        "CLUSTERLAB_TOKEN": TOKEN,
        "CLUSTERLAB_CLUSTER": ClusterConfig(nodes=5),
    })
    for status in launcher.status():
        hub.on_status(status)
    yield app


def latencies(app: Flask) -> dict[tuple[str, str], float]:
    body = app.test_client().get("/api/topology").get_json()
    return {(x["a"], x["b"]): x["latency_ms"] for x in body["links"]}


def test_set_links_edits_every_link_among_the_followers_through_the_topology_route(
    five_app: Flask,
) -> None:
    lab = Lab(five_app)
    answer = perform(lab, "set_links", {"among": ["n2", "n3", "n4", "n5"], "latency_ms": 500})
    assert answer.ok, answer.error
    assert answer.body["count"] == 6
    slow = {pair for pair, ms in latencies(five_app).items() if ms == 500}
    assert slow == {(a, b) for a, b in (("n2", "n3"), ("n2", "n4"), ("n2", "n5"),
                                         ("n3", "n4"), ("n3", "n5"), ("n4", "n5"))}
    assert all(ms == 0 for pair, ms in latencies(five_app).items() if "n1" in pair)


def test_set_links_from_the_leader_and_a_missing_link_changes_nothing(five_app: Flask) -> None:
    lab = Lab(five_app)
    answer = perform(lab, "set_links", {"from": "n1", "to": ["n2", "n3"], "latency_ms": 300})
    assert answer.ok and answer.body["links"] == ["n1–n2", "n1–n3"]
    before = latencies(five_app)
    refused = perform(lab, "set_links", {"from": "n1", "to": ["n4", "n9"], "latency_ms": 7})
    assert refused.status == 404 and "no link n1–n9" in str(refused.error)
    assert latencies(five_app) == before, "a refused group leaves every link as it was"
    lonely = perform(lab, "set_links", {"among": ["n1"], "latency_ms": 7})
    assert lonely.status == 400 and "no link among n1" in str(lonely.error)


def test_set_links_is_described_as_the_panel_shows_it() -> None:
    text = describe("set_links", {"from": "n1", "to": ["n2", "n3"], "latency_ms": 300})
    assert text == "set_links n1 → n2,n3: latency_ms=300"


def test_links_latency_needs_every_link_of_the_group_in_range(five_app: Flask) -> None:
    def look(measured: dict[str, float | None], **params: Any) -> tuple[bool, str]:
        links = [{"a": "n1", "b": n, "latency_ms_measured": ms} for n, ms in measured.items()]
        view = {"nodes": [], "links": links, "topology": {"directed": False}}
        probe = Probe(Lab(five_app), Baseline(), {}, view=view)
        outcome = evaluate(probe, "links_latency", {"from": "n1", **params}, negate=False)
        return outcome.ok, outcome.detail

    ok, detail = look({"n2": 301.0, "n3": 299.5}, to=["n2", "n3"], at_least_ms=280)
    assert ok, detail
    ok, detail = look({"n2": 301.0, "n3": 12.0}, to=["n2", "n3"], at_least_ms=280)
    assert not ok and "n1–n3 12 ms (below 280 ms)" in detail
    ok, detail = look({"n2": 301.0, "n3": None}, to=["n2", "n3"], at_least_ms=280)
    assert not ok and "nothing measured yet" in detail
    ok, detail = look({"n2": 3.0}, to=["n2", "n4"], at_most_ms=50)
    assert not ok and "no link n1–n4" in detail


# -- the loader --------------------------------------------------------------------------------

def test_a_lesson_for_any_cluster_size_loads() -> None:
    scenario = parse_scenario(HEADER + """
[[steps]]
narration = "{followers} follow {leader}; {majority} of {cluster_size} make a majority"
remember = { rivals = "{followers}", boss = "{leader}", fast = "{quorum_followers}" }
action = [
  { do = "set_links", among = ["{rivals}"], latency_ms = 500 },
  { do = "set_links", from = "{boss}", to = ["{spare_followers}", "{fast.0}"], up = false },
]
wait = { until = "links_latency", from = "{boss}", to = ["{fast}"], at_most_ms = 50 }
checks = [{ that = "leader_exists", among = ["{rivals}"], message = "m" }]
[[steps]]
narration = "{rivals} again, and {rivals.1}"
action = { do = "kill", node = "{rivals.1}" }
""", "any_size")
    assert scenario.steps[0].remember["rivals"] == "{followers}"
    assert [a.name for a in scenario.steps[0].actions] == ["set_links", "set_links"]


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ('action = { do = "set_links", latency_ms = 5 }', "needs either among"),
        ('action = { do = "set_links", among = ["n1", "n2"], from = "n1", to = ["n2"], '
         'latency_ms = 5 }', "needs either among"),
        ('action = { do = "set_links", from = "n1", latency_ms = 5 }', "needs either among"),
        ('action = { do = "set_links", among = ["n1", "n2"] }', "needs something to change"),
        ('action = { do = "set_links", among = ["n1"], latency_ms = 5 }',
         "among needs two nodes or more"),
        ('action = { do = "set_links", among = ["{followers}"], latency_ms = -1 }',
         "latency_ms must not be negative"),
        ('wait = { until = "links_latency", a = "n1", b = "n2" }', "unknown parameter 'a'"),
        ('action = { do = "kill", node = "{followers}" }', "{followers} is a list of nodes"),
        ('action = { do = "put", key = "k", value = "to {followers}" }',
         "{followers} is a list of nodes"),
        ('action = { do = "kill", node = "{followers.first}" }', "pick one by position"),
        ('remember = { both = "{followers} and {leader}" }', "{followers} is a list of nodes"),
        ('remember = { others = "{rest}" }', "{rest} and {all} depend on the action"),
    ],
)
def test_a_misused_group_or_node_list_is_refused_with_a_reason(step: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(HEADER + f'[[steps]]\nnarration = "n"\n{step}\n', "bad")
    assert expected in str(caught.value)
    assert str(caught.value).startswith("bad.toml: step 1"), "the message says where"


def test_a_name_remembered_as_a_node_then_as_a_list_follows_the_latest() -> None:
    with pytest.raises(ScenarioError, match="is a list of nodes"):
        parse_scenario(HEADER + """
[[steps]]
narration = "n"
remember = { who = "{leader}" }
[[steps]]
narration = "n"
remember = { who = "{followers}" }
action = { do = "kill", node = "{who}" }
""", "relist")
