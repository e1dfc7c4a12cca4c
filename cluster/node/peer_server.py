"""The TCP server on a node's peer port: receives the frames neighbours send.

Every connection must open with ``Hello(node, run_id)``: a stray process, a
node of an older run or a port scanner is refused before any message of it
reaches the node. Remote bytes are untrusted: any frame that is oversize,
truncated, badly tagged, with a payload that does not match its digest, or
undecodable is counted, reported as ``BadFrame`` and closes that connection.
The node itself never stops because of it; an honest peer simply reconnects.

Each connection is read by a ``FrameReader`` (frame_reader.py), which
receives file chunks in place and checks their SHA-256 as they arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from cluster.config import MAX_NODES
from cluster.node.frame_reader import FrameReader, Received
from cluster.schema.codec import FrameError
from cluster.schema.messages import Envelope, Hello, decode_bulk_envelope, decode_envelope
from cluster.schema.registry import DecodeError

log = logging.getLogger(__name__)

# A caller that connects and stays silent holds a socket; this is how long.
HELLO_TIMEOUT_S = 5.0
# Two per neighbour covers a reconnect overlapping the old connection's close;
# the rest bounds what a misbehaving local process can hold open.
MAX_INCOMING_CONNECTIONS = 4 * MAX_NODES


class PeerListener(Protocol):
    """What the server reports to its node."""

    def on_envelope(self, env: Envelope, frm: str, size_bytes: int) -> None: ...

    def on_bad_frame(self, peer: str, reason: str) -> None: ...


class Refused(Exception):
    """The caller is not a peer of this run; ``reason`` names the counter."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PeerServer:
    def __init__(
        self, run_id: str, secret: bytes, known_peers: set[str], listener: PeerListener
    ) -> None:
        self._run_id = run_id
        self._secret = secret
        self._known_peers = known_peers  # the node's own set: it changes with the topology
        self._listener = listener
        self._server: asyncio.Server | None = None
        self._connections: set[FrameReader] = set()
        self._by_peer: dict[str, FrameReader] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> None:
        # reuse_address: a restarted node takes back its port while the old
        # connections linger in TIME_WAIT.
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._new_connection, host, port, reuse_address=True
        )

    def disconnect(self, peer: str) -> None:
        """Close the stream ``peer`` opened to us: it is no longer a neighbour.

        Its reconnection attempts are then refused (``unknown_peer``) for as
        long as ``peer`` is missing from the known set the node keeps.
        """
        reader = self._by_peer.pop(peer, None)
        if reader is not None:
            reader.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for reader in list(self._connections):
            reader.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), timeout=1.0)

    def _new_connection(self) -> FrameReader:
        return FrameReader(self._secret, on_connected=self._accepted)

    def _accepted(self, reader: FrameReader) -> None:
        """A connection is up: serve it in its own task."""
        task = asyncio.get_running_loop().create_task(self._handle(reader))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, reader: FrameReader) -> None:
        if len(self._connections) >= MAX_INCOMING_CONNECTIONS:
            self._listener.on_bad_frame(reader.peername(), "too_many_connections")
            reader.close()
            return
        self._connections.add(reader)
        who = reader.peername()
        try:
            who = await self._handshake(reader)
            while True:
                frame = await reader.read()
                if frame is None:
                    return
                self._listener.on_envelope(_decode(frame), who, frame.size_bytes)
        except FrameError as exc:
            self._listener.on_bad_frame(who, exc.reason)
        except DecodeError:
            self._listener.on_bad_frame(who, "invalid_value")
        except Refused as exc:
            self._listener.on_bad_frame(who, exc.reason)
        except TimeoutError:
            self._listener.on_bad_frame(who, "hello_timeout")
        except (OSError, ConnectionError):
            pass  # the peer went away; its own link reconnects
        finally:
            self._connections.discard(reader)
            if self._by_peer.get(who) is reader:
                del self._by_peer[who]
            reader.close()

    async def _handshake(self, reader: FrameReader) -> str:
        frame = await asyncio.wait_for(reader.read(), timeout=HELLO_TIMEOUT_S)
        if frame is None:
            raise Refused("no_hello")
        hello = _decode(frame).body
        if not isinstance(hello, Hello):
            raise Refused("no_hello")
        if hello.run_id != self._run_id:
            raise Refused("wrong_run")
        if hello.node not in self._known_peers:
            raise Refused("unknown_peer")
        # A reconnecting peer replaces its old stream, which may be half dead.
        old = self._by_peer.get(hello.node)
        if old is not None:
            old.close()
        self._by_peer[hello.node] = reader
        return hello.node


def _decode(frame: Received) -> Envelope:
    if frame.payload is None:
        return decode_envelope(frame.body)
    return decode_bulk_envelope(bytes(frame.body), frame.payload, frame.digest)
