"""Lesson files: every built-in one loads, and a broken one is refused with where and why.

A lesson is run in front of a class; a typo must be caught when the file is
read, with a sentence that names the file, the step and the problem — not
discovered as a step that silently does nothing mid-lecture.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.lessons.placeholders import PlaceholderError, Scope, builtins, resolve_params
from backend.lessons.scenario import SCENARIO_DIR, ScenarioError, load_all, parse_scenario

HEADER = """
title = "T"
summary = "S"
concepts = ["c"]
"""

# The ten lessons of issue 6, by file name.
EXPECTED_LESSONS = {
    "leader_election", "leader_crash", "split_vote", "partitioned_leader", "log_divergence",
    "stale_read", "consistent_hashing", "replica_loss", "link_failure", "slow_link",
}


def parse(steps: str, header: str = HEADER, name: str = "lesson") -> None:
    parse_scenario(header + steps, name)


def test_every_built_in_lesson_loads() -> None:
    scenarios = load_all()
    names = [s.name for s in scenarios]
    assert set(names) >= EXPECTED_LESSONS, f"missing: {EXPECTED_LESSONS - set(names)}"
    assert len(names) == len(set(names))
    for scenario in scenarios:
        assert scenario.title and scenario.summary and scenario.concepts
        assert scenario.steps, scenario.name
        for step in scenario.steps:
            assert step.narration.strip(), f"{scenario.name} step {step.number}"
            for check in step.checks:
                assert check.message, f"{scenario.name} step {step.number}: a check needs a message"


def test_lessons_are_listed_in_course_order() -> None:
    orders = [s.order for s in load_all() if s.name in EXPECTED_LESSONS]
    assert orders == sorted(orders)
    assert len(set(orders)) == len(orders)


def test_every_file_in_the_directory_is_a_lesson() -> None:
    # a stray file would be listed with an error in the dashboard
    for path in sorted(SCENARIO_DIR.iterdir()):
        assert path.suffix == ".toml", f"{path.name} is not a lesson file"


def test_a_minimal_lesson_loads() -> None:
    parse_scenario(HEADER + '[[steps]]\nnarration = "hello"\n', "minimal")


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ('colour = "red"\n[[steps]]\nnarration = "n"\n', "top level: unknown key 'colour'"),
        ('[[steps]]\nnarration = "n"\nacton = { do = "kill", node = "n1" }\n',
         "step 1: unknown key 'acton'"),
        ('[[steps]]\ntitle = "no narration"\n', "step 1: needs 'narration'"),
        ('[[steps]]\nnarration = "  "\n', "narration must be a non-empty string"),
        ('[[steps]]\nnarration = "n"\naction = { do = "kil", node = "n1" }\n',
         "unknown action 'kil'"),
        ('[[steps]]\nnarration = "n"\naction = { node = "n1" }\n', "needs 'do'"),
        ('[[steps]]\nnarration = "n"\naction = { do = "kill", nod = "n1" }\n',
         "unknown parameter 'nod' for action 'kill'"),
        ('[[steps]]\nnarration = "n"\naction = { do = "kill" }\n',
         "needs either node"),
        ('[[steps]]\nnarration = "n"\naction = { do = "put", key = "k" }\n',
         "action 'put' needs 'value'"),
        ('[[steps]]\nnarration = "n"\naction = { do = "link", a = "n1", b = "n2", loss = 2 }\n',
         "loss must be a number from 0 to 1"),
        ('[[steps]]\nnarration = "n"\naction = { do = "get", key = "k", consistency = "weak" }\n',
         "consistency must be one of"),
        ('[[steps]]\nnarration = "n"\naction = { do = "kill", node = "n1", expect = "maybe" }\n',
         "expect must be one of"),
        ('[[steps]]\nnarration = "n"\nwait = { timeout_s = 3 }\n', "needs 'until'"),
        ('[[steps]]\nnarration = "n"\nwait = { until = "leader_exits" }\n',
         "unknown condition 'leader_exits'"),
        ('[[steps]]\nnarration = "n"\nwait = { until = "leader_exists", timeout_s = 9999 }\n',
         "timeout_s must be a number"),
        ('[[steps]]\nnarration = "n"\nchecks = [{ that = "leader_exists" }]\n',
         "needs 'message'"),
        ('[[steps]]\nnarration = "n"\nchecks = [{ that = "role", node = "n1", role = "king", '
         'message = "m" }]\n', "role must be one of"),
        ('[[steps]]\nnarration = "kill {leadr}"\n', "unknown placeholder {leadr}"),
        ('[[steps]]\nnarration = "n"\naction = { do = "kill", node = "{rest}" }\n',
         "{rest} must be a whole item of a node list"),
        ('[[steps]]\nnarration = "n"\nremember = { leader = "{follower}" }\n',
         "'leader' cannot be remembered"),
        ('[[steps]]\nnarration = "n"\nremember = { old = "n1" }\n',
         "must be a placeholder"),
        ('[[steps]]\nnarration = "n"\nchecks = [{ that = "result", of = "read", message = "m" }]\n',
         "names no earlier result"),
        ('[[steps]]\nnarration = "{read.value}"\n', "no earlier action saved a result"),
        ('[[steps]]\nnarration = "n"\n[requires]\nnodes = 0\n', "nodes must be a whole number"),
        ("[[steps]]\nnarration = 'n'\n[[steps]\n", "not valid TOML"),
    ],
)
def test_bad_lessons_are_refused_with_a_clear_message(steps: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse(steps)
    assert expected in str(caught.value)
    assert str(caught.value).startswith("lesson.toml: "), "the message names the file"


def test_missing_top_level_fields_are_named() -> None:
    with pytest.raises(ScenarioError, match="needs 'summary'"):
        parse_scenario('title = "T"\nconcepts = ["c"]\n[[steps]]\nnarration = "n"\n', "x")
    with pytest.raises(ScenarioError, match="concepts must be"):
        parse_scenario('title = "T"\nsummary = "S"\n[[steps]]\nnarration = "n"\n', "x")
    with pytest.raises(ScenarioError, match="at least one"):
        parse_scenario(HEADER, "x")


def test_the_file_name_must_be_a_lesson_name() -> None:
    with pytest.raises(ScenarioError, match="file name"):
        parse_scenario(HEADER + '[[steps]]\nnarration = "n"\n', "Leader Election")


def test_remembered_names_and_saved_results_are_usable_later() -> None:
    scenario = parse_scenario(
        HEADER + """
[[steps]]
narration = "kill {leader}"
remember = { old = "{leader}" }
action = { do = "get", key = "k", save_as = "read" }
[[steps]]
narration = "{old} is gone; the read said {read.value}"
checks = [{ that = "result", of = "read", field = "value", equals = "v", message = "m" }]
""",
        "later",
    )
    assert scenario.steps[0].remember == {"old": "{leader}"}
    assert scenario.steps[1].checks[0].params["of"] == "read"


def test_a_broken_file_on_disk_is_named(tmp_path: Path) -> None:
    (tmp_path / "good.toml").write_text(HEADER + '[[steps]]\nnarration = "n"\n')
    (tmp_path / "bad.toml").write_text(HEADER + '[[steps]]\nnarration = "{nope}"\n')
    with pytest.raises(ScenarioError, match=r"^bad\.toml: step 1"):
        load_all(tmp_path)


# -- placeholders -------------------------------------------------------------------------

VIEW = {
    "leader": "n2",
    "nodes": [
        {"id": "n1", "state": "up", "term": 3, "commit_index": 7},
        {"id": "n2", "state": "up", "term": 3, "commit_index": 9},
        {"id": "n3", "state": "down", "term": 2, "commit_index": 5},
        {"id": "n4", "state": "up", "term": 3, "commit_index": 9},
    ],
}


def test_builtins_name_nodes_by_role() -> None:
    values = builtins(VIEW)
    assert values["leader"] == "n2"
    assert values["follower"] == values["follower1"] == "n1"
    assert values["follower2"] == "n4"  # n3 is down: not a follower now
    assert "follower3" not in values
    assert (values["term"], values["commit"]) == (3, 9)


def test_rest_and_all_expand_in_node_lists() -> None:
    scope = Scope(builtins(VIEW), {})
    nodes = ["n1", "n2", "n3", "n4"]
    params = resolve_params({"groups": [["{leader}"], ["{rest}"]]}, scope, nodes)
    assert params == {"groups": [["n2"], ["n1", "n3", "n4"]]}
    assert resolve_params({"nodes": ["{all}"]}, scope, nodes) == {"nodes": nodes}


def test_a_lone_placeholder_keeps_its_type_and_fields_of_results_resolve() -> None:
    results = {"joined": {"ok": True, "body": {"node": "n6", "voters": ["n1", "n6"]}}}
    scope = Scope({**builtins(VIEW), "old_term": 2}, results)
    params = resolve_params(
        {"at_least": "{old_term}", "node": "{joined.node}", "text": "{joined.voters.1} t{term}"},
        scope, ["n1"],
    )
    assert params == {"at_least": 2, "node": "n6", "text": "n6 t3"}


def test_a_placeholder_that_names_nothing_now_says_why() -> None:
    scope = Scope(builtins({"leader": None, "nodes": VIEW["nodes"]}), {})
    with pytest.raises(PlaceholderError, match="no leader"):
        resolve_params({"node": "{leader}"}, scope, ["n1"])
