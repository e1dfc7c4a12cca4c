"""Which nodes should hold a chunk: the configured strategy over the members,
with rf capped and down nodes skipped (cluster/core/files/plan.py)."""

from __future__ import annotations

import random

import pytest

from cluster.core.files.meta import STRATEGIES, PlacementSettings
from cluster.core.files.plan import desired_replicas, effective_rf, strategy_for

MEMBERS = ("n1", "n2", "n3", "n4", "n5")


def keys(count: int) -> list[str]:
    rng = random.Random(5)
    return [f"{rng.getrandbits(256):064x}" for _ in range(count)]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_rf_distinct_members_primary_first(strategy: str) -> None:
    settings = PlacementSettings(strategy=strategy, rf=3)
    for key in keys(50):
        chosen = desired_replicas(settings, MEMBERS, (), key)
        assert len(chosen) == 3 == len(set(chosen)) and set(chosen) <= set(MEMBERS)
        assert chosen == strategy_for(settings, MEMBERS).place(key, 3)


def test_rf_is_capped_by_the_member_count() -> None:
    settings = PlacementSettings(rf=5)
    assert effective_rf(settings, ("n1", "n2")) == 2
    assert sorted(desired_replicas(settings, ("n1", "n2"), (), keys(1)[0])) == ["n1", "n2"]


@pytest.mark.parametrize("strategy", ["consistent", "rendezvous"])
def test_a_down_node_is_replaced_as_if_it_had_left(strategy: str) -> None:
    settings = PlacementSettings(strategy=strategy, rf=3)
    without = strategy_for(settings, [m for m in MEMBERS if m != "n2"])
    for key in keys(200):
        assert desired_replicas(settings, MEMBERS, {"n2"}, key) == without.place(key, 3)


def test_down_nodes_only_move_their_own_chunks() -> None:
    settings = PlacementSettings(strategy="modulo", rf=2)
    for key in keys(200):
        before = desired_replicas(settings, MEMBERS, (), key)
        after = desired_replicas(settings, MEMBERS, {"n3"}, key)
        assert "n3" not in after and len(after) == 2
        assert [n for n in before if n != "n3"] == [n for n in after if n in before]


def test_too_few_live_members_give_fewer_replicas() -> None:
    settings = PlacementSettings(rf=3)
    chosen = desired_replicas(settings, MEMBERS, {"n1", "n2", "n3", "n4"}, keys(1)[0])
    assert chosen == ["n5"]
    assert desired_replicas(settings, MEMBERS, set(MEMBERS), keys(1)[0]) == []


def test_every_hash_names_a_working_function() -> None:
    for hash_name in ("sha256", "md5", "sha1", "modhash"):
        settings = PlacementSettings(hash=hash_name, rf=2, vnodes=16)
        assert len(desired_replicas(settings, MEMBERS, (), keys(1)[0])) == 2


def test_strategies_are_built_once_per_settings_and_members() -> None:
    settings = PlacementSettings(vnodes=64)
    assert strategy_for(settings, MEMBERS) is strategy_for(settings.with_version(9), MEMBERS)
    assert strategy_for(settings, MEMBERS) is not strategy_for(settings, MEMBERS[:4])
