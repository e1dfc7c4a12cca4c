"""The chaos schedule (cluster/core/nemesis.py): reproducible, bounded, always healed.

A schedule is replayed from its seed, so it must be a pure function of its
arguments; and whatever it breaks, the cluster must be whole at the end. The
state machine below applies a schedule the way the backend's fault registry
and launcher would, and checks both promises on many seeds.
"""

from __future__ import annotations

from typing import Any

import pytest

from cluster.core.nemesis import (
    FINAL_MARGIN_S,
    KINDS,
    ChaosAction,
    NemesisError,
    schedule,
)

NODES = ["n1", "n2", "n3", "n4", "n5"]


class World:
    """What the faults of a schedule leave broken, applied in order."""

    def __init__(self) -> None:
        self.down: set[str] = set()
        self.paused: set[str] = set()
        self.cut = False  # a partition or one-way rule
        self.links: dict[frozenset[str], dict[str, Any]] = {}
        self.most_out = 0

    def apply(self, fault: dict[str, Any]) -> None:
        action = fault["action"]
        if action == "kill":
            assert fault["node"] not in self.down | self.paused, f"{fault} hits a broken node"
            self.down.add(fault["node"])
        elif action == "restart":
            self.down.remove(fault["node"])
        elif action == "pause":
            assert fault["node"] not in self.down | self.paused, f"{fault} hits a broken node"
            self.paused.add(fault["node"])
        elif action == "resume":
            self.paused.remove(fault["node"])
        elif action in ("partition", "oneway"):
            assert not self.cut, "two partitions at once cannot be healed one by one"
            self.cut = True
        elif action == "heal":
            self.cut = False
            if fault.get("links"):
                self.links.clear()
        elif action == "link":
            settings = {k: v for k, v in fault.items() if k not in ("action", "a", "b")}
            key = frozenset((fault["a"], fault["b"]))
            if all(v == 0 for v in settings.values()):
                self.links.pop(key, None)
            else:
                self.links[key] = settings
        else:
            raise AssertionError(f"unknown action in {fault}")
        self.most_out = max(self.most_out, len(self.down | self.paused))

    def healthy(self) -> bool:
        return not (self.down or self.paused or self.cut or self.links)


def play(actions: tuple[ChaosAction, ...]) -> World:
    world = World()
    for action in actions:
        world.apply(dict(action.fault))
    return world


def test_the_same_seed_gives_the_same_schedule() -> None:
    first = schedule(42, 60.0, NODES)
    again = schedule(42, 60.0, list(reversed(NODES)))
    assert first == again
    assert [a.text for a in first] == [a.text for a in again]


def test_different_seeds_give_different_schedules() -> None:
    texts = {tuple(a.text for a in schedule(seed, 60.0, NODES)) for seed in range(20)}
    assert len(texts) == 20


@pytest.mark.parametrize("seed", range(200))
def test_every_schedule_ends_healed_and_keeps_a_majority(seed: int) -> None:
    duration_s = 10.0 + seed % 50
    actions = schedule(seed, duration_s, NODES)
    world = play(actions)
    assert world.healthy(), f"seed {seed} leaves the cluster broken: {vars(world)}"
    # at most a minority of nodes down or paused at any moment
    assert world.most_out <= (len(NODES) - 1) // 2
    times = [a.at_s for a in actions]
    assert times == sorted(times)
    assert all(0 < t <= duration_s - FINAL_MARGIN_S for t in times)
    assert actions[-1].fault == {"action": "heal", "links": True}


def test_each_fault_is_followed_by_its_undo() -> None:
    actions = schedule(7, 120.0, NODES)
    starts = [a for a in actions if not a.undo]
    assert len(starts) >= 10, "two minutes of chaos should break things many times"
    assert {a.fault["action"] for a in starts} >= {"kill", "pause", "partition", "link"}
    for start in starts:
        later = [a for a in actions if a.undo and a.at_s >= start.at_s
                 and a.targets == start.targets]
        assert later, f"{start.text} at {start.at_s} s is never undone"


def test_kinds_limit_what_is_broken() -> None:
    actions = schedule(3, 60.0, NODES, kinds=["pause"])
    assert {a.fault["action"] for a in actions} <= {"pause", "resume", "heal"}
    assert any(a.fault["action"] == "pause" for a in actions)


def test_link_faults_only_act_on_the_links_given() -> None:
    ring = [("n1", "n2"), ("n2", "n3"), ("n3", "n4"), ("n4", "n5"), ("n5", "n1")]
    allowed = {frozenset(p) for p in ring}
    actions = schedule(11, 120.0, NODES, links=ring, kinds=["delay", "loss"])
    links = [a.fault for a in actions if a.fault["action"] == "link"]
    assert links
    assert all(frozenset((f["a"], f["b"])) in allowed for f in links)


def test_one_node_is_never_killed_to_keep_a_majority() -> None:
    # with one node, a majority (itself) must stay: only network-free kinds are left
    actions = schedule(5, 30.0, ["n1"], kinds=["kill", "pause"])
    assert [a.fault for a in actions] == [{"action": "heal", "links": True}]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((-1, 10.0, NODES), "seed"),
        ((1, 0.0, NODES), "duration"),
        ((1, 10.0, []), "nodes"),
        ((1, 10.0, ["n1", "n1"]), "nodes"),
    ],
)
def test_bad_arguments_are_refused_with_a_reason(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(NemesisError, match=message):
        schedule(*args)


def test_unknown_kinds_are_refused() -> None:
    with pytest.raises(NemesisError, match="kinds"):
        schedule(1, 10.0, NODES, kinds=["meteor"])
    assert set(KINDS) == {"kill", "pause", "partition", "oneway", "delay", "loss"}
