"""Chunk transfers between nodes: the messages that carry file bytes.

A chunk is named by the SHA-256 of its bytes (lower-case hex). Every
transfer is a request and its answer, matched by a number the asker chose
(``transfer_id``, ``request_id``: unique per asking node), because answers
from several replicas arrive in any order:

* ``ChunkPut`` → ``ChunkPutAck``: an upload's entry node gives a replica a
  chunk; the replica checks the hash, stores and fsyncs it, then says so;
* ``ChunkGet`` → ``ChunkData``: a node asks a holder for a chunk (repair,
  node-side streaming); the holder reads it, verifying its hash on the way;
* ``ChunkHave``: a holder tells the leader which chunks it now holds, so a
  repair can complete (cluster/node/files_repair.py).

They travel like every other message (routed hop by hop, shaped by the
links, drawn on the dashboard), so a partition really stops an upload. The
one-line ``text()`` of each never includes the bytes.

``ChunkPut`` and ``ChunkData`` declare ``BULK = ("data", "sha256")``: their
bytes travel in bulk frames (cluster/schema/codec.py), checked on every hop
against ``sha256``, which is also the chunk's name. So a received
``ChunkPut`` or ``ChunkData`` whose ``data`` is not empty has *already been
verified*: its receiver stores it without hashing it again. ``data`` is the
buffer the bytes were received into (``bytearray``) or the sender's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from cluster.schema.messages import wire

SHORT_HASH_CHARS = 8  # enough to tell chunks apart on the dashboard


def _short(sha256: str) -> str:
    return sha256[:SHORT_HASH_CHARS]


def _size(size_bytes: int) -> str:
    if size_bytes >= 1024 * 1024:
        return f"{size_bytes / (1024 * 1024):.1f} MiB"
    if size_bytes >= 1024:
        return f"{size_bytes / 1024:.0f} KiB"
    return f"{size_bytes} B"


@wire
@dataclass(frozen=True, slots=True)
class ChunkPut:
    """Store this chunk durably and acknowledge (upload replication)."""

    transfer_id: int
    sha256: str
    data: bytes | bytearray

    BULK: ClassVar[tuple[str, str]] = ("data", "sha256")

    def text(self) -> str:
        return f"ChunkPut {_short(self.sha256)} {_size(len(self.data))}"


@wire
@dataclass(frozen=True, slots=True)
class ChunkPutAck:
    """The answer to ``ChunkPut``: ``ok`` once the chunk is fsynced, else ``error``."""

    transfer_id: int
    sha256: str
    ok: bool
    error: str

    def text(self) -> str:
        outcome = "ok" if self.ok else self.error[:40]
        return f"ChunkPutAck {_short(self.sha256)} {outcome}"


@wire
@dataclass(frozen=True, slots=True)
class ChunkGet:
    """Send me this chunk's bytes."""

    request_id: int
    sha256: str

    def text(self) -> str:
        return f"ChunkGet {_short(self.sha256)}"


@wire
@dataclass(frozen=True, slots=True)
class ChunkData:
    """The answer to ``ChunkGet``: the verified bytes, or empty with ``error``
    ("missing", "corrupt", "busy")."""

    request_id: int
    sha256: str
    data: bytes | bytearray
    error: str

    BULK: ClassVar[tuple[str, str]] = ("data", "sha256")

    def text(self) -> str:
        if self.error:
            return f"ChunkData {_short(self.sha256)} {self.error[:40]}"
        return f"ChunkData {_short(self.sha256)} {_size(len(self.data))}"


@wire
@dataclass(frozen=True, slots=True)
class ChunkHave:
    """The sender now holds these chunks (verified, fsynced)."""

    sha256s: list[str]

    def text(self) -> str:
        if len(self.sha256s) == 1:
            return f"ChunkHave {_short(self.sha256s[0])}"
        return f"ChunkHave {len(self.sha256s)} chunks"
