"""Reading one authenticated frame from an asyncio stream.

The codec (cluster/schema/codec.py) defines the frame; this is the order in
which a stream reader must apply it: take exactly the 36-byte header, refuse
an oversize length *before* reading the body, read the body, check the tag.
"""

from __future__ import annotations

import asyncio

from cluster.schema.codec import HEADER_BYTES, MAX_FRAME_BYTES, FrameError, check_tag, parse_header


async def read_frame(
    reader: asyncio.StreamReader, secret: bytes, max_frame_bytes: int = MAX_FRAME_BYTES
) -> bytes | None:
    """The next frame's body, or None at a clean end of stream.

    Raises ``FrameError`` for a refused frame, including ``truncated`` when the
    stream ends inside a frame.
    """
    try:
        header = await reader.readexactly(HEADER_BYTES)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise FrameError("truncated", f"header of {len(exc.partial)} bytes") from exc
    length, tag = parse_header(header, max_frame_bytes)
    try:
        body = await reader.readexactly(length)
    except asyncio.IncompleteReadError as exc:
        raise FrameError("truncated", f"body of {len(exc.partial)}/{length} bytes") from exc
    check_tag(secret, tag, body)
    return body
