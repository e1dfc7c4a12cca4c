"""The file client's own decisions, against tiny real HTTP servers playing replicas.

What is checked: the order in which replicas are tried and why each is
skipped (refused connection, 404, 409 corrupt, wrong length, bytes whose
sha256 does not match), that a download appears under its name only when
the whole file verified (never a ``.part`` left, never a half file), that
a kept-alive connection the node closed is reopened for a GET, and the
progress line (bytes, MB/s, ETA). The servers are real sockets speaking
HTTP/1.1; each just serves what the test put in it. Uploads, which need a
real entry node, are tested against a real cluster in tests/backend.
"""

from __future__ import annotations

import hashlib
import io
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cluster.client import files
from cluster.client.files import ChunkInfo, FileInfo, FilesError
from cluster.client.node_http import NodeConnections
from cluster.client.progress import Progress, bar, format_bytes, format_eta, format_rate

CHUNK_BYTES = 64 * 1024


class Replica:
    """One node's client port: serves the chunks (and files) it was given, records requests."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.chunks: dict[str, bytes] = {}  # what GET /chunks/<sha> answers with status 200
        self.statuses: dict[str, int] = {}  # sha → a refusal status instead (404, 409)
        self.files: dict[str, Any] = {}  # name → JSON for GET /files/<name>
        self.requests: list[str] = []
        self.close_after_each = False  # drop kept-alive connections without saying so
        replica = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # http.server calls do_<METHOD>
                replica.requests.append(self.path)
                status, body, kind = replica.answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                if replica.close_after_each:
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client dropping a connection mid-answer is part of the tests

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.addr = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def answer(self, path: str) -> tuple[int, bytes, str]:
        if path.startswith("/chunks/"):
            sha = path.removeprefix("/chunks/")
            if sha in self.statuses:
                status = self.statuses[sha]
                error = "corrupt" if status == 409 else "not held here"
                return status, json.dumps({"error": error}).encode(), "application/json"
            if sha in self.chunks:
                return 200, self.chunks[sha], "application/octet-stream"
            return 404, b'{"error": "not held here"}', "application/json"
        if path.startswith("/files/"):
            name = path.removeprefix("/files/")
            if name in self.files:
                return 200, json.dumps(self.files[name]).encode(), "application/json"
            return 404, b'{"error": "no such file"}', "application/json"
        return 404, b'{"error": "no such path"}', "application/json"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def replicas() -> Iterator[dict[str, Replica]]:
    started = {name: Replica(name) for name in ("n1", "n2", "n3")}
    try:
        yield started
    finally:
        for replica in started.values():
            replica.stop()


def closed_addr() -> str:
    """A loopback address nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"127.0.0.1:{port}"


def nodes_of(replicas: dict[str, Replica]) -> dict[str, str]:
    return {name: r.addr for name, r in replicas.items()}


def make_file(name: str, data: bytes, replicas_per_chunk: list[list[str]]) -> FileInfo:
    chunks: list[ChunkInfo] = []
    for index, start in enumerate(range(0, len(data), CHUNK_BYTES)):
        piece = data[start : start + CHUNK_BYTES]
        chunks.append({"index": index, "sha256": hashlib.sha256(piece).hexdigest(),
                       "size_bytes": len(piece), "replicas": replicas_per_chunk[index]})
    return {"name": name, "size_bytes": len(data), "chunk_bytes": CHUNK_BYTES,
            "md5": hashlib.md5(data).hexdigest(), "sha256": hashlib.sha256(data).hexdigest(),
            "version": 7, "created_ms": 1, "chunks": chunks}


def chunk_of(data: bytes) -> ChunkInfo:
    return {"index": 0, "sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data),
            "replicas": ["n1", "n2", "n3"]}


# -- failover: one chunk, replicas in the metadata's order ------------------------------


def fetch(chunk: ChunkInfo, nodes: dict[str, str]) -> tuple[str, bytes]:
    conns = NodeConnections()
    buffer = bytearray(chunk["size_bytes"])
    try:
        node = files.fetch_chunk(conns, chunk, nodes, memoryview(buffer))
    finally:
        conns.close()
    return node, bytes(buffer)


def test_a_replica_sending_corrupt_bytes_is_skipped_for_the_next(
    replicas: dict[str, Replica],
) -> None:
    data = b"good bytes " * 1000
    chunk = chunk_of(data)
    replicas["n1"].chunks[chunk["sha256"]] = b"BAD" + data[3:]  # same length, wrong bytes
    replicas["n2"].chunks[chunk["sha256"]] = data
    replicas["n3"].chunks[chunk["sha256"]] = data
    node, got = fetch(chunk, nodes_of(replicas))
    assert (node, got) == ("n2", data)
    path = f"/chunks/{chunk['sha256']}"
    assert replicas["n1"].requests == [path]  # tried first: the metadata's order
    assert replicas["n2"].requests == [path]
    assert replicas["n3"].requests == []  # never asked: n2 was good


@pytest.mark.parametrize("status", [404, 409])
def test_a_replica_that_lacks_the_chunk_or_found_it_corrupt_is_skipped(
    replicas: dict[str, Replica], status: int
) -> None:
    data = bytes(range(256)) * 40
    chunk = chunk_of(data)
    replicas["n1"].statuses[chunk["sha256"]] = status
    replicas["n2"].chunks[chunk["sha256"]] = data
    assert fetch(chunk, nodes_of(replicas)) == ("n2", data)


def test_a_refused_connection_a_wrong_length_and_a_node_not_up_are_skipped(
    replicas: dict[str, Replica],
) -> None:
    data = b"x" * 5000
    chunk = chunk_of(data)
    chunk["replicas"] = ["n9", "n1", "n2", "n3"]
    replicas["n2"].chunks[chunk["sha256"]] = data[:-1]  # one byte short
    replicas["n3"].chunks[chunk["sha256"]] = data
    nodes = {"n1": closed_addr(), "n2": replicas["n2"].addr, "n3": replicas["n3"].addr}
    assert fetch(chunk, nodes) == ("n3", data)


def test_when_no_replica_can_serve_the_error_gives_every_reason_in_order(
    replicas: dict[str, Replica],
) -> None:
    data = b"y" * 3000
    chunk = chunk_of(data)
    replicas["n1"].statuses[chunk["sha256"]] = 409
    replicas["n2"].chunks[chunk["sha256"]] = b"z" * 3000
    nodes = {"n1": replicas["n1"].addr, "n2": replicas["n2"].addr, "n3": closed_addr()}
    with pytest.raises(FilesError) as caught:
        fetch(chunk, nodes)
    message = str(caught.value)
    assert caught.value.status == 503
    assert message.startswith(f"chunk 0 ({chunk['sha256'][:12]}…) could not be read: ")
    reasons = message.split(": ", 1)[1].split("; ")
    assert reasons == [
        "n1 found its copy corrupt (quarantined, being repaired)",
        "n2 sent bytes whose sha256 does not match",
        "n3 refused the connection (down or restarting?)",
    ]


# -- whole downloads ------------------------------------------------------------------------


def test_a_download_spread_over_replicas_arrives_whole_and_verified(
    replicas: dict[str, Replica], tmp_path: Path
) -> None:
    data = hashlib.sha256(b"seed").digest() * (CHUNK_BYTES * 9 // 32 + 100)  # 9 full + a tail
    layout = [["n1", "n2"], ["n2", "n3"], ["n3", "n1"]] * 4
    info = make_file("movie.bin", data, layout)
    for chunk in info["chunks"]:
        piece = data[chunk["index"] * CHUNK_BYTES :][: chunk["size_bytes"]]
        for node in chunk["replicas"]:
            replicas[node].chunks[chunk["sha256"]] = piece
    for replica in replicas.values():
        replica.files["movie.bin"] = info  # the metadata is the same on every node
    # n1 lost every chunk: each of its chunks comes from its second replica
    replicas["n1"].chunks.clear()
    seen: list[tuple[int, int]] = []
    out = tmp_path / "movie.bin"
    got = files.download("movie.bin", nodes_of(replicas), out,
                         lambda done, total: seen.append((done, total)))
    assert got["sha256"] == hashlib.sha256(data).hexdigest()
    assert out.read_bytes() == data
    assert not (tmp_path / "movie.bin.part").exists()
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert seen[-1] == (len(data), len(data)) and len(seen) == len(info["chunks"])


@pytest.mark.parametrize("window", [1, files.DOWNLOAD_WINDOW_CHUNKS])
def test_a_download_holds_window_plus_one_chunk_buffers_whatever_the_file_size(
    replicas: dict[str, Replica], window: int
) -> None:
    data = hashlib.sha256(b"long").digest() * (CHUNK_BYTES * 24 // 32)  # 24 chunks
    info = make_file("long.bin", data, [["n1", "n2", "n3"]] * 24)
    for chunk in info["chunks"]:
        replicas["n1"].chunks[chunk["sha256"]] = data[chunk["index"] * CHUNK_BYTES :][
            : chunk["size_bytes"]
        ]
    buffers: dict[int, object] = {}  # id → the buffer itself, so no id is reused
    received = bytearray()
    for view in files.iter_chunks(info, nodes_of(replicas), window=window):
        buffers[id(view.obj)] = view.obj
        received += view
    assert received == data
    assert len(buffers) <= window + 1


def test_wrong_bytes_from_a_replica_are_found_by_the_whole_file_check_and_fetched_again(
    replicas: dict[str, Replica], tmp_path: Path
) -> None:
    # The download hashes each byte once, for the whole file; a wrong chunk is
    # found after the stream, and only that chunk is fetched again, verified.
    data = b"".join(hashlib.sha256(bytes([i])).digest() * (CHUNK_BYTES // 32) for i in range(4))
    info = make_file("w", data, [["n1", "n2"]] * 4)
    for chunk in info["chunks"]:
        piece = data[chunk["index"] * CHUNK_BYTES :][: chunk["size_bytes"]]
        replicas["n1"].chunks[chunk["sha256"]] = piece
        replicas["n2"].chunks[chunk["sha256"]] = piece
    bad = info["chunks"][2]["sha256"]
    replicas["n1"].chunks[bad] = b"X" + replicas["n1"].chunks[bad][1:]  # same length
    out = tmp_path / "w"
    files.download("w", nodes_of(replicas), out, info=info)
    assert out.read_bytes() == data
    assert replicas["n1"].requests.count(f"/chunks/{bad}") == 2  # streamed, then re-checked
    assert replicas["n2"].requests == [f"/chunks/{bad}"]  # only the wrong chunk, once
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w"]


def test_a_chunk_get_reopens_a_kept_alive_connection_the_node_closed(
    replicas: dict[str, Replica],
) -> None:
    replica = replicas["n1"]
    replica.close_after_each = True  # closes after answering, without "Connection: close"
    data = b"kept" * 4000
    chunk = chunk_of(data)
    replica.chunks[chunk["sha256"]] = data
    conns = NodeConnections()
    buffer = bytearray(len(data))
    try:
        for _ in range(3):
            buffer[:] = bytes(len(data))
            assert conns.get_into(replica.addr, f"/chunks/{chunk['sha256']}",
                                  memoryview(buffer)) == len(data)
            assert buffer == data
    finally:
        conns.close()
    assert len(replica.requests) == 3


def test_a_whole_file_mismatch_leaves_nothing_and_an_old_file_untouched(
    replicas: dict[str, Replica], tmp_path: Path
) -> None:
    data = b"chunk-a" * 20000
    info = make_file("f", data, [["n1"]] * 3)
    for chunk in info["chunks"]:
        replicas["n1"].chunks[chunk["sha256"]] = data[chunk["index"] * CHUNK_BYTES :][
            : chunk["size_bytes"]]
    info["sha256"] = "0" * 64  # the chunks verify, the whole does not
    out = tmp_path / "f"
    out.write_bytes(b"the old version")
    with pytest.raises(FilesError, match="whole file's sha256"):
        files.download("f", nodes_of(replicas), out, info=info)
    assert out.read_bytes() == b"the old version"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_a_chunk_no_replica_has_fails_the_download_and_leaves_no_part_file(
    replicas: dict[str, Replica], tmp_path: Path
) -> None:
    data = b"".join(bytes([i]) * CHUNK_BYTES for i in range(3))  # three distinct chunks
    info = make_file("g", data, [["n1", "n2"]] * 3)
    replicas["n1"].chunks[info["chunks"][0]["sha256"]] = data[:CHUNK_BYTES]  # only chunk 0
    with pytest.raises(FilesError, match="could not be read"):
        files.download("g", nodes_of(replicas), tmp_path / "g", info=info)
    assert list(tmp_path.iterdir()) == []


def test_metadata_that_does_not_add_up_is_refused_before_any_chunk_is_fetched(
    replicas: dict[str, Replica], tmp_path: Path
) -> None:
    info = make_file("h", b"abc" * 100, [["n1"]])
    info["size_bytes"] += 1
    with pytest.raises(FilesError, match="does not add up"):
        files.download("h", nodes_of(replicas), tmp_path / "h", info=info)
    assert replicas["n1"].requests == []


def test_metadata_whose_chunks_would_overlap_in_the_file_is_refused(tmp_path: Path) -> None:
    # Chunk i is written at i × chunk_bytes: a short chunk before the last, or
    # indexes out of order, would overwrite another chunk's bytes.
    info = make_file("o", b"abc" * CHUNK_BYTES, [["n1"]] * 3)
    info["chunks"][0]["size_bytes"] -= 1
    info["chunks"][2]["size_bytes"] += 1
    with pytest.raises(FilesError, match="does not add up"):
        files.check_info(info)
    info = make_file("o", b"abc" * CHUNK_BYTES, [["n1"]] * 3)
    info["chunks"][0]["index"], info["chunks"][1]["index"] = 1, 0
    with pytest.raises(FilesError, match="does not add up"):
        files.check_info(info)


def test_an_absent_file_is_a_404_and_an_unreachable_node_is_skipped(
    replicas: dict[str, Replica],
) -> None:
    nodes = {"n0": closed_addr(), "n1": replicas["n1"].addr}
    with pytest.raises(FilesError) as caught:
        files.file_info("nothing-here", nodes)
    assert caught.value.status == 404
    assert str(caught.value) == "no such file"


def test_a_kept_alive_connection_the_node_closed_is_reopened_for_a_get(
    replicas: dict[str, Replica],
) -> None:
    replica = replicas["n1"]
    replica.close_after_each = True  # closes after answering, without "Connection: close"
    replica.files["a"] = {"ok": 1}
    conns = NodeConnections()
    try:
        for _ in range(3):
            assert conns.request(replica.addr, "GET", "/files/a").json() == {"ok": 1}
    finally:
        conns.close()
    assert replica.requests == ["/files/a"] * 3


def test_uploading_a_missing_local_file_says_so_before_any_network(tmp_path: Path) -> None:
    with pytest.raises(FilesError, match="no such file"):
        files.upload(tmp_path / "absent.bin", "absent.bin", closed_addr())


# -- progress ------------------------------------------------------------------------------


def test_sizes_rates_and_times_read_like_a_person_would_write_them() -> None:
    assert format_bytes(999) == "999 B"
    assert format_bytes(268_435_456) == "268.4 MB"
    assert format_bytes(3_500_000_000) == "3.5 GB"
    assert format_rate(183_400_000) == "183.4 MB/s"
    assert format_eta(7.4) == "0:07"
    assert format_eta(3723) == "1:02:03"
    assert format_eta(None) == "--:--"
    assert bar(1, 4, cells=8) == "[##......]"
    assert bar(5, 0, cells=4) == "[####]"


class Clock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def test_on_a_terminal_the_bar_redraws_in_place_at_a_bounded_rate() -> None:
    out, clock = io.StringIO(), Clock()
    progress = Progress("put a.bin", out, interactive=True, clock=clock)
    clock.now_s += 1.0
    progress(50_000_000, 200_000_000)
    progress(51_000_000, 200_000_000)  # same instant: not redrawn
    clock.now_s += 1.0
    progress(100_000_000, 200_000_000)
    frames = out.getvalue().split("\r")[1:]
    assert len(frames) == 2
    assert frames[0].startswith("put a.bin  [######..................]  25%  50.0 MB / 200.0 MB")
    assert frames[0].rstrip().endswith("50.0 MB/s  ETA 0:03")
    assert frames[1].rstrip().endswith("50.0 MB/s  ETA 0:02")
    progress.finish()
    assert out.getvalue().endswith("\n")


def test_off_a_terminal_only_one_summary_line_is_printed() -> None:
    out, clock = io.StringIO(), Clock()
    progress = Progress("get b.bin", out, interactive=False, clock=clock)
    for done in range(0, 10_000_001, 1_000_000):
        clock.now_s += 0.05
        progress(done, 10_000_000)
    progress.finish()
    assert out.getvalue() == "get b.bin: 10.0 MB in 0.55 s (18.2 MB/s)\n"
