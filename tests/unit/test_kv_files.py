"""The files namespace of the replicated state machine: fput, fdel, fcas,
versions stamped by the log, sessions, and snapshots (version 2, and 1)."""

from __future__ import annotations

import hashlib

from cluster.core.files.meta import PLACEMENT_KEY, ChunkMeta, FileMeta, PlacementSettings
from cluster.core.kv import Command, FileChange, KvResult, KvStore
from cluster.schema.codec import pack

KIB = 1024


def meta(name: str = "a.txt", replicas: list[str] | None = None) -> FileMeta:
    chunk = ChunkMeta(hashlib.sha256(name.encode()).hexdigest(), 100, replicas or ["n1", "n2"])
    return FileMeta(name, 100, 64 * KIB, "0" * 32, chunk.sha256, 0, 1, [chunk])


def fput(m: FileMeta, client: str = "", seq: int = 0) -> bytes:
    return Command("fput", m.name, m.pack(), None, client, seq).encode()


def test_fput_stores_the_metadata_stamped_with_the_entry_index() -> None:
    kv = KvStore()
    assert kv.apply(7, fput(meta())) == KvResult(True, b"7")
    stored = FileMeta.unpack(kv.get_file("a.txt") or b"")
    assert stored == meta().with_version(7)
    assert kv.file_change == FileChange("a.txt", 7, "put")
    assert kv.file_names() == ["a.txt"] and kv.get("a.txt") is None  # not a KV key
    kv.apply(8, Command("put", "k", b"v").encode())
    assert kv.file_change is None  # the last entry changed no file


def test_fput_refuses_bad_metadata_the_same_way_everywhere() -> None:
    kv = KvStore()
    assert kv.apply(1, Command("fput", "a.txt", b"\xc1junk").encode()).error == "bad_meta"
    # The key must be the name inside the metadata.
    assert kv.apply(2, Command("fput", "b.txt", meta("a.txt").pack()).encode()).error == "bad_meta"
    assert kv.file_names() == [] and kv.file_change is None


def test_fdel_answers_the_deleted_version_or_not_found() -> None:
    kv = KvStore()
    kv.apply(3, fput(meta()))
    assert kv.apply(4, Command("fdel", "a.txt").encode()) == KvResult(True, b"3")
    assert kv.file_change == FileChange("a.txt", 3, "delete")
    assert kv.get_file("a.txt") is None
    assert kv.apply(5, Command("fdel", "a.txt").encode()).error == "not_found"
    assert kv.apply(6, Command("fdel", PLACEMENT_KEY).encode()).error == "bad_meta"


def test_fcas_replaces_only_what_the_caller_read() -> None:
    kv = KvStore()
    kv.apply(1, fput(meta()))
    read = kv.get_file("a.txt")
    assert read is not None
    moved = FileMeta.unpack(read).with_replicas({0: ["n1", "n2", "n4"]})
    result = kv.apply(2, Command("fcas", "a.txt", moved.pack(), read).encode())
    assert result == KvResult(True, b"2")
    assert kv.file_change == FileChange("a.txt", 2, "replicas")
    # A second repair that read the old bytes loses instead of overwriting.
    stale = FileMeta.unpack(read).with_replicas({0: ["n5"]})
    assert kv.apply(3, Command("fcas", "a.txt", stale.pack(), read).encode()).error == "mismatch"
    assert FileMeta.unpack(kv.get_file("a.txt") or b"").chunks[0].replicas == ["n1", "n2", "n4"]
    # And a repair of a file deleted meanwhile does not bring it back.
    kv.apply(4, Command("fdel", "a.txt").encode())
    current = kv.get_file("a.txt")
    assert current is None
    assert kv.apply(5, Command("fcas", "a.txt", moved.pack(), read).encode()).error == "mismatch"


def test_placement_settings_live_under_a_reserved_name() -> None:
    kv = KvStore()
    settings = PlacementSettings(strategy="rendezvous", rf=2)
    assert kv.apply(9, Command("fput", PLACEMENT_KEY, settings.pack()).encode()).ok
    assert PlacementSettings.unpack(kv.get_file(PLACEMENT_KEY) or b"") == settings.with_version(9)
    assert kv.file_change == FileChange(PLACEMENT_KEY, 9, "placement")
    assert kv.file_names() == []  # not a file
    bad = pack(["random", "sha256", 3, 128, 0])
    assert kv.apply(10, Command("fput", PLACEMENT_KEY, bad).encode()).error == "bad_meta"


def test_a_retried_file_write_applies_once() -> None:
    # Reference: thesis §6.3 — the same session answers the retry from memory.
    kv = KvStore()
    first = kv.apply(1, fput(meta(), "c1", 1))
    retry = kv.apply(2, fput(meta(), "c1", 1))
    assert first == KvResult(True, b"1") and retry == KvResult(True, b"1", duplicate=True)
    assert FileMeta.unpack(kv.get_file("a.txt") or b"").version == 1


def test_snapshot_keeps_files_and_version_1_snapshots_still_restore() -> None:
    kv = KvStore()
    kv.apply(1, fput(meta("a.txt")))
    kv.apply(2, fput(meta("b.txt")))
    kv.apply(3, Command("put", "k", b"v").encode())
    restored = KvStore.restore(kv.snapshot())
    assert restored.files == kv.files and restored.data == kv.data
    assert restored.applied_index == 3
    old = pack([1, 5, 100, [["k", b"v"]], [["c1", 1, True, None, ""]]])
    from_v1 = KvStore.restore(old)
    assert from_v1.data == {"k": b"v"} and from_v1.files == {} and from_v1.applied_index == 5
    assert from_v1.apply(6, fput(meta(), "c1", 1)).duplicate  # sessions came along
