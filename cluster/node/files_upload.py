"""One upload in progress on its entry node: which chunk comes next, the whole-file
hashes so far, and which chunks already have their copies.

An upload is a small state machine driven by HTTP requests
(cluster/node/files_routes.py): opened with a name and a size, fed chunks
strictly in order 0, 1, 2..., then committed or aborted. Nothing of it is
visible to anyone else until the commit puts its metadata through Raft; a
cut-off upload leaves only chunk files no metadata mentions, which garbage
collection removes after the orphan grace period.

The whole-file MD5 and SHA-256 must see the bytes in order, so every chunk
is fed to them by one shared worker thread in arrival order (hashlib
releases the GIL, so this overlaps the replication of earlier chunks).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from cluster.core.files.meta import ChunkMeta, chunk_count

# Chunks replicating at once per upload: enough to keep every replica's disk
# busy while the next chunk arrives, and memory at a few chunks per upload.
# bench.files, 256 MiB: 4 gave 44–49 MB/s, 8 gave 54–57 MB/s on 2 cores.
UPLOAD_WINDOW_CHUNKS = 8
# An upload with no request for this long (× time scale) is abandoned.
UPLOAD_IDLE_S = 60.0


class FilesError(Exception):
    """A file request that cannot be served: an HTTP status and a message for a person."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class UploadSession:
    def __init__(
        self,
        upload_id: str,
        name: str,
        size_bytes: int,
        chunk_bytes: int,
        client_id: str,
        file_hasher: ThreadPoolExecutor,
        now_s: float,
    ) -> None:
        self.upload_id = upload_id
        self.name = name
        self.size_bytes = size_bytes
        self.chunk_bytes = chunk_bytes
        self.chunks_total = chunk_count(size_bytes, chunk_bytes)
        # The Raft session of the commit: a retried commit applies once (§6.3).
        self.client_id = client_id
        self.next_index = 0
        self.chunks: list[ChunkMeta | None] = [None] * self.chunks_total
        self.failure: str | None = None  # the first replication failure, final
        self.closed = False
        self.committing = False  # the sweeper leaves a committing upload alone
        self.touched_s = now_s
        # One request of this upload at a time: chunks must feed the hashes in order.
        self.lock = asyncio.Lock()
        self.window = asyncio.Semaphore(UPLOAD_WINDOW_CHUNKS)
        self.replications: set[asyncio.Task[None]] = set()
        self._file_hasher = file_hasher
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha256 = hashlib.sha256()
        self._feeding: deque[asyncio.Future[None]] = deque()

    def expected_size(self, index: int) -> int:
        if index < self.chunks_total - 1:
            return self.chunk_bytes
        return self.size_bytes - (self.chunks_total - 1) * self.chunk_bytes

    def accept(self, index: int, size_bytes: int) -> None:
        """Take chunk ``index`` of ``size_bytes`` next, or FilesError 409 saying why not."""
        if self.next_index >= self.chunks_total:
            raise FilesError(
                409, f"all {self.chunks_total} chunks are already here; commit the upload"
            )
        if index != self.next_index:
            raise FilesError(
                409, f"chunks must come in order: expected chunk {self.next_index}, got {index}"
            )
        want = self.expected_size(index)
        if size_bytes != want:
            raise FilesError(409, f"chunk {index} must be {want} bytes, got {size_bytes}")
        self.next_index += 1

    async def feed(self, data: bytes) -> None:
        """Add the next chunk's bytes to the whole-file hashes (in order, in a thread).

        Waits while a window's worth of chunks is still being hashed, so a slow
        hash never makes the upload hold more than a few chunks in memory.
        """
        while len(self._feeding) >= UPLOAD_WINDOW_CHUNKS:
            await self._feeding.popleft()
        loop = asyncio.get_running_loop()
        self._feeding.append(loop.run_in_executor(self._file_hasher, self._update, data))

    def _update(self, data: bytes) -> None:
        self._md5.update(data)
        self._sha256.update(data)

    async def digests(self) -> tuple[str, str]:
        """(md5, sha256) hex of the whole file, once every chunk has been fed."""
        while self._feeding:
            await self._feeding.popleft()
        return self._md5.hexdigest(), self._sha256.hexdigest()

    def missing(self) -> str:
        """Which chunks have not arrived ('' when all have), for a 409."""
        if self.next_index >= self.chunks_total:
            return ""
        if self.next_index == self.chunks_total - 1:
            return f"chunk {self.next_index} of {self.chunks_total} has not been uploaded"
        return (
            f"chunks {self.next_index}..{self.chunks_total - 1} of {self.chunks_total}"
            " have not been uploaded"
        )
