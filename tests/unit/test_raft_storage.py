"""The node's Raft storage on a real disk: what is written comes back after a restart,
a torn tail is cut rather than misread, and one Ready costs one fsync.

Reference: §5 Figure 2 (persistent state: currentTerm, votedFor, log[]), §7 (snapshots).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cluster.core.raft import HardState, Ready, Snapshot
from cluster.node.raft_storage import (
    HARDSTATE_FILE,
    LOG_FILE,
    RaftStorage,
    StorageError,
)
from cluster.schema.raft import ENTRY_NOOP, ENTRY_NORMAL, Entry


def entries(first: int, last: int, term: int) -> list[Entry]:
    return [Entry(i, term, ENTRY_NORMAL, f"cmd{i}".encode()) for i in range(first, last + 1)]


def reopen(directory: Path) -> tuple[RaftStorage, object]:
    storage = RaftStorage(directory, fsync=True)
    return storage, storage.load()


def test_fresh_directory_loads_as_none(tmp_path: Path) -> None:
    storage = RaftStorage(tmp_path / "raft", fsync=True)
    assert storage.load() is None
    storage.close()


def test_entries_and_hard_state_survive_a_restart(tmp_path: Path) -> None:
    storage = RaftStorage(tmp_path, fsync=True)
    storage.load()
    storage.save(Ready(hard_state=HardState(3, "n2"), entries=entries(1, 5, 3)))
    storage.close()
    again, state = reopen(tmp_path)
    assert state is not None
    assert (state.term, state.vote) == (3, "n2")  # type: ignore[attr-defined]
    assert state.entries == entries(1, 5, 3)  # type: ignore[attr-defined]
    again.close()


def test_one_ready_is_one_fsync_however_many_entries(tmp_path: Path) -> None:
    storage = RaftStorage(tmp_path, fsync=True)
    storage.load()
    storage.save(Ready(entries=entries(1, 1, 1)))
    assert storage.stats.fsyncs == 1
    storage.save(Ready(entries=entries(2, 501, 1)))
    assert storage.stats.fsyncs == 2
    storage.close()


def test_fsync_off_writes_without_syncing(tmp_path: Path) -> None:
    storage = RaftStorage(tmp_path, fsync=False)
    storage.load()
    storage.save(Ready(hard_state=HardState(1, "n1"), entries=entries(1, 10, 1)))
    assert storage.stats.fsyncs == 0
    storage.close()
    _, state = reopen(tmp_path)
    assert len(state.entries) == 10  # type: ignore[attr-defined]


def test_a_conflicting_suffix_is_overwritten(tmp_path: Path) -> None:
    # Reference: §5.3 — a follower deletes a conflicting entry and all that follow it.
    storage = RaftStorage(tmp_path, fsync=True)
    storage.load()
    storage.save(Ready(entries=entries(1, 6, 1)))
    storage.save(Ready(entries=entries(4, 5, 2)))
    storage.close()
    _, state = reopen(tmp_path)
    assert state.entries == entries(1, 3, 1) + entries(4, 5, 2)  # type: ignore[attr-defined]


@pytest.mark.parametrize("cut_bytes", [1, 5, 9, 17])  # a record is 18 bytes
def test_a_torn_tail_is_cut_not_misread(tmp_path: Path, cut_bytes: int) -> None:
    storage = RaftStorage(tmp_path, fsync=True)
    storage.load()
    storage.save(Ready(entries=entries(1, 4, 1)))
    storage.close()
    path = tmp_path / LOG_FILE
    size = path.stat().st_size
    os.truncate(path, size - cut_bytes)  # a crash in the middle of the last write
    again, state = reopen(tmp_path)
    assert state.entries == entries(1, 3, 1)  # type: ignore[attr-defined]
    assert again.stats.torn_tail_bytes > 0
    # The file was cut back, so the next append follows a whole record.
    again.save(Ready(entries=entries(4, 5, 2)))
    again.close()
    _, state = reopen(tmp_path)
    assert state.entries == entries(1, 3, 1) + entries(4, 5, 2)  # type: ignore[attr-defined]


def test_a_damaged_record_ends_the_log_there(tmp_path: Path) -> None:
    storage = RaftStorage(tmp_path, fsync=True)
    storage.load()
    storage.save(Ready(entries=entries(1, 3, 1)))
    storage.close()
    path = tmp_path / LOG_FILE
    data = bytearray(path.read_bytes())
    data[-2] ^= 0xFF  # flip a byte of the last entry's payload: the CRC must catch it
    path.write_bytes(bytes(data))
    _, state = reopen(tmp_path)
    assert state.entries == entries(1, 2, 1)  # type: ignore[attr-defined]


def test_garbage_appended_after_the_log_is_cut(tmp_path: Path) -> None:
    storage = RaftStorage(tmp_path, fsync=True)
    storage.load()
    storage.save(Ready(entries=entries(1, 2, 1)))
    storage.close()
    with (tmp_path / LOG_FILE).open("ab") as f:
        f.write(b"\xff" * 100)  # a header claiming a huge length
    _, state = reopen(tmp_path)
    assert state.entries == entries(1, 2, 1)  # type: ignore[attr-defined]


def test_compaction_keeps_the_snapshot_and_the_entries_after_it(tmp_path: Path) -> None:
    # Reference: §7 — the snapshot replaces the log up to its index.
    storage = RaftStorage(tmp_path, fsync=True)
    storage.load()
    storage.save(Ready(hard_state=HardState(2, None), entries=entries(1, 10, 2)))
    before = storage.size_bytes()
    snap = Snapshot(7, 2, ("n1", "n2", "n3"), b"state@7")
    storage.save(Ready(compacted=snap))
    assert storage.size_bytes() < before
    storage.save(Ready(entries=entries(11, 12, 2)))
    storage.close()
    _, state = reopen(tmp_path)
    assert state.snapshot == snap  # type: ignore[attr-defined]
    assert state.entries == entries(8, 12, 2)  # type: ignore[attr-defined]


def test_an_installed_snapshot_replaces_the_whole_log(tmp_path: Path) -> None:
    storage = RaftStorage(tmp_path, fsync=True)
    storage.load()
    storage.save(Ready(entries=entries(1, 5, 1)))
    snap = Snapshot(20, 4, ("n1", "n2", "n3"), b"leader state")
    storage.save(Ready(snapshot=snap, entries=entries(21, 22, 4)))
    storage.close()
    _, state = reopen(tmp_path)
    assert state.snapshot == snap  # type: ignore[attr-defined]
    assert state.entries == entries(21, 22, 4)  # type: ignore[attr-defined]


def test_a_stale_log_that_disagrees_with_the_snapshot_is_dropped(tmp_path: Path) -> None:
    # A crash between writing a leader's snapshot and cutting the log.
    storage = RaftStorage(tmp_path, fsync=True)
    storage.load()
    storage.save(Ready(entries=entries(1, 5, 1)))
    storage._write_snapshot(Snapshot(4, 3, ("n1",), b"s"))
    storage.close()
    _, state = reopen(tmp_path)
    assert state.entries == []  # type: ignore[attr-defined]


def test_a_log_that_agrees_with_the_snapshot_keeps_its_suffix(tmp_path: Path) -> None:
    # A crash between writing our own snapshot and rewriting the log.
    storage = RaftStorage(tmp_path, fsync=True)
    storage.load()
    storage.save(Ready(entries=entries(1, 5, 1)))
    storage._write_snapshot(Snapshot(3, 1, ("n1",), b"s"))
    storage.close()
    again, state = reopen(tmp_path)
    assert state.entries == entries(4, 5, 1)  # type: ignore[attr-defined]
    again.save(Ready(entries=[Entry(6, 1, ENTRY_NOOP, b"")]))
    again.close()
    _, state = reopen(tmp_path)
    assert [e.index for e in state.entries] == [4, 5, 6]  # type: ignore[attr-defined]


def test_hard_state_is_replaced_atomically(tmp_path: Path) -> None:
    storage = RaftStorage(tmp_path, fsync=True)
    storage.load()
    storage.save(Ready(hard_state=HardState(1, "n1")))
    storage.save(Ready(hard_state=HardState(2, None)))
    storage.close()
    assert not (tmp_path / f"{HARDSTATE_FILE}.tmp").exists()
    _, state = reopen(tmp_path)
    assert (state.term, state.vote) == (2, None)  # type: ignore[attr-defined]


def test_a_damaged_hard_state_refuses_to_start(tmp_path: Path) -> None:
    storage = RaftStorage(tmp_path, fsync=True)
    storage.load()
    storage.save(Ready(hard_state=HardState(5, "n3")))
    storage.close()
    path = tmp_path / HARDSTATE_FILE
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(StorageError):
        RaftStorage(tmp_path, fsync=True).load()
