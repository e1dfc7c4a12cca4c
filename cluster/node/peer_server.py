"""The TCP server on a node's peer port: receives the frames neighbours send.

Every connection must open with ``Hello(node, run_id)``: a stray process, a
node of an older run or a port scanner is refused before any message of it
reaches the node. Remote bytes are untrusted: any frame that is oversize,
truncated, badly tagged or undecodable is counted, reported as ``BadFrame``
and closes that connection. The node itself never stops because of it; an
honest peer simply reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from cluster.config import MAX_NODES
from cluster.node.framing import read_frame
from cluster.schema.codec import HEADER_BYTES, FrameError
from cluster.schema.messages import Envelope, Hello, decode_envelope
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
        self._connections: set[asyncio.StreamWriter] = set()
        self._by_peer: dict[str, asyncio.StreamWriter] = {}

    async def start(self, host: str, port: int) -> None:
        # reuse_address: a restarted node takes back its port while the old
        # connections linger in TIME_WAIT.
        self._server = await asyncio.start_server(self._handle, host, port, reuse_address=True)

    def disconnect(self, peer: str) -> None:
        """Close the stream ``peer`` opened to us: it is no longer a neighbour.

        Its reconnection attempts are then refused (``unknown_peer``) for as
        long as ``peer`` is missing from the known set the node keeps.
        """
        writer = self._by_peer.pop(peer, None)
        if writer is not None:
            writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._connections):
            writer.close()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), timeout=1.0)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._connections) >= MAX_INCOMING_CONNECTIONS:
            self._listener.on_bad_frame(_address(writer), "too_many_connections")
            writer.close()
            return
        self._connections.add(writer)
        who = _address(writer)
        try:
            who = await self._handshake(reader, writer)
            while True:
                body = await read_frame(reader, self._secret)
                if body is None:
                    return
                self._listener.on_envelope(decode_envelope(body), who, HEADER_BYTES + len(body))
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
            self._connections.discard(writer)
            if self._by_peer.get(who) is writer:
                del self._by_peer[who]
            writer.close()

    async def _handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
        body = await asyncio.wait_for(read_frame(reader, self._secret), timeout=HELLO_TIMEOUT_S)
        if body is None:
            raise Refused("no_hello")
        hello = decode_envelope(body).body
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
        self._by_peer[hello.node] = writer
        return hello.node


def _address(writer: asyncio.StreamWriter) -> str:
    peername = writer.get_extra_info("peername")
    if isinstance(peername, tuple) and len(peername) >= 2:
        return f"{peername[0]}:{peername[1]}"
    return "unknown"
