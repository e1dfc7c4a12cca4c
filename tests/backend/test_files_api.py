"""/api/files and /api/placement: first what the backend refuses on its own, then the
real thing on a real run.py with three node processes.

Without nodes (the stand-in launcher): the token, bad names, empty and
oversized files, a raw upload without a name or a length, and the 503 when
no node is up. With a real cluster: uploads through multipart and through a
raw body, the listing, the placement JSON the dashboard draws (ring
positions, replica health, virtual-node tokens, the strategy comparison),
a download whose bytes and checksum headers match, deletion, and that an
upload and a download much larger than the backend's buffers do not grow
its memory (they stream).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from backend_testkit import auth
from files_testkit import CHUNK_BYTES, NODES, RF, FilesLab, random_bytes, start_lab, wait_for
from flask import Flask

from bench.run_process import rss_bytes

# -- what the backend decides alone (no node process) --------------------------------


def test_uploading_deleting_and_replacing_the_placement_need_the_token(app: Flask) -> None:
    client = app.test_client()
    assert client.post("/api/files?name=a", data=b"x").status_code == 401
    assert client.delete("/api/files/a").status_code == 401
    assert client.put("/api/placement", json={"rf": 2}).status_code == 401
    wrong = client.post("/api/files?name=a", data=b"x", headers=auth("guess"))
    assert wrong.status_code == 401 and wrong.get_json()["error"] == "wrong instructor token"


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("../etc/passwd", "must not contain '/'"),
        ("a\\b", "must not contain '\\\\'"),
        ("..", "not a file name"),
        ("tab\there", "control characters"),
        (" lead", "must not start or end with a space"),
        ("n" * 256, "at most 255 bytes"),
    ],
)
def test_a_bad_name_is_a_400_that_says_what_is_wrong(app: Flask, name: str, says: str) -> None:
    reply = app.test_client().post("/api/files?name=" + quote(name, safe=""), data=b"x",
                                   headers=auth())
    assert reply.status_code == 400
    assert says in reply.get_json()["error"]


def test_empty_nameless_lengthless_and_oversized_uploads_are_refused(app: Flask) -> None:
    client = app.test_client()
    empty = client.post("/api/files?name=e", data=b"", headers={**auth(), "Content-Length": "0"})
    assert empty.status_code == 400 and "empty" in empty.get_json()["error"]
    nameless = client.post("/api/files", data=b"x", headers=auth())
    assert nameless.status_code == 400 and "?name=" in nameless.get_json()["error"]
    no_field = client.post("/api/files", data={"other": (io.BytesIO(b"x"), "f.txt")},
                           headers=auth())
    assert no_field.status_code == 400 and '"file"' in no_field.get_json()["error"]
    # refused on the announced length, before any byte of the body is read
    huge = client.post("/api/files?name=huge", headers=auth(), data=b"x",
                       environ_overrides={"CONTENT_LENGTH": str(10**13)})
    assert huge.status_code == 413 and "at most" in huge.get_json()["error"]
    chunked = client.post("/api/files?name=c", input_stream=io.BytesIO(b"3\r\nabc\r\n0\r\n\r\n"),
                          headers={**auth(), "Transfer-Encoding": "chunked"})
    assert chunked.status_code == 411


def test_with_no_node_up_the_file_routes_answer_503(app: Flask) -> None:
    client = app.test_client()
    for reply in (client.get("/api/files"), client.get("/api/files/a"),
                  client.get("/api/placement"),
                  client.post("/api/files?name=a", data=b"x", headers=auth())):
        assert reply.status_code == 503, reply.get_data(as_text=True)
        assert reply.get_json()["error"]


# -- a real cluster ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FilesLab]:
    yield from start_lab(tmp_path_factory.mktemp("files-api"))


def upload_raw(lab: FilesLab, name: str, data: bytes) -> dict[str, object]:
    reply = lab.api("POST", "/api/files", token=True, params={"name": name}, data=data)
    assert reply.status_code == 201, reply.text
    body: dict[str, object] = reply.json()
    return body


def test_a_raw_upload_commits_and_downloads_byte_for_byte(lab: FilesLab) -> None:
    lab.leader()
    data = random_bytes(5 * CHUNK_BYTES + 1234, seed=1)
    summary = upload_raw(lab, "raw data.bin", data)
    assert summary["name"] == "raw data.bin"
    assert summary["size_bytes"] == len(data)
    assert summary["sha256"] == hashlib.sha256(data).hexdigest()
    assert summary["md5"] == hashlib.md5(data).hexdigest()
    assert summary["chunks"] == 6
    assert summary["node"] in {f"n{i}" for i in range(1, NODES + 1)}

    download = lab.api("GET", "/api/files/" + quote("raw data.bin"))
    assert download.status_code == 200
    assert download.content == data
    assert download.headers["Content-Length"] == str(len(data))
    assert download.headers["X-Content-SHA256"] == hashlib.sha256(data).hexdigest()
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert "raw%20data.bin" in download.headers["Content-Disposition"]


def test_a_multipart_upload_takes_the_part_name_unless_name_is_given(lab: FilesLab) -> None:
    lab.leader()
    first = random_bytes(2 * CHUNK_BYTES + 7, seed=2)
    reply = lab.api("POST", "/api/files", token=True,
                    files={"file": ("from-form.txt", first, "text/plain")})
    assert reply.status_code == 201, reply.text
    assert reply.json()["name"] == "from-form.txt"
    second = random_bytes(3000, seed=3)
    reply = lab.api("POST", "/api/files", token=True, params={"name": "renamed.txt"},
                    files={"file": ("ignored.txt", second)})
    assert reply.status_code == 201, reply.text
    assert reply.json()["name"] == "renamed.txt"
    assert lab.api("GET", "/api/files/renamed.txt").content == second

    listing = lab.api("GET", "/api/files")
    assert listing.status_code == 200
    rows = {f["name"]: f for f in listing.json()["files"]}
    assert rows["from-form.txt"]["size_bytes"] == len(first)
    assert rows["from-form.txt"]["chunks"] == 3
    assert rows["renamed.txt"]["sha256"] == hashlib.sha256(second).hexdigest()
    assert listing.json()["placement"]["rf"] == RF


def test_the_placement_of_a_file_has_positions_replicas_and_their_health(lab: FilesLab) -> None:
    lab.leader()
    data = random_bytes(4 * CHUNK_BYTES, seed=4)
    upload_raw(lab, "placed.bin", data)

    def all_ok() -> dict[str, object] | None:
        body = lab.api("GET", "/api/files/placed.bin/placement").json()
        healthy = all(set(c["health"].values()) == {"ok"} for c in body["chunks"])
        return body if healthy else None

    body = wait_for(all_ok, "every replica reported stored", 30.0)
    assert isinstance(body, dict)
    assert body["name"] == "placed.bin" and len(body["chunks"]) == 4
    members = [f"n{i}" for i in range(1, NODES + 1)]
    for index, chunk in enumerate(body["chunks"]):
        piece = data[index * CHUNK_BYTES : (index + 1) * CHUNK_BYTES]
        assert chunk["index"] == index
        assert chunk["sha256"] == hashlib.sha256(piece).hexdigest()
        assert chunk["size_bytes"] == len(piece)
        assert len(chunk["replicas"]) == RF and set(chunk["replicas"]) <= set(members)
        assert set(chunk["health"]) == set(chunk["replicas"])
        assert 0.0 <= chunk["position"] < 1.0
        assert sorted(chunk["desired"]) == sorted(chunk["replicas"])
        assert chunk["ok_replicas"] == RF and chunk["under_replicated"] is False
    placement = body["placement"]
    assert placement["members"] == members and placement["effective_rf"] == RF
    assert body["under_replicated"] == 0


def test_the_ring_has_every_virtual_node_token_and_the_comparison_three_strategies(
    lab: FilesLab,
) -> None:
    lab.leader()
    placement = lab.api("GET", "/api/placement").json()
    assert placement["strategy"] == "consistent" and placement["hash"] == "sha256"
    assert placement["members"] == [f"n{i}" for i in range(1, NODES + 1)]
    tokens = placement["tokens"]
    assert len(tokens) == NODES * placement["vnodes"]
    assert {t["node"] for t in tokens} == set(placement["members"])
    assert all(0.0 <= t["position"] < 1.0 for t in tokens)

    report = lab.api("GET", "/api/placement/compare").json()
    assert [s["name"] for s in report["strategies"]] == ["modulo", "consistent", "rendezvous"]
    assert report["sample"] is (report["real_keys"] < 50)
    assert report["joining"] == f"n{NODES + 1}"
    for strategy in report["strategies"]:
        counts = strategy["balance"]["counts"]
        assert sum(counts.values()) == report["keys"] * report["rf"]
        assert 0 < strategy["join"]["keys_moved"] <= report["keys"]
        assert strategy["leave"]["keys_moved"] > 0
    primaries = {s["name"]: s["join"]["primaries_moved"] / report["keys"]
                 for s in report["strategies"]}
    # the lesson in one line: on a join, modulo moves most keys' primary (3/4 here),
    # consistent hashing and rendezvous about 1/(N+1)
    assert primaries["modulo"] > 0.6
    assert primaries["consistent"] < 0.4 and primaries["rendezvous"] < 0.4


def test_a_placement_change_is_committed_and_shown(lab: FilesLab) -> None:
    lab.leader()
    before = lab.api("GET", "/api/placement").json()
    bad = lab.api("PUT", "/api/placement", token=True, json={"strategy": "random"})
    assert bad.status_code == 400 and "strategy must be one of" in bad.json()["error"]
    changed = lab.api("PUT", "/api/placement", token=True, json={"strategy": "rendezvous"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["strategy"] == "rendezvous"
    assert changed.json()["version"] > before["version"]
    try:
        shown = lab.api("GET", "/api/placement").json()
        assert shown["strategy"] == "rendezvous" and shown["tokens"] == []
    finally:
        back = lab.api("PUT", "/api/placement", token=True, json={"strategy": "consistent"})
        assert back.status_code == 200, back.text


def test_a_deleted_file_is_gone_and_a_missing_one_is_a_404(lab: FilesLab) -> None:
    lab.leader()
    upload_raw(lab, "doomed.txt", b"short-lived " * 100)
    gone = lab.api("DELETE", "/api/files/doomed.txt", token=True)
    assert gone.status_code == 200, gone.text
    assert gone.json()["name"] == "doomed.txt"
    assert lab.api("GET", "/api/files/doomed.txt").status_code == 404
    assert lab.api("GET", "/api/files/doomed.txt/placement").status_code == 404
    again = lab.api("DELETE", "/api/files/doomed.txt", token=True)
    assert again.status_code == 404
    names = [f["name"] for f in lab.api("GET", "/api/files").json()["files"]]
    assert "doomed.txt" not in names


def test_a_bad_name_is_refused_before_any_byte_reaches_a_node(lab: FilesLab) -> None:
    reply = lab.api("POST", "/api/files", token=True, params={"name": "a/b"}, data=b"x")
    assert reply.status_code == 400 and "no folders" in reply.json()["error"]
    names = [f["name"] for f in lab.api("GET", "/api/files").json()["files"]]
    assert "a/b" not in names and "b" not in names


@pytest.mark.timeout(400)  # 2 × 48 MiB in 64 KiB chunks, on two shared cores
def test_big_uploads_and_downloads_stream_through_the_backend(lab: FilesLab) -> None:
    """48 MiB through the backend both ways; its memory must not grow by the file's size."""
    lab.leader()
    size_bytes = 48 * 1024 * 1024
    block = random_bytes(1024 * 1024, seed=5)

    class Body:
        """48 distinct MiB made on the fly: the test itself never holds the file."""

        def __init__(self) -> None:
            self.sent = 0

        def __len__(self) -> int:  # requests sends a Content-Length, not chunks
            return size_bytes - self.sent

        def read(self, size: int = -1) -> bytes:
            index, offset = divmod(self.sent, len(block))
            if index >= size_bytes // len(block):
                return b""
            piece = (index.to_bytes(8, "big") + block[8:])[offset:]
            piece = piece[:size] if size >= 0 else piece
            self.sent += len(piece)
            return piece

    expected = hashlib.sha256()
    for index in range(size_bytes // len(block)):
        expected.update(index.to_bytes(8, "big") + block[8:])
    before = rss_bytes(lab.run.pid)
    assert before is not None
    reply = lab.api("POST", "/api/files", token=True, params={"name": "big.bin"}, data=Body())
    assert reply.status_code == 201, reply.text
    assert reply.json()["sha256"] == expected.hexdigest()

    got = hashlib.sha256()
    received = 0
    with lab.api("GET", "/api/files/big.bin", stream=True) as download:
        assert download.status_code == 200
        for piece in download.iter_content(1024 * 1024):
            got.update(piece)
            received += len(piece)
    assert received == size_bytes and got.hexdigest() == expected.hexdigest()
    after = rss_bytes(lab.run.pid)
    assert after is not None
    assert after - before < size_bytes // 3, f"backend grew by {(after - before) >> 20} MiB"
    assert lab.api("DELETE", "/api/files/big.bin", token=True).status_code == 200


def test_a_download_names_the_file_for_the_browser(lab: FilesLab, tmp_path: Path) -> None:
    lab.leader()
    name = "résumé 2024.txt"
    upload_raw(lab, name, b"hello, world\n")
    reply = lab.api("GET", "/api/files/" + quote(name))
    assert reply.status_code == 200 and reply.content == b"hello, world\n"
    disposition = reply.headers["Content-Disposition"]
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9%202024.txt" in disposition
