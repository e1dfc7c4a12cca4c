"""File metadata and placement settings: validation, byte form, JSON."""

from __future__ import annotations

import hashlib

import pytest

from cluster.core.files.meta import (
    MAX_CHUNK_BYTES,
    MAX_FILE_CHUNKS,
    MIN_CHUNK_BYTES,
    ChunkMeta,
    FileMeta,
    PlacementSettings,
    chunk_count,
)
from cluster.core.kv import MAX_VALUE_BYTES
from cluster.schema.codec import pack

KIB = 1024
MIB = 1024 * KIB


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make(size_bytes: int = 150 * KIB, chunk_bytes: int = 64 * KIB, name: str = "f.bin") -> FileMeta:
    count = chunk_count(size_bytes, chunk_bytes)
    chunks = []
    for i in range(count):
        size = chunk_bytes if i < count - 1 else size_bytes - (count - 1) * chunk_bytes
        chunks.append(ChunkMeta(sha(f"{name}/{i}"), size, ["n1", "n2", "n3"]))
    created_ms = 1_700_000_000_000
    return FileMeta(name, size_bytes, chunk_bytes, "0" * 32, sha(name), 0, created_ms, chunks)


def test_chunk_count_rounds_up() -> None:
    assert chunk_count(1, MIB) == 1
    assert chunk_count(MIB, MIB) == 1
    assert chunk_count(MIB + 1, MIB) == 2
    assert chunk_count(5 * MIB, MIB) == 5


def test_pack_and_unpack_round_trip() -> None:
    meta = make()
    assert [c.size_bytes for c in meta.chunks] == [64 * KIB, 64 * KIB, 22 * KIB]
    assert FileMeta.unpack(meta.pack()) == meta
    # Same value, same bytes: fcas compares metadata as bytes.
    assert FileMeta.unpack(meta.pack()).pack() == meta.pack()


def test_a_copy_with_new_replicas_and_version() -> None:
    meta = make()
    moved = meta.with_replicas({1: ["n4", "n2"]}).with_version(42)
    assert moved.chunks[1].replicas == ["n4", "n2"]
    assert moved.chunks[0] == meta.chunks[0] and moved.version == 42
    assert meta.chunks[1].replicas == ["n1", "n2", "n3"]  # the original is untouched
    with pytest.raises(ValueError, match="no chunk 7"):
        meta.with_replicas({7: ["n1"]})


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"name": "a/b"}, "'/'"),
        ({"size_bytes": 0}, "at least one byte"),
        ({"size_bytes": 10 * 64 * KIB}, "make 10 chunks, the metadata lists 3"),
        ({"size_bytes": 129 * KIB}, "chunk 2 must be 1024 bytes"),
        ({"chunk_bytes": MIN_CHUNK_BYTES - 1}, "chunk_bytes must be"),
        ({"md5": "XYZ"}, "md5"),
        ({"sha256": "ab" * 31}, "sha256"),
        ({"version": -1}, "version"),
        ({"version": True}, "version"),
    ],
)
def test_inconsistent_metadata_is_refused(change: dict[str, object], says: str) -> None:
    fields = {
        "name": "f.bin",
        "size_bytes": 150 * KIB,
        "chunk_bytes": 64 * KIB,
        "md5": "0" * 32,
        "sha256": sha("f"),
        "version": 0,
        "created_ms": 0,
        "chunks": make().chunks,
        **change,
    }
    with pytest.raises(ValueError) as info:
        FileMeta(**fields)  # type: ignore[arg-type]
    assert says in str(info.value)


@pytest.mark.parametrize(
    ("sha256", "size", "replicas", "says"),
    [
        ("A" * 64, 10, [], "not sha256 hex"),
        (sha("x"), 0, [], "chunk size"),
        (sha("x"), MAX_CHUNK_BYTES + 1, [], "chunk size"),
        (sha("x"), 10, ["n1", "n1"], "distinct"),
        (sha("x"), 10, [""], "node ids"),
    ],
)
def test_bad_chunks_are_refused(sha256: str, size: int, replicas: list[str], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        ChunkMeta(sha256, size, replicas)


@pytest.mark.parametrize(
    "data",
    [
        b"\xc1",
        pack("a string"),
        pack([1, 2, 3]),
        pack(["f", 10, 64 * KIB, "0" * 32, sha("f"), 0, 0, [["x", 1]]]),
        pack(["f", 10, 64 * KIB, "0" * 32, sha("f"), 0, 0, [[sha("c"), 10, "n1"]]]),
        pack(["f", "10", 64 * KIB, "0" * 32, sha("f"), 0, 0, []]),
    ],
)
def test_unpack_turns_garbage_into_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        FileMeta.unpack(data)


def test_the_largest_file_fits_one_key_value_entry() -> None:
    # 8192 chunks of 4 MiB with 3 replicas of long node names.
    chunks = [
        ChunkMeta(sha(str(i)), MAX_CHUNK_BYTES, ["node-10", "node-20", "node-30"])
        for i in range(MAX_FILE_CHUNKS)
    ]
    meta = FileMeta(
        "x" * 255,
        MAX_FILE_CHUNKS * MAX_CHUNK_BYTES,
        MAX_CHUNK_BYTES,
        "0" * 32,
        sha("big"),
        2**40,
        2**45,
        chunks,
    )
    assert len(meta.pack()) < MAX_VALUE_BYTES
    with pytest.raises(ValueError, match=f"at most {MAX_FILE_CHUNKS} chunks"):
        FileMeta("y", (MAX_FILE_CHUNKS + 1) * MIB, MIB, "0" * 32, sha("y"), 0, 0, [])


def test_json_forms() -> None:
    meta = make()
    summary = meta.to_json(with_chunks=False)
    assert summary["chunks"] == 3 and summary["size_bytes"] == 150 * KIB
    full = meta.to_json()
    assert full["chunks"][2] == {
        "index": 2,
        "sha256": meta.chunks[2].sha256,
        "size_bytes": 22 * KIB,
        "replicas": ["n1", "n2", "n3"],
    }


def test_placement_settings_defaults_round_trip_and_updates() -> None:
    settings = PlacementSettings()
    assert (settings.strategy, settings.hash, settings.rf, settings.vnodes) == (
        "consistent",
        "sha256",
        3,
        128,
    )
    assert PlacementSettings.unpack(settings.pack()) == settings
    changed = settings.updated({"strategy": "rendezvous", "rf": 2})
    assert (changed.strategy, changed.rf, changed.hash) == ("rendezvous", 2, "sha256")
    assert settings.to_json()["strategy"] == "consistent"


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"strategy": "random"}, "strategy must be one of consistent, rendezvous, modulo"),
        ({"hash": "crc32"}, "hash must be one of sha256, md5, sha1, modhash"),
        ({"rf": 0}, "rf must be an integer between 1"),
        ({"rf": "3"}, "rf must be an integer"),
        ({"vnodes": 5000}, "vnodes must be an integer between 1 and 1000"),
        ({"colour": "red"}, "unknown setting 'colour'"),
        ({"version": 9}, "unknown setting 'version'"),
    ],
)
def test_bad_placement_settings_are_refused(changes: dict[str, object], says: str) -> None:
    with pytest.raises(ValueError, match=None) as info:
        PlacementSettings().updated(changes)
    assert says in str(info.value)
