"""A node's Raft state on disk: the log, the hard state (term, vote) and the snapshot.

Raft is only safe if what a node promised survives a crash (§5, Figure 2):
a vote or an acknowledged entry that is forgotten lets two leaders be
elected in one term or a committed entry disappear. So the driver writes
each ``Ready`` here and fsyncs *before* sending its messages.

Layout of ``<data_dir>/raft/``:

* ``log``: an append-only file of records ``[length u32][crc32 u32][payload]``,
  payload = msgpack ``[index, term, kind, data]``. A crash can leave a torn
  last record; on load the length and the CRC expose it and the file is cut
  back to the last whole record: a torn tail is never misread as an entry.
  It was never acknowledged either, since the fsync that would have
  preceded the acknowledgement did not finish.
* ``hardstate``: ``[crc32 u32][msgpack [term, vote]]``, replaced atomically
  (write a temporary file, fsync it, rename it over the old one, fsync the
  directory), so a crash leaves the old or the new one, never a mixture.
* ``snapshot``: ``[crc32 u32][msgpack [index, term, voters, data]]``, the
  same way.

Group commit: ``save(ready)`` writes everything a Ready carries with one
``write`` to the log and then **one** fsync, however many entries it holds.
Entries proposed while that fsync runs go into the next Ready and share the
next fsync; that is where most of the throughput of a Raft log comes from.

With ``fsync = "off"`` (demos) nothing is fsynced: a killed process loses
nothing (the page cache survives it), a power cut may.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cluster.core.raft import HardState, PersistentState, Ready, Snapshot
from cluster.schema.codec import pack, unpack
from cluster.schema.raft import ENTRY_KINDS, Entry

log = logging.getLogger(__name__)

RECORD_HEADER = struct.Struct(">II")  # payload length, crc32 of the payload
CRC_HEADER = struct.Struct(">I")
# One entry is at most a frame (codec.MAX_FRAME_BYTES, 8 MiB); a length beyond
# this in a record header can only be a torn or damaged header.
MAX_RECORD_BYTES = 16 * 1024 * 1024
# The snapshot is the whole state machine; the core refuses larger ones from a
# leader (RaftConfig.max_snapshot_bytes), we refuse to read larger ones back.
MAX_SNAPSHOT_FILE_BYTES = 1024 * 1024 * 1024 + 64 * 1024
LOG_FILE = "log"
HARDSTATE_FILE = "hardstate"
SNAPSHOT_FILE = "snapshot"


class StorageError(RuntimeError):
    """The files are damaged beyond a torn tail: refuse to start rather than guess."""


@dataclass(slots=True)
class StorageStats:
    """What the disk did, for counters and the benchmark."""

    fsyncs: int = 0
    records_written: int = 0
    bytes_written: int = 0
    torn_tail_bytes: int = 0  # cut off the log at the last load


class RaftStorage:
    """Durable state of one Raft node. Not thread-safe: one caller at a time.

    The driver calls ``save`` from a single worker thread while the event
    loop goes on, and never calls two methods at once.
    """

    def __init__(self, directory: Path, fsync: bool) -> None:
        self.directory = Path(directory)
        self.fsync = fsync
        self.stats = StorageStats()
        self._fd = -1
        self._size_bytes = 0
        # The log file holds entries first_index, first_index + 1, ...; the
        # record of entry first_index + k starts at _offsets[k].
        self._first_index = 1
        self._offsets: list[int] = []
        self.snapshot: Snapshot | None = None

    # -- start-up -------------------------------------------------------------

    def load(self) -> PersistentState | None:
        """Open the files and read them back; None when the node has never run.

        A torn record at the end of the log is cut off; entries the snapshot
        already covers are dropped.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        hard = self._read_hardstate()
        self.snapshot = self._read_snapshot()
        records = self._read_log()
        fresh = hard is None and self.snapshot is None and not records
        kept = self._after_snapshot(records)
        self._adopt_log(kept, len(records))
        if fresh:
            return None
        term, vote = hard if hard is not None else (0, None)
        return PersistentState(term, vote, self.snapshot, [entry for entry, _ in kept])

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    # -- the Ready contract, steps 1 to 5 -------------------------------------

    def save(self, rd: Ready) -> None:
        """Make ``rd``'s snapshot, entries and hard state durable (one fsync for the log)."""
        if rd.snapshot is not None:
            # 1. From the leader: it replaces the whole log.
            self._write_snapshot(rd.snapshot)
            self._truncate_file(0)
            self._first_index = rd.snapshot.index + 1
        if rd.compacted is not None:
            # 2. Our own compaction: the log before it is no longer needed.
            self._write_snapshot(rd.compacted)
            self._drop_prefix(rd.compacted.index)
        if rd.entries:
            # 3. A leader's entries overwrite a conflicting suffix (§5.3).
            self._append(rd.entries)
        if rd.hard_state is not None:
            # 4.
            self._write_hardstate(rd.hard_state)
        if self.fsync and (rd.entries or rd.snapshot is not None or rd.compacted is not None):
            # 5. The single fsync that makes every entry of this Ready durable.
            os.fdatasync(self._fd)
            self.stats.fsyncs += 1

    # -- queries --------------------------------------------------------------

    def last_index(self) -> int:
        return self._first_index + len(self._offsets) - 1

    def size_bytes(self) -> int:
        return self._size_bytes

    # -- the log file ---------------------------------------------------------

    def _append(self, entries: list[Entry]) -> None:
        first = entries[0].index
        if self._offsets and not self._first_index <= first <= self.last_index() + 1:
            held = f"{self._first_index}..{self.last_index()}"
            raise StorageError(f"entries from {first} do not follow the log {held}")
        if self._offsets and first <= self.last_index():
            self._truncate_file(self._offsets[first - self._first_index])
            del self._offsets[first - self._first_index :]
        if not self._offsets:
            self._first_index = first
        chunks: list[bytes] = []
        offset = self._size_bytes
        for entry in entries:
            payload = pack(entry)
            record = RECORD_HEADER.pack(len(payload), zlib.crc32(payload)) + payload
            self._offsets.append(offset)
            offset += len(record)
            chunks.append(record)
        data = b"".join(chunks)
        _write_all(self._fd, data)
        self._size_bytes = offset
        self.stats.records_written += len(entries)
        self.stats.bytes_written += len(data)

    def _truncate_file(self, size_bytes: int) -> None:
        os.ftruncate(self._fd, size_bytes)
        self._size_bytes = size_bytes
        if size_bytes == 0:
            self._offsets.clear()

    def _drop_prefix(self, index: int) -> None:
        """Forget entries up to ``index``: copy the rest into a new file, atomically."""
        keep_from = index + 1 - self._first_index
        if keep_from <= 0:
            return
        if keep_from >= len(self._offsets):
            tail = b""
            kept: list[int] = []
        else:
            start = self._offsets[keep_from]
            tail = os.pread(self._fd, self._size_bytes - start, start)
            kept = [o - start for o in self._offsets[keep_from:]]
        self._replace(LOG_FILE, tail)
        self._open_log()
        self._offsets = kept
        self._first_index = index + 1
        self._size_bytes = len(tail)

    def _open_log(self) -> None:
        self.close()
        self._fd = os.open(self.directory / LOG_FILE, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)

    def _read_log(self) -> list[tuple[Entry, int]]:
        """Every whole record with its offset, in order; a torn or damaged tail is cut off."""
        path = self.directory / LOG_FILE
        data = path.read_bytes() if path.exists() else b""
        records: list[tuple[Entry, int]] = []
        offset = 0
        while offset < len(data):
            decoded = _decode_record(data, offset)
            if decoded is None:
                break
            entry, size = decoded
            if records and entry.index != records[-1][0].index + 1:
                break
            records.append((entry, offset))
            offset += size
        if offset < len(data):
            self.stats.torn_tail_bytes = len(data) - offset
            log.warning(
                "raft log %s: cut %d bytes of a torn or damaged tail after %d entries",
                path,
                len(data) - offset,
                len(records),
            )
        self._size_bytes = offset
        return records

    def _after_snapshot(self, records: list[tuple[Entry, int]]) -> list[tuple[Entry, int]]:
        """The records that continue the snapshot (all of them without one)."""
        snap = self.snapshot
        if snap is None or not records:
            return records
        position = snap.index - records[0][0].index
        if position < -1 or position >= len(records):
            return []  # a gap after the snapshot, or the log ends before it
        if position >= 0 and records[position][0].term != snap.term:
            # The log disagrees with the committed snapshot at its index: a
            # stale log that a crash kept before save() could cut it.
            return []
        return records[position + 1 :]

    def _adopt_log(self, records: list[tuple[Entry, int]], whole: int) -> None:
        """Make the log file hold exactly ``records``: cut the torn tail, or rewrite
        it without a prefix the snapshot covers. ``whole``: records that were read."""
        self._open_log()
        self._first_index = (self.snapshot.index if self.snapshot else 0) + 1
        if len(records) == whole:
            # Nothing dropped in front: cutting the file after the last whole
            # record is enough (a no-op without a torn tail).
            os.ftruncate(self._fd, self._size_bytes)
            self._offsets = [offset for _, offset in records]
            if records:
                self._first_index = records[0][0].index
            return
        self._truncate_file(0)
        if records:
            self._append([entry for entry, _ in records])
        if self.fsync:
            os.fdatasync(self._fd)

    # -- hard state and snapshot: whole files, replaced atomically -------------

    def _write_hardstate(self, hard: HardState) -> None:
        self._replace(HARDSTATE_FILE, _with_crc(pack([hard.term, hard.vote])))

    def _read_hardstate(self) -> tuple[int, str | None] | None:
        raw = _read_with_crc(self.directory / HARDSTATE_FILE, 1024)
        if raw is None:
            return None
        if not (
            isinstance(raw, list)
            and len(raw) == 2
            and isinstance(raw[0], int)
            and (raw[1] is None or isinstance(raw[1], str))
        ):
            raise StorageError(f"{self.directory / HARDSTATE_FILE}: not [term, vote]")
        return raw[0], raw[1]

    def _write_snapshot(self, snap: Snapshot) -> None:
        payload = pack([snap.index, snap.term, list(snap.voters), snap.data])
        self._replace(SNAPSHOT_FILE, _with_crc(payload))
        self.snapshot = snap

    def _read_snapshot(self) -> Snapshot | None:
        path = self.directory / SNAPSHOT_FILE
        raw = _read_with_crc(path, MAX_SNAPSHOT_FILE_BYTES)
        if raw is None:
            return None
        if not (isinstance(raw, list) and len(raw) == 4 and isinstance(raw[3], bytes)):
            raise StorageError(f"{path}: not [index, term, voters, data]")
        index, term, voters, data = raw
        return Snapshot(index, term, tuple(voters), data)

    def _replace(self, name: str, data: bytes) -> None:
        """Write temp + fsync, rename over ``name``, fsync the directory."""
        final = self.directory / name
        temp = self.directory / f"{name}.tmp"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_all(fd, data)
            if self.fsync:
                os.fsync(fd)
                self.stats.fsyncs += 1
        finally:
            os.close(fd)
        os.replace(temp, final)
        if self.fsync:
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
                self.stats.fsyncs += 1
            finally:
                os.close(dir_fd)
        self.stats.bytes_written += len(data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _decode_record(data: bytes, offset: int) -> tuple[Entry, int] | None:
    """The entry whose record starts at ``offset`` and the record's size in bytes,
    or None if it is torn or damaged."""
    end_of_header = offset + RECORD_HEADER.size
    if end_of_header > len(data):
        return None
    length, crc = RECORD_HEADER.unpack_from(data, offset)
    if length > MAX_RECORD_BYTES or end_of_header + length > len(data):
        return None
    payload = data[end_of_header : end_of_header + length]
    if zlib.crc32(payload) != crc:
        return None
    try:
        raw: Any = unpack(payload)
    except ValueError:
        return None
    if not (isinstance(raw, list) and len(raw) == 4):
        return None
    index, term, kind, body = raw
    if not (
        isinstance(index, int)
        and isinstance(term, int)
        and kind in ENTRY_KINDS
        and isinstance(body, bytes)
    ):
        return None
    return Entry(index, term, kind, body), RECORD_HEADER.size + length


def _with_crc(payload: bytes) -> bytes:
    return CRC_HEADER.pack(zlib.crc32(payload)) + payload


def _read_with_crc(path: Path, max_bytes: int) -> Any:
    """The decoded payload of a whole-file record, None if there is no file."""
    try:
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        return None
    if len(data) > max_bytes:
        raise StorageError(f"{path}: larger than {max_bytes} bytes")
    if len(data) < CRC_HEADER.size:
        raise StorageError(f"{path}: truncated")
    (crc,) = CRC_HEADER.unpack_from(data, 0)
    payload = data[CRC_HEADER.size :]
    if zlib.crc32(payload) != crc:
        # Replaced atomically, so a bad CRC is damage, not a crash mid-write.
        raise StorageError(f"{path}: checksum mismatch")
    try:
        return unpack(payload)
    except ValueError as exc:
        raise StorageError(f"{path}: undecodable: {exc}") from exc
