"""The upload client rides out a short 503 (an election) instead of losing the upload.

An entry node answers 503 while no leader is known (an election takes a few
hundred milliseconds) and then has taken nothing of the request, so the
client sends the same request again, for a bounded time. These tests play
the entry node with a tiny real HTTP server that refuses a few requests
with 503 and then serves them.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from cluster.client import files
from cluster.client.files import FilesError

CHUNK_BYTES = 64 * 1024


class Entry:
    """An entry node that answers 503 ``refusals[path]`` times before serving ``path``."""

    def __init__(self, refusals: dict[str, int]) -> None:
        self.refusals = dict(refusals)
        self.requests: list[tuple[str, str, int]] = []  # method, path, status answered
        self.chunks: dict[int, bytes] = {}
        entry = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # http.server calls do_<METHOD>
                self._serve()

            def do_PUT(self) -> None:
                self._serve()

            def do_DELETE(self) -> None:
                self._serve()

            def _serve(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = entry.answer(self.command, self.path, body)
                entry.requests.append((self.command, self.path, status))
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.addr = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        if self.refusals.get(path, 0) > 0:
            self.refusals[path] -= 1
            return 503, {"error": "no leader known to n1 (an election may be under way)"}
        if method == "POST" and path == "/uploads":
            request = json.loads(body)
            chunks = -(-request["size_bytes"] // CHUNK_BYTES)
            return 201, {"upload_id": "u1", "name": request["name"], "chunk_bytes": CHUNK_BYTES,
                         "size_bytes": request["size_bytes"], "chunks": chunks, "rf": 3}
        if method == "PUT":
            index = int(path.rsplit("/", 1)[1])
            self.chunks[index] = body
            return 200, {"index": index, "sha256": hashlib.sha256(body).hexdigest(),
                         "replicas": ["n1", "n2", "n3"]}
        if path.endswith("/commit"):
            data = b"".join(self.chunks[i] for i in sorted(self.chunks))
            return 201, {"name": "f", "size_bytes": len(data), "chunks": len(self.chunks),
                         "sha256": hashlib.sha256(data).hexdigest()}
        return 204, {}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def make_entry() -> Iterator[Any]:
    made: list[Entry] = []

    def make(refusals: dict[str, int]) -> Entry:
        made.append(Entry(refusals))
        return made[-1]

    yield make
    for entry in made:
        entry.close()


def test_a_short_run_of_503s_is_ridden_out(make_entry: Any) -> None:
    entry = make_entry({"/uploads": 1, "/uploads/u1/1": 2, "/uploads/u1/commit": 1})
    data = bytes(range(256)) * (3 * CHUNK_BYTES // 256 - 1)
    summary = files.upload(io.BytesIO(data), "f", entry.addr)
    assert summary["sha256"] == hashlib.sha256(data).hexdigest()
    statuses = [(path, status) for _method, path, status in entry.requests]
    assert statuses.count(("/uploads/u1/1", 503)) == 2  # refused twice, then sent again
    assert statuses.count(("/uploads/u1/1", 200)) == 1
    assert statuses.count(("/uploads/u1/commit", 503)) == 1
    assert entry.chunks[1] == data[CHUNK_BYTES : 2 * CHUNK_BYTES]


def test_a_503_that_lasts_fails_the_upload_in_bounded_time(
    make_entry: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "UNAVAILABLE_RETRY_S", 0.3)
    entry = make_entry({"/uploads/u1/0": 10**6})
    with pytest.raises(FilesError) as caught:
        files.upload(io.BytesIO(b"x" * 1000), "f", entry.addr)
    assert caught.value.status == 503 and "election" in str(caught.value)
    tries = sum(1 for _m, path, _s in entry.requests if path == "/uploads/u1/0")
    assert 2 <= tries <= 10  # tried again, with growing pauses, then gave up
    assert entry.requests[-1][0] == "DELETE"  # and the upload was aborted
