"""Keep freed memory for the next chunk instead of handing it back to the kernel.

A node moves file chunks of a megabyte: each is received into a fresh
buffer, hashed, written to disk and freed, and the next one needs the same
amount again. glibc's allocator returns large blocks to the kernel as soon
as they are freed (blocks above its mmap threshold, and the top of the heap
beyond its trim threshold), so every new buffer is new memory that the
kernel must map and zero page by page: a page fault every 4 KiB, 256 per
MiB. On the 2-core virtual machine this was measured on, a fault costs a few
microseconds, so those faults cost more CPU than the SHA-256 of the same
bytes; asyncio's stream reader alone spent 3–4 ms of CPU per MiB, 0.8 ms
with freed memory kept.

So a node raises both thresholds once at start: blocks up to
``MMAP_THRESHOLD_BYTES`` (a whole frame of the largest size fits) come from
the heap, and the heap keeps up to ``TRIM_THRESHOLD_BYTES`` of free memory
for reuse. A node thus holds on to the memory of its busiest moment (a few
windows of chunks), not more. Other C libraries (macOS, musl) have no
``mallopt``; there the call is a no-op and only speed differs.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

# glibc's <malloc.h> parameter numbers.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# Above the largest frame (codec.MAX_FRAME_BYTES, 8 MiB) and an HTTP body of
# the same size, so no buffer of ours is ever a private mapping of its own.
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
# Free memory kept for reuse: a few upload windows of 1 MiB chunks on every
# link, with room to spare. Beyond it the heap is trimmed as usual.
TRIM_THRESHOLD_BYTES = 128 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Raise the allocator's thresholds (see the module doc); False if this C
    library cannot (the node then simply runs with its defaults)."""
    try:
        # The process's own symbols, which include the C library's: no search
        # for the library file (find_library would run ldconfig).
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
    if not ok:
        log.info("the C library refused the malloc thresholds; running with its defaults")
    return ok
