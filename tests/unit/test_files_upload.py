"""An upload in progress: chunks strictly in order with exact sizes, the whole-file
hashes fed in order, and a 409 that says which chunks are missing."""

from __future__ import annotations

import asyncio
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from cluster.node.files_upload import FilesError, UploadSession

KIB = 1024


def session(size_bytes: int, pool: ThreadPoolExecutor) -> UploadSession:
    return UploadSession("u1", "f.bin", size_bytes, 64 * KIB, "client-1", pool, 0.0)


def test_chunks_must_come_in_order_with_their_exact_size() -> None:
    with ThreadPoolExecutor(1) as pool:
        upload = session(150 * KIB, pool)  # 64 + 64 + 22 KiB
        assert upload.chunks_total == 3 and upload.expected_size(2) == 22 * KIB
        with pytest.raises(FilesError, match="expected chunk 0, got 1") as info:
            upload.accept(1, 64 * KIB)
        assert info.value.status == 409
        with pytest.raises(FilesError, match="chunk 0 must be 65536 bytes, got 10"):
            upload.accept(0, 10)
        upload.accept(0, 64 * KIB)
        assert upload.missing() == "chunks 1..2 of 3 have not been uploaded"
        upload.accept(1, 64 * KIB)
        assert upload.missing() == "chunk 2 of 3 has not been uploaded"
        with pytest.raises(FilesError, match="must be 22528 bytes"):
            upload.accept(2, 64 * KIB)
        upload.accept(2, 22 * KIB)
        assert upload.missing() == ""
        with pytest.raises(FilesError, match="already here; commit"):
            upload.accept(3, 1)


def test_the_whole_file_hashes_see_every_chunk_in_order() -> None:
    data = os.urandom(300 * KIB)

    async def scenario(pool: ThreadPoolExecutor) -> tuple[str, str]:
        upload = session(len(data), pool)
        for index in range(upload.chunks_total):
            start = index * 64 * KIB
            piece = data[start : start + 64 * KIB]
            upload.accept(index, len(piece))
            await upload.feed(piece)
        return await upload.digests()

    with ThreadPoolExecutor(1) as pool:
        md5, sha256 = asyncio.run(scenario(pool))
    assert md5 == hashlib.md5(data).hexdigest()
    assert sha256 == hashlib.sha256(data).hexdigest()
