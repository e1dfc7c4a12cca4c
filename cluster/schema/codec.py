"""Framing and authentication of every byte stream between our processes.

A frame is::

    +----------------+------------------------------+-----------------+
    | length: 4 B BE | tag: HMAC-SHA256(secret, body) | body: length B  |
    +----------------+------------------------------+-----------------+

The length counts the body only. A reader first takes the 36-byte header,
refuses a length above the limit *before* reading the body (so a hostile
length cannot make us allocate gigabytes), then checks the tag in constant
time. Any failure raises ``FrameError`` and the caller closes the connection.

Bodies are msgpack: binary-safe (file chunks travel as raw bytes, with no
base64 inflation), compact, and several times faster than ``json`` in CPython
for the small arrays that Raft and telemetry send.

Bulk frames carry file chunks between nodes. An HMAC over a megabyte, on
top of the SHA-256 every receiver of a chunk must compute anyway to check its
content address, would hash every byte twice per hop. So a bulk frame
authenticates only a small head, and the head carries the payload's SHA-256::

    +------------------+--------+--------------+-------------+------+---------+
    | word: 4 B BE     | tag:   | head_len:    | digest:     | head | payload |
    | 0x40000000 | len | 32 B   | 4 B BE       | SHA-256, 32 |      |         |
    +------------------+--------+--------------+-------------+------+---------+

``len`` (the word's low 30 bits) counts everything after the tag. The tag is
HMAC-SHA256 over ``word ‖ head_len ‖ digest ‖ head`` with a key derived from
the secret (so no tag of one kind of frame is ever valid for the other), and
it covers the length: nobody without the secret can change the head, the
digest or the payload's size. The receiver checks the tag before it reads
the payload, then checks the payload's SHA-256 against the digest: a
payload altered in any way is refused (``bad_digest``) exactly as a bad tag
is, unless someone finds a second preimage for SHA-256, the same hash that
names every chunk in the store. One hash pass, as strong as the HMAC was.
A reader that only knows plain frames sees a bulk word as a length over
2^30 and refuses it as ``oversize``.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import struct
from dataclasses import dataclass
from typing import Any

import msgpack

from cluster.schema.registry import DecodeError

HEADER = struct.Struct(">I32s")
HEADER_BYTES = HEADER.size  # 36
TAG_BYTES = 32

# 1 MiB file chunks plus their envelope must fit; anything far above is an
# attack or a bug. Configurable per reader for tests.
MAX_FRAME_BYTES = 8 * 1024 * 1024

# Bit 30 of the length word marks a bulk frame; bit 31 is never set by us, so a
# word with it is a hostile or garbled length (oversize for every reader).
BULK_FLAG = 1 << 30
LENGTH_MASK = BULK_FLAG - 1
BULK_PREFIX = struct.Struct(">I32s")  # head_len, digest (SHA-256 of the payload)
BULK_PREFIX_BYTES = BULK_PREFIX.size  # 36
DIGEST_BYTES = 32
# A bulk head is an envelope without its payload: names, numbers, a 64-digit
# hash. Far below this; a larger one is refused before it is buffered.
MAX_BULK_HEAD_BYTES = 4096
_BULK_KEY_LABEL = b"clusterlab bulk frame key"


class FrameError(ValueError):
    """A frame that must be dropped; ``reason`` is a short counter name."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def make_tag(secret: bytes, body: bytes | bytearray) -> bytes:
    return hmac.digest(secret, body, "sha256")


def encode_frame(secret: bytes, body: bytes) -> bytes:
    return HEADER.pack(len(body), make_tag(secret, body)) + body


def parse_header(header: bytes, max_frame_bytes: int = MAX_FRAME_BYTES) -> tuple[int, bytes]:
    """Return (body length, tag); refuse oversize frames before their body is read."""
    if len(header) != HEADER_BYTES:
        raise FrameError("truncated", f"header of {len(header)} bytes")
    length, tag = HEADER.unpack(header)
    if length > max_frame_bytes:
        raise FrameError("oversize", f"{length} > {max_frame_bytes} bytes")
    return length, tag


def check_tag(secret: bytes, tag: bytes, body: bytes | bytearray) -> None:
    if not hmac.compare_digest(tag, make_tag(secret, body)):
        raise FrameError("bad_tag")


# -- bulk frames -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BulkFrame:
    """A bulk frame ready to write, in two pieces so the payload is never copied.

    ``prefix`` is everything up to the payload (header, head length, digest,
    head); ``payload`` is the caller's own buffer.
    """

    prefix: bytes
    payload: bytes | bytearray | memoryview

    def __len__(self) -> int:
        return len(self.prefix) + len(self.payload)


# What a node queues on a link: a plain frame as one piece, or a bulk frame.
Frame = bytes | BulkFrame


@functools.lru_cache(maxsize=4)
def bulk_key(secret: bytes) -> bytes:
    """The key of bulk tags: derived from the secret, distinct from it."""
    return hmac.digest(secret, _BULK_KEY_LABEL, "sha256")


def split_word(word: int, max_frame_bytes: int = MAX_FRAME_BYTES) -> tuple[int, bool]:
    """(length, is bulk) from a header's length word; oversize refused here."""
    bulk = word >> 30 == 1
    length = word & LENGTH_MASK if bulk else word
    if length > max_frame_bytes:
        raise FrameError("oversize", f"{length} > {max_frame_bytes} bytes")
    return length, bulk


def bulk_auth_bytes(word: int, head_len: int, digest: bytes, head: bytes) -> bytes:
    """What a bulk tag covers: the length word, head length, digest and head."""
    return struct.pack(">I", word) + BULK_PREFIX.pack(head_len, digest) + head


def encode_bulk_frame(
    secret: bytes, head: bytes, payload: bytes | bytearray | memoryview, digest: bytes
) -> BulkFrame:
    """A bulk frame for ``payload``; ``digest`` must be its SHA-256 (the caller
    knows it: it is the chunk's name), or every receiver refuses the frame."""
    if len(digest) != DIGEST_BYTES:
        raise ValueError(f"a digest is {DIGEST_BYTES} bytes, got {len(digest)}")
    if len(head) > MAX_BULK_HEAD_BYTES:
        raise ValueError(f"a bulk head is at most {MAX_BULK_HEAD_BYTES} bytes, got {len(head)}")
    length = BULK_PREFIX_BYTES + len(head) + len(payload)
    if length > LENGTH_MASK:
        raise ValueError(f"a bulk frame of {length} bytes cannot be framed")
    word = BULK_FLAG | length
    tag = make_tag(bulk_key(secret), bulk_auth_bytes(word, len(head), digest, head))
    prefix = HEADER.pack(word, tag) + BULK_PREFIX.pack(len(head), digest) + head
    return BulkFrame(prefix, payload)


def parse_bulk_prefix(prefix: bytes | bytearray | memoryview, length: int) -> tuple[int, bytes]:
    """(head length, digest) from the 36 bytes after a bulk header; FrameError if
    the head could not fit the frame or exceeds its limit."""
    head_len, digest = BULK_PREFIX.unpack(prefix)
    if head_len > MAX_BULK_HEAD_BYTES:
        raise FrameError("oversize", f"bulk head of {head_len} bytes")
    if BULK_PREFIX_BYTES + head_len > length:
        raise FrameError("undecodable", f"bulk head of {head_len} bytes in {length}")
    return head_len, digest


def check_bulk_tag(
    secret: bytes, tag: bytes, word: int, head_len: int, digest: bytes, head: bytes
) -> None:
    expected = make_tag(bulk_key(secret), bulk_auth_bytes(word, head_len, digest, head))
    if not hmac.compare_digest(tag, expected):
        raise FrameError("bad_tag")


def check_digest(digest: bytes, payload: bytes | bytearray | memoryview) -> None:
    """Refuse a payload whose SHA-256 is not the authenticated ``digest``."""
    if not hmac.compare_digest(digest, hashlib.sha256(payload).digest()):
        raise FrameError("bad_digest")


def pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def unpack(body: bytes | bytearray) -> Any:
    """Decode a msgpack body; any malformation becomes ``FrameError('undecodable')``."""
    try:
        return msgpack.unpackb(body, raw=False, strict_map_key=True, use_list=True)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise FrameError("undecodable", str(exc)[:80]) from exc
    except DecodeError as exc:  # pragma: no cover - msgpack does not raise it
        raise FrameError("undecodable", str(exc)) from exc


class FrameDecoder:
    """Incremental decoder for byte streams read in arbitrary pieces.

    Used where a blocking socket or a test feeds bytes; the asyncio shell reads
    headers and bodies with ``readexactly`` and the two helpers above instead.
    """

    def __init__(self, secret: bytes, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self._secret = secret
        self._max = max_frame_bytes
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """Add bytes, return the bodies of every complete, authentic frame."""
        self._buffer += data
        bodies: list[bytes] = []
        while len(self._buffer) >= HEADER_BYTES:
            length, tag = parse_header(bytes(self._buffer[:HEADER_BYTES]), self._max)
            end = HEADER_BYTES + length
            if len(self._buffer) < end:
                break
            body = bytes(self._buffer[HEADER_BYTES:end])
            check_tag(self._secret, tag, body)
            bodies.append(body)
            del self._buffer[:end]
        return bodies

    def pending_bytes(self) -> int:
        """Bytes of an incomplete frame; non-zero at end of stream means truncation."""
        return len(self._buffer)
