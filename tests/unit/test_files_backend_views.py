"""The backend's pictures of placement: replica health from telemetry, ring tokens,
and the strategy comparison the dashboard charts (backend/chunk_health.py,
backend/placement_view.py). Pure functions and a small tracker, checked directly."""

from __future__ import annotations

from backend.chunk_health import ChunkHealth
from backend.placement_view import compare_report, next_node_id, position, ring_tokens
from cluster.core.files.meta import PlacementSettings
from cluster.schema.telemetry import ChunkRemoved, ChunkStored

SHA_A = "a" * 64
SHA_B = "b" * 64
MEMBERS = ["n1", "n2", "n3", "n4", "n5"]


def test_replica_health_follows_what_the_nodes_report() -> None:
    health = ChunkHealth()
    # never seen stored anywhere (a backend started over old data): benefit of the doubt
    assert health.health("n1", SHA_A, "up") == "ok"
    health.on_batch("n1", [ChunkStored("n1", 1.0, SHA_A, 10, "upload")])
    assert health.health("n1", SHA_A, "up") == "ok"
    # seen stored on n1, never on n2: n2 has not fetched it (yet)
    assert health.health("n2", SHA_A, "up") == "missing"
    health.on_batch("n2", [ChunkStored("n2", 2.0, SHA_A, 10, "repair")])
    assert health.health("n2", SHA_A, "up") == "ok"
    # the scrubber found n1's copy corrupt and removed it
    health.on_batch("n1", [ChunkRemoved("n1", 3.0, SHA_A, "corrupt")])
    assert health.health("n1", SHA_A, "up") == "missing"
    # whatever it holds, a node that is not up cannot serve it
    assert health.health("n2", SHA_A, "down") == "down"
    assert health.health("n2", SHA_A, "paused") == "down"
    assert health.health("n3", SHA_B, "up") == "ok"


def test_chunk_positions_and_tokens_lie_on_the_unit_circle() -> None:
    settings = PlacementSettings(vnodes=16)
    tokens = ring_tokens(settings, MEMBERS)
    assert len(tokens) == 16 * len(MEMBERS)
    assert [t["position"] for t in tokens] == sorted(t["position"] for t in tokens)
    assert all(0.0 <= t["position"] < 1.0 for t in tokens)
    assert 0.0 <= position(settings, SHA_A) < 1.0
    assert position(settings, SHA_A) != position(settings, SHA_B)
    # rendezvous and modulo have no ring of tokens to draw
    assert ring_tokens(PlacementSettings(strategy="rendezvous"), MEMBERS) == []


def test_the_joining_node_gets_the_next_free_id() -> None:
    assert next_node_id(MEMBERS) == "n6"
    assert next_node_id(["n1", "n7", "n3"]) == "n8"
    assert next_node_id(["alpha"]) == "n1"


def test_few_real_chunks_are_compared_on_samples_and_the_lesson_shows() -> None:
    report = compare_report(PlacementSettings(rf=1), MEMBERS, [SHA_A, SHA_B])
    assert report["sample"] is True and report["keys"] == 1000 and report["real_keys"] == 2
    moved = {s["name"]: s["join"]["fraction_moved"] for s in report["strategies"]}
    # on a join from 5 to 6 nodes modulo moves about 5/6 of the keys, the others about 1/6
    assert moved["modulo"] > 0.7
    assert 0.08 < moved["consistent"] < 0.3 and 0.08 < moved["rendezvous"] < 0.3
    for strategy in report["strategies"]:
        assert sum(strategy["balance"]["counts"].values()) == 1000
        assert strategy["leave"]["keys_total"] == 1000
    # a second request is served from the cache and cannot be changed through the first
    report["strategies"].clear()
    assert len(compare_report(PlacementSettings(rf=1), MEMBERS, [SHA_A, SHA_B])
               ["strategies"]) == 3


def test_a_one_node_cluster_has_no_leave_to_compare() -> None:
    report = compare_report(PlacementSettings(), ["n1"], [])
    assert report["rf"] == 1
    assert all(s["leave"] is None for s in report["strategies"])
