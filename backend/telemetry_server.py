"""The hub's TCP side: one connection per node, events in, commands out.

Every node opens one connection to this loopback port and sends authenticated
telemetry batches on it (docs/telemetry.md). The same connection carries
control commands the other way, so the hub never needs to know a node's
address, and a command reaches exactly the process that is running now.

Plain blocking sockets and one thread per connection: at most a few dozen
nodes, each sending a frame every few tens of milliseconds, is well within
what threads do simply and readably. A connection that sends anything that
is not an authentic, well-formed batch is counted and closed; the node
reconnects, and the hub keeps serving everyone else.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from cluster.config import MAX_NODES
from cluster.schema.codec import FrameDecoder, FrameError, encode_frame
from cluster.schema.registry import DecodeError
from cluster.schema.telemetry import WireBatch, decode_wire_batch

log = logging.getLogger(__name__)

# Each node holds one connection, and a restarted node's new connection can
# overlap its old one for a moment; beyond that, a caller is not one of ours.
MAX_CONNECTIONS = 2 * MAX_NODES
RECV_BYTES = 256 * 1024  # one read takes several batches at the benchmark's rate
ACCEPT_POLL_S = 0.2  # how quickly stop() is noticed by the accept loop
LISTEN_BACKLOG = MAX_NODES

BatchHandler = Callable[[WireBatch], None]
# (node, the batch's frame body as received, how many events it holds)
RawBatchHandler = Callable[[str, bytes, int], None]
NodeHandler = Callable[[str], None]


@dataclass(eq=False)
class _Connection:
    sock: socket.socket
    node: str | None = None
    send_lock: threading.Lock = field(default_factory=threading.Lock)


class TelemetryServer:
    """Accepts node connections; calls ``on_batch(batch)`` with each decoded batch
    (``decode_wire_batch``: traffic as rows, the rest as events and dicts).

    ``on_connect(node)`` runs when a connection names its node (first batch),
    ``on_disconnect(node)`` when the node's current connection closes.
    ``on_raw(node, body, count)``, if given, gets each valid batch's encoded
    body just before ``on_batch``: the history keeps these compact bytes
    (backend/history.py) rather than the decoded events, ten times larger.
    """

    def __init__(
        self,
        secret: bytes,
        on_batch: BatchHandler,
        on_disconnect: NodeHandler,
        host: str = "127.0.0.1",
        on_connect: NodeHandler | None = None,
        on_raw: RawBatchHandler | None = None,
    ) -> None:
        self._secret = secret
        self._on_batch = on_batch
        self._on_raw = on_raw
        self._on_disconnect = on_disconnect
        self._on_connect = on_connect
        self._host = host
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()
        self._connections: set[_Connection] = set()
        self._by_node: dict[str, _Connection] = {}
        self._stopping = threading.Event()
        self._accept_thread: threading.Thread | None = None
        self.bad_frames = 0  # connections closed for bad data, for tests and logs
        self.refused_connections = 0

    def start(self) -> int:
        """Listen on an ephemeral port; return it."""
        listener = socket.create_server((self._host, 0), backlog=LISTEN_BACKLOG)
        listener.settimeout(ACCEPT_POLL_S)
        self._listener = listener
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name="hub-accept", daemon=True
        )
        self._accept_thread.start()
        port: int = listener.getsockname()[1]
        return port

    @property
    def port(self) -> int:
        if self._listener is None:
            raise RuntimeError("the telemetry server is not started")
        port: int = self._listener.getsockname()[1]
        return port

    def connected_nodes(self) -> list[str]:
        with self._lock:
            return sorted(self._by_node)

    def send(self, node_id: str, body: bytes) -> bool:
        """Send one framed body to a node; False if it is not connected."""
        with self._lock:
            conn = self._by_node.get(node_id)
        if conn is None:
            return False
        frame = encode_frame(self._secret, body)
        try:
            with conn.send_lock:  # frames from two threads must not interleave
                conn.sock.sendall(frame)
        except OSError:
            return False
        return True

    def stop(self) -> None:
        self._stopping.set()
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            _shutdown(conn.sock)  # wakes its reader thread, which then cleans up
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=2 * ACCEPT_POLL_S + 1)

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # listener closed by stop()
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Connection(sock)
            with self._lock:
                if len(self._connections) >= MAX_CONNECTIONS:
                    self.refused_connections += 1
                    sock.close()
                    continue
                self._connections.add(conn)
            threading.Thread(
                target=self._serve, args=(conn,), name="hub-conn", daemon=True
            ).start()

    def _serve(self, conn: _Connection) -> None:
        decoder = FrameDecoder(self._secret)
        try:
            while True:
                data = conn.sock.recv(RECV_BYTES)
                if not data:
                    return
                for body in decoder.feed(data):
                    batch = decode_wire_batch(body)
                    node = batch.node
                    if conn.node is None:
                        self._register(conn, node)
                    elif node != conn.node:
                        raise DecodeError(f"batch from {node!r} on {conn.node!r}'s connection")
                    if self._on_raw is not None:
                        self._on_raw(node, body, len(batch.wire))
                    self._on_batch(batch)
        except (FrameError, DecodeError) as exc:
            with self._lock:
                self.bad_frames += 1
            log.warning("hub: closing telemetry connection of %s: %s", conn.node or "?", exc)
        except OSError:
            pass  # reset by the peer or shut down by stop()
        finally:
            self._forget(conn)

    def _register(self, conn: _Connection, node: str) -> None:
        conn.node = node
        with self._lock:
            # a restarted node's new connection replaces the old one
            self._by_node[node] = conn
        if self._on_connect is not None:
            self._on_connect(node)

    def _forget(self, conn: _Connection) -> None:
        with self._lock:
            self._connections.discard(conn)
            was_current = conn.node is not None and self._by_node.get(conn.node) is conn
            if was_current:
                assert conn.node is not None
                del self._by_node[conn.node]
        _shutdown(conn.sock)
        conn.sock.close()
        if was_current and conn.node is not None:
            self._on_disconnect(conn.node)


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)
