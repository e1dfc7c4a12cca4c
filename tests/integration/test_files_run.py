"""Hash-placed files on real node processes: upload, commit, list, download, delete,
bad input, cut-off uploads, a corrupted chunk file, and kill -9 of every node.

What only real processes show: each chunk really lands, fsynced, in the chunk
store of each replica the placement names (the files are on disk, and a node
serves them over its own client port); the metadata is committed through a
real Raft majority, so any other node lists the file; and after SIGKILL of the
whole cluster an acknowledged file still downloads with the right checksum.

Everything goes through the nodes' client ports with ``requests``; processes
are stopped by pid in the fixture's ``finally`` (conftest.py).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from launcher_testkit import Cluster, wait_until
from raft_testkit import wait_leader

pytestmark = pytest.mark.integration

StartCluster = Callable[..., Cluster]
MIB = 1024 * 1024
HTTP_TIMEOUT_S = 30.0  # a commit waits for replication and a Raft commit
READY_DEADLINE_S = 30.0


def ids(count: int) -> list[str]:
    return [f"n{i}" for i in range(1, count + 1)]


def url(cluster: Cluster, node: str, path: str) -> str:
    return f"http://{cluster.client_addr(node)}{path}"


def wait_ready(cluster: Cluster, nodes: list[str]) -> str:
    """A leader, and every node reachable by every other (an upload needs RF live nodes)."""
    leader = wait_leader(cluster, nodes)
    wait_until(lambda: cluster.all_linked(nodes), READY_DEADLINE_S, what="every link up")
    return leader


def upload(
    cluster: Cluster, node: str, name: str, data: bytes, http: requests.Session
) -> dict[str, Any]:
    """Open, send every chunk in order, commit; the commit's answer (raises on failure)."""

    def attempt() -> requests.Response | None:
        opened = http.post(
            url(cluster, node, "/uploads"),
            json={"name": name, "size_bytes": len(data)},
            timeout=HTTP_TIMEOUT_S,
        )
        if opened.status_code == 503:  # a link or the leader not yet there: try again
            return None
        return opened

    opened = wait_until(attempt, READY_DEADLINE_S, interval_s=0.2, what="an upload to open")
    assert opened.status_code == 201, opened.text
    info = opened.json()
    chunk_bytes = info["chunk_bytes"]
    assert info["chunks"] == -(-len(data) // chunk_bytes)
    base = url(cluster, node, f"/uploads/{info['upload_id']}")
    view = memoryview(data)
    for index in range(info["chunks"]):
        piece = view[index * chunk_bytes : (index + 1) * chunk_bytes]
        reply = http.put(f"{base}/{index}", data=bytes(piece), timeout=HTTP_TIMEOUT_S)
        assert reply.status_code == 200, reply.text
        assert reply.json()["sha256"] == hashlib.sha256(piece).hexdigest()
    committed = http.post(f"{base}/commit", timeout=HTTP_TIMEOUT_S)
    assert committed.status_code == 201, committed.text
    result: dict[str, Any] = committed.json()
    return result


def download(cluster: Cluster, node: str, name: str, http: requests.Session) -> bytes:
    """Ask ``node`` for the placement, fetch each chunk from its first replica that answers."""
    meta = http.get(url(cluster, node, "/files/" + quote(name, safe="")), timeout=HTTP_TIMEOUT_S)
    assert meta.status_code == 200, meta.text
    parts = []
    for chunk in meta.json()["chunks"]:
        for replica in chunk["replicas"]:
            try:
                reply = http.get(url(cluster, replica, f"/chunks/{chunk['sha256']}"), timeout=10)
            except requests.RequestException:
                continue
            if reply.status_code == 200:
                assert hashlib.sha256(reply.content).hexdigest() == chunk["sha256"]
                parts.append(reply.content)
                break
        else:
            raise AssertionError(f"no replica of chunk {chunk['index']} answered")
    return b"".join(parts)


def chunk_file(cluster: Cluster, node: str, sha256: str) -> Path:
    return cluster.data_dir / node / "chunks" / sha256[:2] / sha256


def test_a_file_is_uploaded_replicated_listed_downloaded_and_deleted(
    start_cluster: StartCluster,
) -> None:
    cluster = start_cluster(nodes=5)
    nodes = ids(5)
    leader = wait_ready(cluster, nodes)
    data = os.urandom(5 * MIB + 12345)  # 6 chunks, the last one short
    http = requests.Session()
    entry = next(n for n in nodes if n != leader)  # a follower: the commit is forwarded
    committed = upload(cluster, entry, "report 2024.bin", data, http)
    assert committed["sha256"] == hashlib.sha256(data).hexdigest()
    assert committed["md5"] == hashlib.md5(data).hexdigest()
    assert committed["size_bytes"] == len(data) and committed["chunks"] == 6
    version = committed["version"]
    assert version >= 2  # a Raft index: after the leader's no-op

    # Another node lists it (linearizable by default: read index from the leader).
    other = next(n for n in nodes if n not in (entry, leader))
    listing = http.get(url(cluster, other, "/files"), timeout=HTTP_TIMEOUT_S).json()
    assert [f["name"] for f in listing["files"]] == ["report 2024.bin"]
    assert listing["files"][0]["chunks"] == 6 and listing["placement"]["rf"] == 3

    # Every chunk has 3 distinct replicas, each holding exactly those bytes on disk.
    meta = http.get(url(cluster, other, "/files/report%202024.bin"), timeout=10).json()
    assert meta["version"] == version and len(meta["chunks"]) == 6
    for chunk in meta["chunks"]:
        assert len(set(chunk["replicas"])) == 3 and set(chunk["replicas"]) <= set(nodes)
        piece = data[chunk["index"] * MIB : (chunk["index"] + 1) * MIB]
        assert chunk["sha256"] == hashlib.sha256(piece).hexdigest()
        for replica in chunk["replicas"]:
            assert chunk_file(cluster, replica, chunk["sha256"]).read_bytes() == piece
    assert hashlib.sha256(download(cluster, other, "report 2024.bin", http)).digest() == (
        hashlib.sha256(data).digest()
    )

    # Telemetry: every stored copy reported once, the change reported by the leader only.
    def stored() -> bool:
        events = cluster.hub.events("ChunkStored")
        return len({(e.node, e.sha256) for e in events if e.reason == "upload"}) == 18

    wait_until(stored, 10, what="18 ChunkStored events (6 chunks × 3 copies)")
    changes = [e for e in cluster.hub.events("FileChanged") if e.name == "report 2024.bin"]
    puts = [(e.node, e.version) for e in changes if e.op == "put"]
    assert puts == [(leader, version)]

    # Delete: gone everywhere, a second delete is a 404.
    deleted = http.delete(url(cluster, other, "/files/report%202024.bin"), timeout=10)
    assert deleted.status_code == 200 and deleted.json() == {
        "name": "report 2024.bin",
        "version": version,
    }
    assert http.get(url(cluster, entry, "/files/report%202024.bin"), timeout=10).status_code == 404
    again = http.delete(url(cluster, entry, "/files/report%202024.bin"), timeout=10)
    assert again.status_code == 404 and "no file named" in again.json()["error"]


def test_bad_input_is_refused_clearly_and_a_cut_off_upload_leaves_nothing(
    start_cluster: StartCluster,
) -> None:
    cluster = start_cluster(nodes=3)
    nodes = ids(3)
    wait_ready(cluster, nodes)
    http = requests.Session()

    def open_upload(name: Any, size: Any) -> requests.Response:
        return http.post(
            url(cluster, "n1", "/uploads"), json={"name": name, "size_bytes": size}, timeout=10
        )

    for name, says in [
        ("../../etc/passwd", "names are flat"),
        ("a\nb", "control characters"),
        ("x" * 256, "at most 255 bytes"),
        ("", "must not be empty"),
        (None, "must be text"),
    ]:
        reply = open_upload(name, 10)
        assert reply.status_code == 400 and says in reply.json()["error"], (name, reply.text)
    empty = open_upload("empty.txt", 0)
    assert empty.status_code == 400 and "empty" in empty.json()["error"]
    huge = open_upload("huge.bin", 10 * 1024**4)
    assert huge.status_code == 400 and "too large" in huge.json()["error"]
    assert open_upload("neg.bin", -5).status_code == 400
    assert http.get(url(cluster, "n2", "/files/nothing-here"), timeout=10).status_code == 404
    assert http.get(url(cluster, "n2", "/files/a%2Fb"), timeout=10).status_code == 400
    assert http.get(url(cluster, "n2", "/chunks/zz"), timeout=10).status_code == 400
    assert http.get(url(cluster, "n2", "/chunks/" + "ab" * 32), timeout=10).status_code == 404

    # A cut-off upload: two chunks of three arrive, then the client gives up.
    data = os.urandom(2 * MIB + 100)
    reply = wait_until(
        lambda: (r := open_upload("half.bin", len(data))).status_code == 201 and r,
        READY_DEADLINE_S,
        interval_s=0.2,
        what="an upload to open",
    )
    base = url(cluster, "n1", f"/uploads/{reply.json()['upload_id']}")
    wrong_order = http.put(f"{base}/1", data=data[MIB : 2 * MIB], timeout=10)
    assert wrong_order.status_code == 409 and "expected chunk 0" in wrong_order.json()["error"]
    short = http.put(f"{base}/0", data=data[:1000], timeout=10)
    assert short.status_code == 409 and f"must be {MIB} bytes" in short.json()["error"]
    for index in (0, 1):
        piece = data[index * MIB : (index + 1) * MIB]
        assert http.put(f"{base}/{index}", data=piece, timeout=HTTP_TIMEOUT_S).status_code == 200
    early = http.post(f"{base}/commit", timeout=HTTP_TIMEOUT_S)
    assert early.status_code == 409 and "chunk 2 of 3 has not been uploaded" in early.text
    for node in nodes:  # nothing visible anywhere
        assert http.get(url(cluster, node, "/files/half.bin"), timeout=10).status_code == 404
        assert http.get(url(cluster, node, "/files"), timeout=10).json()["files"] == []
    assert http.delete(base, timeout=10).status_code == 204
    assert http.post(f"{base}/commit", timeout=10).status_code == 404
    assert http.delete(base, timeout=10).status_code == 404

    # Placement settings: bad values refused, good ones committed with a version.
    bad = http.put(url(cluster, "n3", "/placement"), json={"strategy": "random"}, timeout=10)
    assert bad.status_code == 400 and "strategy must be one of" in bad.json()["error"]
    changed = http.put(
        url(cluster, "n3", "/placement"), json={"strategy": "rendezvous", "rf": 2}, timeout=10
    )
    assert changed.status_code == 200, changed.text
    settings = changed.json()
    assert (settings["strategy"], settings["rf"], settings["members"]) == ("rendezvous", 2, nodes)
    assert settings["version"] > 0
    seen = http.get(url(cluster, "n1", "/files"), timeout=10).json()["placement"]
    assert (seen["strategy"], seen["rf"]) == ("rendezvous", 2)

    # With one node down, chunks go to the live ones: rf 2 of the 2 left.
    cluster.launcher.kill("n3")
    wait_until(
        lambda: "n3" in http.get(url(cluster, "n1", "/placement"), timeout=10).json()["down"],
        10,
        what="n1 to notice that n3 is down",
    )
    small = os.urandom(MIB + 1)
    assert upload(cluster, "n1", "while-down.bin", small, http)["chunks"] == 2
    meta = http.get(url(cluster, "n2", "/files/while-down.bin"), timeout=10).json()
    assert all(sorted(c["replicas"]) == ["n1", "n2"] for c in meta["chunks"])
    assert download(cluster, "n2", "while-down.bin", http) == small


def test_an_acknowledged_file_survives_kill_9_of_every_node_and_corruption_is_caught(
    start_cluster: StartCluster,
) -> None:
    cluster = start_cluster(nodes=3, files_chunk_bytes=256 * 1024)
    nodes = ids(3)
    wait_ready(cluster, nodes)
    http = requests.Session()
    data = os.urandom(3 * MIB + 7)  # 13 chunks of 256 KiB
    committed = upload(cluster, "n2", "keep.bin", data, http)
    assert committed["chunks"] == 13
    for node in nodes:
        cluster.launcher.kill(node)  # SIGKILL: no goodbye, no flush
    for node in nodes:
        cluster.launcher.restart(node)
    wait_ready(cluster, nodes)
    got = wait_until(
        lambda: _try_download(cluster, "n3", "keep.bin", http), 30, what="the file after restart"
    )
    assert hashlib.sha256(got).hexdigest() == committed["sha256"]

    # Flip a byte of one stored chunk: the node refuses to serve it and quarantines it.
    meta = http.get(url(cluster, "n1", "/files/keep.bin"), timeout=10).json()
    victim = meta["chunks"][4]
    holder = victim["replicas"][0]
    path = chunk_file(cluster, holder, victim["sha256"])
    raw = bytearray(path.read_bytes())
    raw[100] ^= 0xFF
    path.write_bytes(bytes(raw))
    reply = http.get(url(cluster, holder, f"/chunks/{victim['sha256']}"), timeout=10)
    assert reply.status_code == 409 and reply.json() == {"error": "corrupt"}
    # The holder loop refetches the chunk within a second or so, so the file
    # may already be back: what must hold is a quarantined copy and, soon,
    # good bytes under the chunk's name again.
    assert list((cluster.data_dir / holder / "chunks" / "quarantine").iterdir())
    wait_until(
        lambda: path.exists() and hashlib.sha256(path.read_bytes()).hexdigest() == victim["sha256"],
        30,
        what="the corrupt chunk refetched from a good replica",
    )
    wait_until(
        lambda: any(
            e.node == holder and e.sha256 == victim["sha256"] and e.reason == "corrupt"
            for e in cluster.hub.events("ChunkRemoved")
        ),
        10,
        what="a ChunkRemoved corrupt event",
    )
    # The other replicas still serve it, so the file still downloads intact.
    assert hashlib.sha256(download(cluster, "n2", "keep.bin", http)).hexdigest() == (
        committed["sha256"]
    )


def _try_download(cluster: Cluster, node: str, name: str, http: requests.Session) -> bytes | None:
    try:
        return download(cluster, node, name, http)
    except (AssertionError, requests.RequestException):
        return None
