"""Repair and rebalance of hash-placed files on real node processes.

What only real processes show: a node killed with SIGKILL stops answering
Raft, the leader notices after the grace period and lists other nodes, and
those nodes really fetch the chunk bytes over the routed peer transport and
fsync them into their chunk stores; a chunk file corrupted on disk (a flipped
byte, as a failing disk or a student with ``dd`` would do) is found by the
scrubber and replaced from a good replica; after a membership change and a
strategy change only the chunks whose placement changed move.

The cluster uses a short repair grace (``files_repair_grace_s``) so the
test takes seconds, and small chunks so a few MiB make many chunks.
Everything goes through the client library and the nodes' client ports;
processes are stopped by pid in the fixture's ``finally`` (conftest.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from launcher_testkit import Cluster, wait_until
from raft_testkit import raft_of, wait_leader

from cluster.client.files import download, file_info, placement, set_placement, upload
from cluster.core.files.meta import PlacementSettings
from cluster.core.files.plan import desired_replicas

pytestmark = pytest.mark.integration

StartCluster = Callable[..., Cluster]
KIB = 1024
RF = 3
REPAIR_GRACE_S = 2.0
SETTINGS: dict[str, Any] = {
    "files_rf": RF,
    "files_repair_grace_s": REPAIR_GRACE_S,
    "files_scrub_mb_per_s": 50.0,
}
ORPHAN_GRACE_S = 6.0  # only in the test that cuts an upload off: an upload takes less
READY_DEADLINE_S = 30.0
REPAIR_DEADLINE_S = 60.0


def ids(count: int) -> list[str]:
    return [f"n{i}" for i in range(1, count + 1)]


def addresses(cluster: Cluster, nodes: list[str]) -> dict[str, str]:
    return {n: cluster.client_addr(n) for n in nodes}


def ready(cluster: Cluster, nodes: list[str]) -> str:
    leader = wait_leader(cluster, nodes)
    wait_until(lambda: cluster.all_linked(nodes), READY_DEADLINE_S, what="every link up")
    return leader


def put_file(cluster: Cluster, entry: str, name: str, data: bytes) -> None:
    def attempt() -> bool:
        try:
            upload(io.BytesIO(data), name, cluster.client_addr(entry), size_bytes=len(data))
        except Exception as exc:  # 503 while links or the leader settle: try again
            if getattr(exc, "status", None) != 503:
                raise
            return False
        return True

    wait_until(attempt, READY_DEADLINE_S, interval_s=0.3, what=f"uploading {name}")


def chunk_path(cluster: Cluster, node: str, sha256: str) -> Path:
    return cluster.data_dir / node / "chunks" / sha256[:2] / sha256


def holds(cluster: Cluster, node: str, sha256: str) -> bool:
    """Does ``node``'s chunk store really hold a good copy (read and re-hashed here)?"""
    try:
        data = chunk_path(cluster, node, sha256).read_bytes()
    except FileNotFoundError:
        return False
    return hashlib.sha256(data).hexdigest() == sha256


def chunks_of(cluster: Cluster, nodes: list[str], name: str) -> list[dict[str, Any]]:
    chunks: list[dict[str, Any]] = file_info(name, addresses(cluster, nodes))["chunks"]  # type: ignore[assignment]
    return chunks


def fetched_ok(cluster: Cluster, nodes: list[str], name: str, data: bytes, tmp: Path) -> None:
    out = tmp / f"{name}.out"
    download(name, addresses(cluster, nodes), out)
    assert out.read_bytes() == data
    out.unlink()


def settled(
    cluster: Cluster, nodes: list[str], name: str, want: Callable[[str], set[str]]
) -> list[dict[str, Any]] | None:
    """The chunk list once every chunk lists exactly ``want(sha)`` and each of them holds it."""
    try:
        chunks = chunks_of(cluster, nodes, name)
    except Exception:
        return None
    for chunk in chunks:
        if set(chunk["replicas"]) != want(chunk["sha256"]):
            return None
        if not all(holds(cluster, n, chunk["sha256"]) for n in chunk["replicas"]):
            return None
    return chunks


def send_command(cluster: Cluster) -> Callable[[str, Any], None]:
    def send(node: str, command: Any) -> None:
        # A node not connected to the hub right now learns it from its config on restart.
        with contextlib.suppress(KeyError, OSError):
            cluster.hub.send_command(node, command)

    return send


def events(cluster: Cluster, kind: str, **match: Any) -> list[Any]:
    return [
        e for e in cluster.hub.events(kind) if all(getattr(e, k) == v for k, v in match.items())
    ]


def stored_events(cluster: Cluster, expected: set[tuple[str, str]]) -> list[Any]:
    """The ChunkStored events once every expected (node, sha256) copy has reported;
    asserts no other copy was stored (nothing else moved)."""

    def reported() -> list[Any] | None:
        stored = events(cluster, "ChunkStored")
        return stored if {(e.node, e.sha256) for e in stored} >= expected else None

    stored: list[Any] = wait_until(reported, READY_DEADLINE_S, what="ChunkStored events")
    time.sleep(0.5)  # a stray event would be flushed by now (every 30 ms)
    stored = events(cluster, "ChunkStored")
    extra = [(e.node, e.sha256[:8], e.reason) for e in stored if (e.node, e.sha256) not in expected]
    assert not extra, f"copies stored that the placement change did not ask for: {extra}"
    return stored


def test_a_killed_holder_is_replaced_and_a_corrupt_chunk_is_repaired(
    start_cluster: StartCluster, tmp_path: Path
) -> None:
    cluster = start_cluster(nodes=5, files_chunk_bytes=256 * KIB, **SETTINGS)
    nodes = ids(5)
    leader = ready(cluster, nodes)
    data = os.urandom(3 * 1024 * KIB + 777)  # 13 chunks
    entry = next(n for n in nodes if n != leader)
    put_file(cluster, entry, "survivor.bin", data)
    chunks = chunks_of(cluster, nodes, "survivor.bin")
    assert all(len(c["replicas"]) == RF for c in chunks)

    # kill -9 a holder (not the leader, so the time measured is the repair's alone).
    holding = {n for c in chunks for n in c["replicas"]}
    victim = next(n for n in nodes if n != leader and n in holding)
    cluster.launcher.kill(victim)
    killed_s = time.monotonic()
    live = [n for n in nodes if n != victim]
    fetched_ok(cluster, nodes, "survivor.bin", data, tmp_path)  # fails over past the dead node

    def repaired() -> list[dict[str, Any]] | None:
        try:
            chunks = chunks_of(cluster, live, "survivor.bin")
        except Exception:
            return None
        for chunk in chunks:
            replicas = chunk["replicas"]
            if len(replicas) != RF or victim in replicas:
                return None
            if not all(holds(cluster, n, chunk["sha256"]) for n in replicas):
                return None
        return chunks

    chunks = wait_until(repaired, REPAIR_DEADLINE_S, interval_s=0.1, what="RF live replicas")
    kill_to_full_rf_s = time.monotonic() - killed_s
    print(
        f"\nkill -9 {victim} → every chunk on {RF} live nodes again: {kill_to_full_rf_s:.2f} s"
        f" (repair grace {REPAIR_GRACE_S} s)"
    )
    assert kill_to_full_rf_s >= REPAIR_GRACE_S  # not before the grace period
    wait_until(
        lambda: events(cluster, "ChunkStored", reason="repair"),
        READY_DEADLINE_S,
        what="ChunkStored repair events",
    )
    fetched_ok(cluster, live, "survivor.bin", data, tmp_path)

    # Flip one byte of one chunk file on disk: the scrubber finds it, a replica heals it.
    chunk = chunks[len(chunks) // 2]
    sha256, holder = chunk["sha256"], chunk["replicas"][0]
    path = chunk_path(cluster, holder, sha256)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))
    assert not holds(cluster, holder, sha256)
    wait_until(
        lambda: events(cluster, "ChunkRemoved", node=holder, sha256=sha256, reason="corrupt"),
        REPAIR_DEADLINE_S,
        interval_s=0.2,
        what="the corrupt copy to be detected",
    )
    wait_until(
        lambda: holds(cluster, holder, sha256), REPAIR_DEADLINE_S, what="the copy to be refetched"
    )
    wait_until(  # telemetry is flushed in batches: the event may trail the file
        lambda: events(cluster, "ChunkStored", node=holder, sha256=sha256, reason="repair"),
        READY_DEADLINE_S,
        what="ChunkStored repair for the refetched copy",
    )
    fetched_ok(cluster, live, "survivor.bin", data, tmp_path)


def test_a_join_and_a_strategy_change_move_only_chunks_whose_placement_changed(
    start_cluster: StartCluster, tmp_path: Path
) -> None:
    # The default repair grace: under load a slow heartbeat must not look like a death here.
    cluster = start_cluster(nodes=5, files_chunk_bytes=64 * KIB, files_rf=RF)
    nodes = ids(5)
    leader = ready(cluster, nodes)
    data = os.urandom(4 * 1024 * KIB)  # 64 chunks
    put_file(cluster, leader, "moving.bin", data)
    before = {c["sha256"]: set(c["replicas"]) for c in chunks_of(cluster, nodes, "moving.bin")}
    settings = placement(addresses(cluster, nodes))
    consistent = PlacementSettings(
        settings["strategy"], settings["hash"], settings["rf"], settings["vnodes"]
    )
    assert consistent.strategy == "consistent"

    # The upload's own ChunkStored events must be in before the slate is wiped,
    # or a late one would look like a copy the join moved.
    uploaded = {(n, sha) for sha, holders in before.items() for n in holders}
    wait_until(
        lambda: {(e.node, e.sha256) for e in events(cluster, "ChunkStored")} >= uploaded,
        READY_DEADLINE_S,
        what="the upload's ChunkStored events",
    )
    # A sixth node joins (launcher + POST /members, thesis §4).
    cluster.hub.clear()
    cluster.launcher.add_node(send_command(cluster))
    everyone = [*nodes, "n6"]
    # Added as a voter only once it runs: a voter the leader cannot hear for the
    # grace period counts as down, and its chunks would go elsewhere meanwhile.
    wait_until(lambda: cluster.all_linked(everyone), READY_DEADLINE_S, what="n6 linked")
    added = requests.post(
        f"http://{cluster.client_addr(leader)}/members",
        json={"action": "add", "node": "n6"},
        timeout=30,
    )
    assert added.status_code == 200, added.text
    voters = tuple(added.json()["voters"])
    wait_until(
        lambda: (raft_of(cluster, "n6") or {}).get("voters") == list(voters),
        READY_DEADLINE_S,
        what="n6 to join",
    )

    def wanted(sha256: str) -> set[str]:
        return set(desired_replicas(consistent, voters, (), sha256))

    after = wait_until(
        lambda: settled(cluster, everyone, "moving.bin", wanted),
        REPAIR_DEADLINE_S,
        interval_s=0.2,
        what="the chunks to reach their places with n6",
    )
    moved = {c["sha256"] for c in after if set(c["replicas"]) != before[c["sha256"]]}
    # Exactly the chunks whose desired set changed moved, each to n6 only.
    assert moved == {s for s in before if wanted(s) != before[s]}
    assert all(wanted(s) - before[s] == {"n6"} for s in moved)
    assert 0.2 * len(before) <= len(moved) <= 0.8 * len(before)  # about RF/6 of them
    stored = stored_events(cluster, {("n6", s) for s in moved})
    assert {e.reason for e in stored} == {"rebalance"}
    # The copies trimmed off the old holders are garbage-collected.
    trimmed = [(n, s) for s in moved for n in before[s] - wanted(s)]
    wait_until(
        lambda: not any(chunk_path(cluster, n, s).exists() for n, s in trimmed),
        REPAIR_DEADLINE_S,
        what="trimmed copies to be collected",
    )
    wait_until(
        lambda: (
            {(e.node, e.sha256) for e in events(cluster, "ChunkRemoved", reason="gc")}
            >= set(trimmed)
        ),
        READY_DEADLINE_S,
        what="ChunkRemoved gc events for the trimmed copies",
    )
    fetched_ok(cluster, everyone, "moving.bin", data, tmp_path)

    # Changing the strategy is a new desired set for every chunk: they rebalance to it.
    cluster.hub.clear()
    changed = set_placement(addresses(cluster, everyone), {"strategy": "rendezvous"})
    assert changed["strategy"] == "rendezvous"
    rendezvous = PlacementSettings("rendezvous", consistent.hash, RF, consistent.vnodes)

    def wanted_now(sha256: str) -> set[str]:
        return set(desired_replicas(rendezvous, voters, (), sha256))

    before_change = {c["sha256"]: set(c["replicas"]) for c in after}
    wait_until(
        lambda: settled(cluster, everyone, "moving.bin", wanted_now),
        REPAIR_DEADLINE_S,
        interval_s=0.2,
        what="the chunks to reach their rendezvous places",
    )
    new_copies = {(n, s) for s, old in before_change.items() for n in wanted_now(s) - old}
    stored = stored_events(cluster, new_copies)
    assert {e.reason for e in stored} == {"rebalance"}
    fetched_ok(cluster, everyone, "moving.bin", data, tmp_path)


def test_a_cut_off_upload_is_collected_after_the_orphan_grace_and_nothing_else(
    start_cluster: StartCluster,
) -> None:
    cluster = start_cluster(
        nodes=3, files_chunk_bytes=64 * KIB, files_rf=RF, files_orphan_grace_s=ORPHAN_GRACE_S
    )
    nodes = ids(3)
    leader = ready(cluster, nodes)
    kept = os.urandom(3 * 64 * KIB)
    put_file(cluster, leader, "kept.bin", kept)
    kept_chunks = [c["sha256"] for c in chunks_of(cluster, nodes, "kept.bin")]

    # An upload cut off after its first chunk: the copies exist, no metadata names them.
    base = f"http://{cluster.client_addr(leader)}/uploads"
    opened = requests.post(base, json={"name": "cut.bin", "size_bytes": 2 * 64 * KIB}, timeout=30)
    assert opened.status_code == 201, opened.text
    upload_id = opened.json()["upload_id"]
    first = requests.put(f"{base}/{upload_id}/0", data=os.urandom(64 * KIB), timeout=30)
    assert first.status_code == 200, first.text
    orphan, holders = first.json()["sha256"], first.json()["replicas"]
    wait_until(lambda: all(holds(cluster, n, orphan) for n in holders), 30, what="the copies")
    assert requests.delete(f"{base}/{upload_id}", timeout=30).status_code == 204
    cut_at_s = time.monotonic()

    wait_until(
        lambda: not any(chunk_path(cluster, n, orphan).exists() for n in holders),
        REPAIR_DEADLINE_S,
        what="the orphan copies to be collected",
    )
    assert time.monotonic() - cut_at_s >= ORPHAN_GRACE_S - 1.0  # not before its grace
    wait_until(
        lambda: (
            {e.node for e in events(cluster, "ChunkRemoved", sha256=orphan, reason="gc")}
            == set(holders)
        ),
        READY_DEADLINE_S,
        what="ChunkRemoved gc events for the orphan",
    )
    # The committed file's chunks, older than the grace too, are all still there.
    assert all(holds(cluster, n, s) for s in kept_chunks for n in nodes)
    assert not events(cluster, "ChunkRemoved", sha256=kept_chunks[0])
