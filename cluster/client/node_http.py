"""Kept-alive HTTP/1.1 connections to the nodes' client ports, built for bulk bytes.

File chunks are a megabyte each and a file may have thousands of them, so
the client talks to nodes the way a benchmark would: one TCP connection per
node kept open across requests (a new connection per chunk would cost more
than the chunk), bodies sent from the caller's buffer without copying it, and
chunk bodies read straight into a buffer the caller owns and reuses
(``get_into``), so a download allocates a few buffers, not one per chunk.

``http.client`` rather than ``requests``: requests reads a body in 10 KiB
pieces and joins them, a second copy of every byte that the download path
cannot afford, and it cannot read into a caller's buffer.

A ``NodeConnections`` belongs to one thread (``http.client`` connections are
not thread-safe); a thread pool keeps one per worker.

Every failure to get an answer is a ``NodeUnreachable`` that says whether the
request may have reached the node (``maybe_sent``): a request that never left
can go to another node, one that was sent and lost its answer has an unknown
outcome.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# A node on loopback accepts in microseconds; a connect that hangs means the
# node is gone (or the host is), and the next replica should be tried soon.
CONNECT_TIMEOUT_S = 2.0
# Waiting for an answer: a chunk is served in milliseconds, but a node may be
# slowed down for a lesson (time scale) or be replicating a full window.
DEFAULT_READ_TIMEOUT_S = 30.0
# JSON answers are metadata: a 64 GiB file's chunk list is about 10 MB.
MAX_JSON_BODY_BYTES = 64 * 1024 * 1024
# Kept-alive connections per thread; a cluster has at most 50 nodes.
MAX_CONNECTIONS = 64

_LOST = (
    http.client.HTTPException,  # RemoteDisconnected, BadStatusLine, IncompleteRead...
    ConnectionError,
    TimeoutError,
    OSError,
)


class NodeUnreachable(Exception):
    """No answer from ``addr``; ``maybe_sent`` is False when the node cannot have seen it."""

    def __init__(self, addr: str, reason: str, maybe_sent: bool) -> None:
        super().__init__(f"{addr}: {reason}")
        self.addr = addr
        self.reason = reason
        self.maybe_sent = maybe_sent


@dataclass(frozen=True, slots=True)
class NodeReply:
    status: int
    body: bytes
    content_type: str

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def error(self) -> str:
        """The node's one-sentence reason (its ``{"error": ...}``), or the status."""
        answer = self.json()
        if isinstance(answer, dict) and isinstance(answer.get("error"), str):
            return str(answer["error"])
        return f"HTTP {self.status}"


def _split(addr: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"a node address is host:port, got {addr!r}")
    return host.strip("[]"), int(port)


class NodeConnections:
    """One kept-alive connection per node address, for the thread that owns this object."""

    def __init__(self, read_timeout_s: float = DEFAULT_READ_TIMEOUT_S) -> None:
        self.read_timeout_s = read_timeout_s
        self._open: dict[str, http.client.HTTPConnection] = {}

    def close(self) -> None:
        for conn in self._open.values():
            conn.close()
        self._open.clear()

    def abort(self) -> None:
        """From ANOTHER thread: wake this owner's blocked reads (they fail) so it can end.

        Closing a socket does not wake a thread blocked reading it; shutting
        it down does. The owner then drops the broken connections itself.
        """
        for conn in list(self._open.values()):
            sock = conn.sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def drop(self, addr: str) -> None:
        """Close the connection to ``addr`` (its state is unknown after an error)."""
        conn = self._open.pop(addr, None)
        if conn is not None:
            conn.close()

    def request(
        self,
        addr: str,
        method: str,
        path: str,
        body: bytes | memoryview | None = None,
        *,
        json_body: Any = None,
        read_timeout_s: float | None = None,
    ) -> NodeReply:
        """Send one request and read the whole answer (metadata, never chunk bodies)."""
        headers: dict[str, str] = {}
        if json_body is not None:
            body = json.dumps(json_body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        elif body is not None:
            headers["Content-Type"] = "application/octet-stream"
        response = self._exchange(addr, method, path, body, headers, read_timeout_s)
        try:
            length = response.getheader("Content-Length")
            if length is not None and int(length) > MAX_JSON_BODY_BYTES:
                self.drop(addr)
                raise NodeUnreachable(addr, f"answer of {length} bytes is over the limit", True)
            data = response.read()
        except _LOST as exc:
            self.drop(addr)
            raise NodeUnreachable(addr, _reason(exc), True) from None
        return NodeReply(response.status, data, response.getheader("Content-Type") or "")

    def get_into(
        self, addr: str, path: str, buffer: memoryview, read_timeout_s: float | None = None
    ) -> NodeReply | int:
        """GET a binary body straight into ``buffer``: its length, or the reply if not 200.

        A 200 whose length is not exactly ``len(buffer)`` is a bad answer: it
        comes back as a NodeReply with status 200 and the length in the body
        text, and the connection is dropped (its rest is unread).
        """
        response = self._exchange(addr, "GET", path, None, {}, read_timeout_s)
        try:
            if response.status != 200:
                return NodeReply(
                    response.status, response.read(), response.getheader("Content-Type") or ""
                )
            length = int(response.getheader("Content-Length") or -1)
            if length != len(buffer):
                self.drop(addr)
                return NodeReply(200, f"{length} bytes, expected {len(buffer)}".encode(), "")
            got = 0
            while got < length:
                n = response.readinto(buffer[got:])
                if not n:
                    raise http.client.IncompleteRead(b"", length - got)
                got += n
        except _LOST as exc:
            self.drop(addr)
            raise NodeUnreachable(addr, _reason(exc), True) from None
        return got

    def _exchange(
        self,
        addr: str,
        method: str,
        path: str,
        body: bytes | memoryview | None,
        headers: Mapping[str, str],
        read_timeout_s: float | None,
    ) -> http.client.HTTPResponse:
        """Send the request; retry a GET once on a fresh connection if a kept one went stale."""
        for attempt in (1, 2):
            reused = addr in self._open
            conn = self._connection(addr)
            try:
                conn.sock.settimeout(read_timeout_s or self.read_timeout_s)
                conn.request(method, path, body=body, headers=dict(headers))
                return conn.getresponse()
            except _LOST as exc:
                self.drop(addr)
                # The node closes connections idle for 30 s; a request on such a
                # connection fails before the node read it. Only a GET is retried:
                # a node killed while handling a write fails the same way.
                stale = (
                    reused
                    and method == "GET"
                    and isinstance(
                        exc, http.client.RemoteDisconnected | BrokenPipeError | ConnectionResetError
                    )
                )
                if stale and attempt == 1:
                    continue
                raise NodeUnreachable(addr, _reason(exc), maybe_sent=True) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _connection(self, addr: str) -> http.client.HTTPConnection:
        conn = self._open.get(addr)
        if conn is not None and conn.sock is not None:
            return conn
        self.drop(addr)  # closed by a "Connection: close" answer: open a new one
        host, port = _split(addr)
        conn = http.client.HTTPConnection(host, port, timeout=CONNECT_TIMEOUT_S)
        try:
            conn.connect()  # also sets TCP_NODELAY: no Nagle delay on small requests
        except (OSError, TimeoutError) as exc:
            conn.close()
            raise NodeUnreachable(addr, _reason(exc), maybe_sent=False) from None
        while len(self._open) >= MAX_CONNECTIONS:
            self.drop(next(iter(self._open)))
        self._open[addr] = conn
        return conn


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "refused the connection (down or restarting?)"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "did not answer in time (paused or overloaded?)"
    if isinstance(exc, http.client.RemoteDisconnected | ConnectionResetError | BrokenPipeError):
        return "closed the connection before answering (killed?)"
    if isinstance(exc, http.client.IncompleteRead):
        return "closed the connection in the middle of an answer (killed?)"
    return f"{type(exc).__name__}: {exc}"
