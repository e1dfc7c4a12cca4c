"""Physical references for the files benchmark, measured on this machine, in this run.

A throughput figure alone says little on a shared 2-core machine: the same
code is twice as fast on an idle laptop. Issue 5 therefore asks for each
figure *next to* what the hardware itself does with the same bytes:

* upload reference: the same bytes written ``rf`` times as 1 MiB files, each
  fsynced (what RF durable copies cost at the very least), plus one pass of
  the bytes through a loopback TCP socket (the client → entry hop);
* download reference: one plain socket stream of the bytes over loopback.

Both stream the bytes from one reusable buffer, so the references measure
the disk and the kernel, not Python allocations.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

PIECE_BYTES = 1024 * 1024  # the chunk size the cluster uses by default
SOCKET_READ_BYTES = 1024 * 1024


def write_files_with_fsync(directory: Path, total_bytes: int, copies: int) -> float:
    """Seconds to write ``total_bytes`` ``copies`` times as fsynced 1 MiB files."""
    directory.mkdir(parents=True, exist_ok=True)
    piece = os.urandom(PIECE_BYTES)
    pieces = -(-total_bytes // PIECE_BYTES)
    started = time.perf_counter()
    for copy in range(copies):
        for index in range(pieces):
            size = min(PIECE_BYTES, total_bytes - index * PIECE_BYTES)
            path = directory / f"{copy}-{index}"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, piece[:size] if size < PIECE_BYTES else piece)
                os.fsync(fd)
            finally:
                os.close(fd)
    elapsed = time.perf_counter() - started
    for entry in directory.iterdir():
        entry.unlink()
    return elapsed


def loopback_stream(total_bytes: int) -> float:
    """Seconds to push ``total_bytes`` through one loopback TCP connection."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        received = [0]

        def sink() -> None:
            connection, _ = server.accept()
            with connection:
                buffer = bytearray(SOCKET_READ_BYTES)
                while True:
                    count = connection.recv_into(buffer)
                    if not count:
                        break
                    received[0] += count

        reader = threading.Thread(target=sink, name="loopback-sink")
        reader.start()
        piece = os.urandom(PIECE_BYTES)
        started = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port)) as client:
            left = total_bytes
            while left > 0:
                size = min(PIECE_BYTES, left)
                client.sendall(piece if size == PIECE_BYTES else piece[:size])
                left -= size
        reader.join()
        elapsed = time.perf_counter() - started
    if received[0] != total_bytes:
        raise RuntimeError(f"loopback reference lost bytes: {received[0]} of {total_bytes}")
    return elapsed


def references(directory: Path, total_bytes: int, rf: int) -> dict[str, float]:
    """MB/s of both references (MB = 10^6 bytes, as disks and networks count)."""
    write_s = write_files_with_fsync(directory, total_bytes, rf)
    socket_s = loopback_stream(total_bytes)
    return {
        "upload_reference_mb_per_s": total_bytes / 1e6 / (write_s + socket_s),
        "download_reference_mb_per_s": total_bytes / 1e6 / socket_s,
        "fsync_write_s": write_s,
        "loopback_s": socket_s,
    }
