"""The content-addressed chunk store on a real disk: durable writes under the
hash, verification on every read, deduplication, quarantine, leftovers of a
crash, and the free-space reserve."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from cluster.node.chunk_store import (
    CHUNKS_DIR,
    QUARANTINE_DIR,
    ChunkCorrupt,
    ChunkMismatch,
    ChunkStore,
    NoSpace,
)


def chunk(seed: int, size: int = 100_000) -> tuple[str, bytes]:
    data = hashlib.sha256(str(seed).encode()).digest() * (size // 32)
    return hashlib.sha256(data).hexdigest(), data


def test_a_chunk_is_stored_under_its_hash_and_read_back(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path)
    sha, data = chunk(1)

    async def scenario() -> None:
        assert await store.put(sha, data) is True
        assert await store.read(sha) == data

    asyncio.run(scenario())
    path = tmp_path / CHUNKS_DIR / sha[:2] / sha
    assert path.read_bytes() == data
    assert store.has(sha) and store.size_of(sha) == len(data) and store.list() == [sha]
    assert store.stats.chunks_written == 1 and store.stats.bytes_read == len(data)
    store.close()


def test_identical_chunks_are_stored_once(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path)
    sha, data = chunk(2)

    async def scenario() -> list[bool]:
        first = await store.put(sha, data)
        # Concurrent puts of the same content (a file of zeros) are harmless too.
        rest = await asyncio.gather(*(store.put(sha, memoryview(data)) for _ in range(4)))
        return [first, *rest]

    results = asyncio.run(scenario())
    assert results[0] is True and not any(results[1:])
    assert store.list() == [sha] and store.stats.chunks_written == 1
    # Storing it again refreshes its age (garbage collection goes by it).
    os.utime(store.path_of(sha), (1_000_000, 1_000_000))
    assert asyncio.run(store.put(sha, data)) is False
    assert store.path_of(sha).stat().st_mtime > 1_000_000
    store.close()


def test_a_damaged_copy_of_the_same_size_is_overwritten_by_a_put(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path)
    sha, data = chunk(9)
    asyncio.run(store.put(sha, data))
    store.path_of(sha).write_bytes(bytes(len(data)))  # same size, wrong bytes
    assert asyncio.run(store.put(sha, data)) is True
    assert asyncio.run(store.read(sha)) == data
    store.close()


def test_bytes_that_do_not_match_their_name_are_refused(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path)
    sha, data = chunk(3)
    with pytest.raises(ChunkMismatch, match="hash to"):
        asyncio.run(store.put(sha, data + b"x"))
    assert not store.has(sha) and store.list() == []
    with pytest.raises(ValueError, match="not a chunk name"):
        store.has("../../etc/passwd")
    store.close()


def test_a_corrupted_chunk_is_detected_on_read_and_quarantined(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path)
    sha, data = chunk(4)
    asyncio.run(store.put(sha, data))
    path = store.path_of(sha)
    with open(path, "r+b") as f:  # flip one byte in the middle, as a bad disk would
        f.seek(len(data) // 2)
        f.write(bytes([data[len(data) // 2] ^ 0xFF]))
    with pytest.raises(ChunkCorrupt, match="corrupt"):
        asyncio.run(store.read(sha))
    assert store.stats.corrupt_found == 1
    assert asyncio.run(store.quarantine(sha)) is True
    assert not store.has(sha) and store.list() == []
    assert len(list((tmp_path / CHUNKS_DIR / QUARANTINE_DIR).iterdir())) == 1
    # A good copy can be stored again under the same name.
    assert asyncio.run(store.put(sha, data)) is True
    assert asyncio.run(store.read(sha)) == data
    store.close()


def test_missing_chunks_and_deletes(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path)
    sha, data = chunk(5)
    assert asyncio.run(store.read(sha)) is None
    assert asyncio.run(store.delete(sha)) is False
    asyncio.run(store.put(sha, data))
    assert asyncio.run(store.delete(sha)) is True
    assert not store.has(sha) and store.size_of(sha) is None
    assert asyncio.run(store.quarantine(sha)) is False
    store.close()


def test_a_truncated_chunk_is_corrupt(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path)
    sha, data = chunk(6)
    asyncio.run(store.put(sha, data))
    os.truncate(store.path_of(sha), 10)
    with pytest.raises(ChunkCorrupt):
        asyncio.run(store.read(sha))
    # A short file does not count as "already held" for a new put either.
    assert asyncio.run(store.put(sha, data)) is True
    assert asyncio.run(store.read(sha)) == data
    store.close()


def test_unfinished_writes_of_a_crash_are_removed_at_start(tmp_path: Path) -> None:
    sha, data = chunk(7)
    folder = tmp_path / CHUNKS_DIR / sha[:2]
    folder.mkdir(parents=True)
    (folder / f".{sha}.123.0.tmp").write_bytes(data[:1000])
    store = ChunkStore(tmp_path)
    assert list(folder.iterdir()) == [] and store.list() == []
    store.close()


def test_the_reserve_is_never_used(tmp_path: Path) -> None:
    probe = ChunkStore(tmp_path)
    free = probe.free_bytes() + probe.reserve_bytes
    probe.close()
    # No room left at all, with a margin: other processes free and fill the
    # same disk meanwhile, and a gigabyte freed must not make room here.
    store = ChunkStore(tmp_path, reserve_bytes=free + 1024**3)
    assert store.free_bytes() == 0
    sha, data = chunk(8)
    with pytest.raises(NoSpace):
        asyncio.run(store.put(sha, data))
    assert not store.has(sha)
    store.close()
