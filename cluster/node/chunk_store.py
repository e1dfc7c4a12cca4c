"""A node's content-addressed chunk store: one file per chunk, named by its hash.

``<data dir>/chunks/<sha[:2]>/<sha>`` holds the bytes whose SHA-256 is
``sha``. Naming a chunk by its hash gives three things for free: identical
chunks are stored once (deduplication), a chunk can be checked without any
other record (re-hash it and compare with its name), and a file's metadata
needs only the list of hashes. The 256 two-hex-digit folders keep any one
directory small.

Durability, in the order a crash can interrupt it (DESIGN.md: bytes on disk,
fsync): the bytes go to a temporary file in the chunk's folder, that file is
fsynced, renamed over the final name (atomic: a reader sees nothing or the
whole chunk), and the folder is fsynced so the rename itself survives a power
cut. A crash leaves at worst a temporary file, removed at the next start.

Every read re-hashes what it read: disks, and students with ``dd``, do
corrupt files. A chunk that no longer matches its name raises
``ChunkCorrupt``; the caller moves it to ``quarantine/`` and fetches a good
copy from another replica.

All disk work and hashing runs in worker threads (hashlib and file IO release
the GIL), so the node's event loop keeps serving messages, heartbeats and
Raft while a chunk is written and fsynced.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from cluster.core.files.meta import MAX_CHUNK_BYTES, is_sha256_hex
from cluster.node.buffer_pool import BufferPool

log = logging.getLogger(__name__)

CHUNKS_DIR = "chunks"
QUARANTINE_DIR = "quarantine"  # inside chunks/; not two hex digits, so never a chunk folder
TEMP_SUFFIX = ".tmp"
# Room kept free on the disk whatever uploads want: the Raft log, snapshots
# and the rest of the machine must still be able to write.
RESERVE_BYTES = 64 * 1024 * 1024
# Chunks written or read at once: enough to overlap several fsyncs (an
# upload's window of chunks, a repair) on two cores without a thread per chunk.
DISK_WORKERS = 4
# Threads that only hash (an upload's chunks, a fetched chunk): kept apart from
# the disk threads so a hash never waits behind an fsync; two cores, two threads.
HASH_WORKERS = 2
# Corrupt chunks kept for inspection; older ones are deleted.
MAX_QUARANTINED = 32
# Read buffers kept for reuse between chunks served to clients: one per disk
# worker and as many again for chunks still on their way into a socket.
READ_BUFFERS_KEPT = 2 * DISK_WORKERS
# A lent read buffer is at least this big (the default chunk size), so a short
# last chunk does not leave a buffer too small for the next full one.
READ_BUFFER_MIN_BYTES = 1024 * 1024


class ChunkCorrupt(Exception):
    """The bytes stored for a chunk no longer hash to its name."""

    def __init__(self, sha256: str, detail: str) -> None:
        super().__init__(f"chunk {sha256[:12]} is corrupt: {detail}")
        self.sha256 = sha256


@dataclass
class LentChunk:
    """A verified chunk's bytes in a buffer lent by the store.

    ``view`` is valid until ``give_back``; call that only once nothing reads
    the bytes any more (the socket took them). Not calling it is safe: the
    buffer is then freed by the garbage collector instead of reused.
    """

    view: memoryview
    _buffer: bytearray
    _pool: BufferPool

    def give_back(self) -> None:
        self.view.release()
        self._pool.give(self._buffer)


class ChunkMismatch(ValueError):
    """Bytes offered for storage do not hash to the name they came with."""


class NoSpace(OSError):
    """Storing the chunk would eat into the disk's reserve."""


@dataclass
class StoreStats:
    """Counters for the node's ``Counters`` event (written by worker threads)."""

    chunks_written: int = 0
    bytes_written: int = 0
    chunks_read: int = 0
    bytes_read: int = 0
    corrupt_found: int = 0


def _check_sha(sha256: str) -> None:
    if not is_sha256_hex(sha256):
        raise ValueError(f"not a chunk name (sha256 hex): {sha256[:80]!r}")


class ChunkStore:
    """The chunks of one node. ``put``/``read``/``delete``/``quarantine`` are
    coroutines (worker threads); ``has``, ``size_of``, ``list``, ``free_bytes``
    are quick synchronous looks at the disk."""

    def __init__(
        self,
        data_dir: Path,
        fsync: bool = True,
        reserve_bytes: int = RESERVE_BYTES,
        workers: int = DISK_WORKERS,
    ) -> None:
        self.root = Path(data_dir) / CHUNKS_DIR
        self.fsync = fsync
        self.reserve_bytes = reserve_bytes
        self.stats = StoreStats()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chunk-disk")
        self._hash_pool = ThreadPoolExecutor(HASH_WORKERS, thread_name_prefix="chunk-hash")
        self._read_buffers = BufferPool(READ_BUFFERS_KEPT)
        self._temp_ids = itertools.count()
        self.root.mkdir(parents=True, exist_ok=True)
        self._remove_temp_files()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._hash_pool.shutdown(wait=True)

    # -- quick looks --------------------------------------------------------------

    def path_of(self, sha256: str) -> Path:
        _check_sha(sha256)
        return self.root / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        """Is a file stored under this name? (Not verified: ``read`` does that.)"""
        return self.path_of(sha256).is_file()

    def size_of(self, sha256: str) -> int | None:
        try:
            return self.path_of(sha256).stat().st_size
        except FileNotFoundError:
            return None

    def list(self) -> list[str]:
        """The name of every chunk stored, sorted."""
        found: list[str] = []
        with os.scandir(self.root) as folders:
            for folder in folders:
                if len(folder.name) != 2 or not folder.is_dir():
                    continue
                with os.scandir(folder.path) as entries:
                    found.extend(
                        e.name
                        for e in entries
                        if e.name.startswith(folder.name) and is_sha256_hex(e.name)
                    )
        found.sort()
        return found

    def free_bytes(self) -> int:
        """Bytes that may still be stored: free space on the disk minus the reserve."""
        st = os.statvfs(self.root)
        return max(0, st.f_bavail * st.f_frsize - self.reserve_bytes)

    # -- disk work in worker threads ----------------------------------------------

    async def sha256_hex(self, data: bytes | bytearray | memoryview) -> str:
        """SHA-256 of ``data`` in a worker thread (the event loop keeps running)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._hash_pool, _sha256_hex, data)

    async def put(
        self, sha256: str, data: bytes | bytearray | memoryview, verified: bool = False
    ) -> bool:
        """Store ``data`` durably under ``sha256``; True if written, False if already held.

        ``verified``: the caller has just hashed ``data`` itself (the entry
        node of an upload), so it is not hashed again. Raises ChunkMismatch if
        the bytes do not hash to ``sha256``, NoSpace if the disk is full.
        """
        _check_sha(sha256)
        if len(data) > MAX_CHUNK_BYTES:
            raise ValueError(f"a chunk is at most {MAX_CHUNK_BYTES} bytes, got {len(data)}")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._put, sha256, data, verified)

    async def read(self, sha256: str) -> bytes | None:
        """The chunk's bytes, verified against its name; None if not held here.

        Raises ChunkCorrupt when they no longer match (the file stays where it
        is: call ``quarantine``)."""
        _check_sha(sha256)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._read, sha256)

    async def read_lent(self, sha256: str) -> LentChunk | None:
        """Like ``read``, but into a buffer lent from the store's pool: serving a
        chunk allocates nothing and copies its bytes only from the disk and into
        the socket. The caller gives the buffer back (``LentChunk.give_back``)."""
        _check_sha(sha256)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._read_lent, sha256)

    async def delete(self, sha256: str) -> bool:
        """Remove the chunk; False if it was not here."""
        _check_sha(sha256)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._delete, sha256)

    async def quarantine(self, sha256: str) -> bool:
        """Move a (corrupt) chunk out of the store into ``quarantine/``; False if absent."""
        _check_sha(sha256)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._quarantine, sha256)

    # -- the blocking halves ----------------------------------------------------------

    def _put(self, sha256: str, data: bytes | bytearray | memoryview, verified: bool) -> bool:
        if not verified:
            actual = hashlib.sha256(data).hexdigest()
            if actual != sha256:
                raise ChunkMismatch(f"the bytes hash to {actual[:12]}, not {sha256[:12]}")
        final = self.root / sha256[:2] / sha256
        if self._holds_intact(final, sha256, len(data)):
            # Already here (deduplication). Its modification time is refreshed:
            # garbage collection (files_gc.py) counts a chunk's grace from the
            # latest store, so an upload re-using these bytes keeps them alive.
            with contextlib.suppress(FileNotFoundError):
                os.utime(final)
            return False
        if self.free_bytes() < len(data):
            raise NoSpace(f"no room for {len(data)} more bytes (reserve {self.reserve_bytes})")
        folder = final.parent
        if not folder.is_dir():
            folder.mkdir(exist_ok=True)
            self._fsync_dir(self.root)
        temp = folder / f".{sha256}.{os.getpid()}.{next(self._temp_ids)}{TEMP_SUFFIX}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            if self.fsync:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        os.close(fd)
        os.replace(temp, final)
        self._fsync_dir(folder)
        self.stats.chunks_written += 1
        self.stats.bytes_written += len(data)
        return True

    def _holds_intact(self, path: Path, sha256: str, size_bytes: int) -> bool:
        """Is an intact copy at ``path``? (A damaged one is then simply overwritten.)"""
        try:
            if path.stat().st_size != size_bytes:
                return False
            return hashlib.sha256(path.read_bytes()).hexdigest() == sha256
        except FileNotFoundError:
            return False

    def _read(self, sha256: str) -> bytes | None:
        try:
            with open(self.root / sha256[:2] / sha256, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size > MAX_CHUNK_BYTES:
                    self.stats.corrupt_found += 1
                    raise ChunkCorrupt(sha256, f"{size} bytes, more than any chunk")
                data = f.read()
        except FileNotFoundError:
            return None
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            self.stats.corrupt_found += 1
            raise ChunkCorrupt(sha256, f"its {len(data)} bytes hash to {actual[:12]}")
        self.stats.chunks_read += 1
        self.stats.bytes_read += len(data)
        return data

    def _read_lent(self, sha256: str) -> LentChunk | None:
        try:
            # Unbuffered: readinto goes from the page cache straight into the lent buffer.
            with open(self.root / sha256[:2] / sha256, "rb", buffering=0) as f:
                size = os.fstat(f.fileno()).st_size
                if size > MAX_CHUNK_BYTES:
                    self.stats.corrupt_found += 1
                    raise ChunkCorrupt(sha256, f"{size} bytes, more than any chunk")
                buffer = self._read_buffers.take(max(size, READ_BUFFER_MIN_BYTES))
                view = memoryview(buffer)[:size]
                got = 0
                while got < size:
                    count = f.readinto(view[got:])
                    if not count:  # shortened since fstat: the hash below refuses it
                        break
                    got += count
        except FileNotFoundError:
            return None
        lent = LentChunk(view[:got], buffer, self._read_buffers)
        view.release()
        # The one hash of these bytes on this node: verify-on-read, as ``_read``.
        actual = hashlib.sha256(lent.view).hexdigest()
        if actual != sha256:
            lent.give_back()
            self.stats.corrupt_found += 1
            raise ChunkCorrupt(sha256, f"its {got} bytes hash to {actual[:12]}")
        self.stats.chunks_read += 1
        self.stats.bytes_read += got
        return lent

    def _delete(self, sha256: str) -> bool:
        path = self.root / sha256[:2] / sha256
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        self._fsync_dir(path.parent)
        return True

    def _quarantine(self, sha256: str) -> bool:
        folder = self.root / QUARANTINE_DIR
        folder.mkdir(exist_ok=True)
        target = folder / f"{sha256}.{os.getpid()}.{next(self._temp_ids)}"
        try:
            os.replace(self.root / sha256[:2] / sha256, target)
        except FileNotFoundError:
            return False
        self._fsync_dir(self.root / sha256[:2])
        kept = sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime_ns)
        for old in kept[:-MAX_QUARANTINED]:
            with contextlib.suppress(OSError):
                old.unlink()
        return True

    def _fsync_dir(self, folder: Path) -> None:
        if not self.fsync:
            return
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _remove_temp_files(self) -> None:
        """Temporary files of writes a crash interrupted: never renamed, never acknowledged."""
        removed = 0
        for temp in self.root.glob(f"??/.*{TEMP_SUFFIX}"):
            with contextlib.suppress(OSError):
                temp.unlink()
                removed += 1
        if removed:
            log.info("removed %d unfinished chunk writes from %s", removed, self.root)


def _sha256_hex(data: bytes | bytearray | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()
