"""A file's metadata and the cluster's placement settings, as values with one byte form.

Both live in the Raft state machine (cluster/core/kv.py, namespace
``files``), so every node agrees on which files exist, what their bytes
hash to and where each chunk's replicas are. They are stored packed
(msgpack arrays, the ``pack`` / ``unpack`` below) because the state machine
compares them as bytes: ``fcas`` replaces a file's metadata only if it still
holds exactly the bytes the caller read, which is how a repair that raced
with a delete or another repair loses instead of overwriting.

Validation happens when a value is built, so a ``FileMeta`` that exists is
consistent: the chunk sizes add up to the file size, every chunk but the
last is exactly ``chunk_bytes`` long, hashes are lower-case hex of the right
length, the name is allowed (names.py). Bytes from the log or the network
go through ``unpack``, which turns anything malformed into ``ValueError``.

``version`` is the Raft log index of the entry that last changed the
metadata; the state machine assigns it (every node the same), so it grows
with every change, a re-upload under the same name included.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from cluster.core.files.names import check_name
from cluster.core.placement.consistent import DEFAULT_VNODES, MAX_VNODES
from cluster.schema.codec import pack, unpack
from cluster.schema.raft import valid_node_id

# The placement settings live in the files namespace under a key no file can
# have: '/' is forbidden in file names.
PLACEMENT_KEY = "/placement"
STRATEGIES = ("consistent", "rendezvous", "modulo")
HASHES = ("sha256", "md5", "sha1", "modhash")

MIN_CHUNK_BYTES = 64 * 1024  # below this, per-chunk overhead (a frame, an fsync) dominates
MAX_CHUNK_BYTES = 4 * 1024 * 1024  # a chunk and its envelope must fit one 8 MiB frame
DEFAULT_CHUNK_BYTES = 1024 * 1024
# A file's metadata is one Raft entry and one key-value value (at most 1 MiB):
# a chunk takes about 80 bytes packed with 3 replicas, so 8192 chunks stay
# well under it (8 GiB at 1 MiB chunks).
MAX_FILE_CHUNKS = 8192
# Copies beyond this buy no durability a lab can show and cost that much disk.
MAX_RF = 16
DEFAULT_RF = 3
# During a repair a chunk lists its old and its new holders for a while.
MAX_REPLICAS_PER_CHUNK = 2 * MAX_RF

SHA256_HEX = re.compile(r"[0-9a-f]{64}")
MD5_HEX = re.compile(r"[0-9a-f]{32}")


def is_sha256_hex(text: object) -> bool:
    return isinstance(text, str) and SHA256_HEX.fullmatch(text) is not None


def chunk_count(size_bytes: int, chunk_bytes: int) -> int:
    """How many chunks a file of ``size_bytes`` splits into (the last may be short)."""
    return -(-size_bytes // chunk_bytes)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _need(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


@dataclass(frozen=True, slots=True)
class ChunkMeta:
    """One chunk: its content hash (also its name and placement key), size, holders."""

    sha256: str
    size_bytes: int
    replicas: list[str]

    def __post_init__(self) -> None:
        _need(is_sha256_hex(self.sha256), f"chunk hash {str(self.sha256)[:80]!r} is not sha256 hex")
        _need(
            _is_int(self.size_bytes) and 0 < self.size_bytes <= MAX_CHUNK_BYTES,
            f"chunk size must be 1..{MAX_CHUNK_BYTES} bytes, got {self.size_bytes!r}",
        )
        _need(isinstance(self.replicas, list), "chunk replicas must be a list of node ids")
        _need(
            len(self.replicas) <= MAX_REPLICAS_PER_CHUNK,
            f"a chunk lists at most {MAX_REPLICAS_PER_CHUNK} replicas",
        )
        _need(all(valid_node_id(r) for r in self.replicas), "chunk replicas must be node ids")
        _need(len(set(self.replicas)) == len(self.replicas), "chunk replicas must be distinct")

    def to_list(self) -> list[Any]:
        return [self.sha256, self.size_bytes, list(self.replicas)]

    def to_json(self, index: int) -> dict[str, Any]:
        return {
            "index": index,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "replicas": list(self.replicas),
        }


@dataclass(frozen=True, slots=True)
class FileMeta:
    """Everything the cluster knows about one file; ``chunks`` in file order."""

    name: str
    size_bytes: int
    chunk_bytes: int
    md5: str  # of the whole file, hex
    sha256: str  # of the whole file, hex
    version: int
    created_ms: int  # wall clock of the entry node when the upload was committed
    chunks: list[ChunkMeta]

    def __post_init__(self) -> None:
        check_name(self.name)
        _need(
            _is_int(self.chunk_bytes) and MIN_CHUNK_BYTES <= self.chunk_bytes <= MAX_CHUNK_BYTES,
            f"chunk_bytes must be {MIN_CHUNK_BYTES}..{MAX_CHUNK_BYTES}, got {self.chunk_bytes!r}",
        )
        _need(
            _is_int(self.size_bytes) and self.size_bytes > 0,
            f"a file has at least one byte, got size {self.size_bytes!r}",
        )
        _need(
            isinstance(self.md5, str) and MD5_HEX.fullmatch(self.md5) is not None,
            "md5 must be 32 lower-case hex digits",
        )
        _need(is_sha256_hex(self.sha256), "sha256 must be 64 lower-case hex digits")
        _need(_is_int(self.version) and self.version >= 0, "version must be an integer >= 0")
        _need(_is_int(self.created_ms) and self.created_ms >= 0, "created_ms must be >= 0")
        _need(isinstance(self.chunks, list), "chunks must be a list")
        expected = chunk_count(self.size_bytes, self.chunk_bytes)
        _need(
            expected <= MAX_FILE_CHUNKS,
            f"a file has at most {MAX_FILE_CHUNKS} chunks of {self.chunk_bytes} bytes",
        )
        _need(
            len(self.chunks) == expected,
            f"{self.size_bytes} bytes in chunks of {self.chunk_bytes} make {expected} chunks,"
            f" the metadata lists {len(self.chunks)}",
        )
        last = self.size_bytes - (expected - 1) * self.chunk_bytes
        for index, chunk in enumerate(self.chunks):
            _need(isinstance(chunk, ChunkMeta), "chunks must be ChunkMeta values")
            want = last if index == expected - 1 else self.chunk_bytes
            _need(
                chunk.size_bytes == want,
                f"chunk {index} must be {want} bytes, the metadata says {chunk.size_bytes}",
            )

    # -- byte form ------------------------------------------------------------

    def pack(self) -> bytes:
        return pack(
            [
                self.name,
                self.size_bytes,
                self.chunk_bytes,
                self.md5,
                self.sha256,
                self.version,
                self.created_ms,
                [c.to_list() for c in self.chunks],
            ]
        )

    @staticmethod
    def unpack(data: bytes) -> FileMeta:
        """The metadata in ``data``; ValueError if the bytes are not a valid one."""
        raw = unpack(data)
        if not isinstance(raw, list) or len(raw) != 8 or not isinstance(raw[7], list):
            raise ValueError("not file metadata: expected an array of 8 fields")
        name, size_bytes, chunk_bytes, md5, sha256, version, created_ms, chunks = raw
        parsed = []
        for item in chunks:
            if not isinstance(item, list) or len(item) != 3:
                raise ValueError("not file metadata: a chunk must be [sha256, size, replicas]")
            parsed.append(ChunkMeta(item[0], item[1], item[2]))
        return FileMeta(name, size_bytes, chunk_bytes, md5, sha256, version, created_ms, parsed)

    # -- changed copies ---------------------------------------------------------

    def with_version(self, version: int) -> FileMeta:
        return replace(self, version=version)

    def with_replicas(self, replicas_by_index: Mapping[int, list[str]]) -> FileMeta:
        """A copy where chunk ``i`` lists ``replicas_by_index[i]`` (others unchanged)."""
        chunks = list(self.chunks)
        for index, replicas in replicas_by_index.items():
            if not 0 <= index < len(chunks):
                raise ValueError(f"no chunk {index} in {self.name!r} ({len(chunks)} chunks)")
            chunks[index] = ChunkMeta(chunks[index].sha256, chunks[index].size_bytes, replicas)
        return replace(self, chunks=chunks)

    # -- JSON for HTTP ------------------------------------------------------------

    def to_json(self, with_chunks: bool = True) -> dict[str, Any]:
        """``GET /files/<name>`` (with chunks) or one row of ``GET /files`` (a count)."""
        return {
            "name": self.name,
            "size_bytes": self.size_bytes,
            "chunk_bytes": self.chunk_bytes,
            "md5": self.md5,
            "sha256": self.sha256,
            "version": self.version,
            "created_ms": self.created_ms,
            "chunks": (
                [c.to_json(i) for i, c in enumerate(self.chunks)]
                if with_chunks
                else len(self.chunks)
            ),
        }


@dataclass(frozen=True, slots=True)
class PlacementSettings:
    """How chunks are placed, the same for the whole cluster (changed through Raft).

    ``rf`` is what is asked for; with fewer members every member holds a copy.
    ``vnodes`` matters only for consistent hashing. ``version`` is the log
    index that last changed the settings (0: the configured defaults).
    """

    strategy: str = "consistent"
    hash: str = "sha256"
    rf: int = DEFAULT_RF
    vnodes: int = DEFAULT_VNODES
    version: int = 0

    def __post_init__(self) -> None:
        _need(
            self.strategy in STRATEGIES,
            f"strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}",
        )
        _need(self.hash in HASHES, f"hash must be one of {', '.join(HASHES)}, got {self.hash!r}")
        _need(
            _is_int(self.rf) and 1 <= self.rf <= MAX_RF,
            f"rf must be an integer between 1 and {MAX_RF}, got {self.rf!r}",
        )
        _need(
            _is_int(self.vnodes) and 1 <= self.vnodes <= MAX_VNODES,
            f"vnodes must be an integer between 1 and {MAX_VNODES}, got {self.vnodes!r}",
        )
        _need(_is_int(self.version) and self.version >= 0, "version must be an integer >= 0")

    def pack(self) -> bytes:
        return pack([self.strategy, self.hash, self.rf, self.vnodes, self.version])

    @staticmethod
    def unpack(data: bytes) -> PlacementSettings:
        raw = unpack(data)
        if not isinstance(raw, list) or len(raw) != 5:
            raise ValueError("not placement settings: expected an array of 5 fields")
        return PlacementSettings(*raw)

    def with_version(self, version: int) -> PlacementSettings:
        return replace(self, version=version)

    def updated(self, changes: Mapping[str, object]) -> PlacementSettings:
        """These settings with some of strategy, hash, rf, vnodes changed (from a
        request body); ValueError names an unknown field or a bad value."""
        allowed = ("strategy", "hash", "rf", "vnodes")
        unknown = sorted(set(changes) - set(allowed))
        if unknown:
            raise ValueError(f"unknown setting {unknown[0]!r}; known: {', '.join(allowed)}")
        fields: dict[str, Any] = dict(changes)
        return replace(self, **fields)

    def to_json(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "hash": self.hash,
            "rf": self.rf,
            "vnodes": self.vnodes,
            "version": self.version,
        }
