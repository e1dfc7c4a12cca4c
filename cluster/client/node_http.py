"""Kept-alive HTTP/1.1 connections to the nodes' client ports, built for bulk bytes.

File chunks are a megabyte each and a file may have thousands of them, so
the client talks to nodes the way a benchmark would: one TCP connection per
node kept open across requests (a new connection per chunk would cost more
than the chunk), bodies sent from the caller's buffer without copying it, and
chunk bodies read straight into a buffer the caller owns and reuses
(``get_into``), so a download allocates a few buffers, not one per chunk.

``http.client`` rather than ``requests`` for JSON requests and uploads:
requests reads a body in 10 KiB pieces and joins them, a second copy of
every byte, and it cannot read into a caller's buffer. The chunk GET goes
further and speaks HTTP on a plain socket: the request is always the same
line, the node's answer always has a ``Content-Length``, and so the body is
read with ``recv_into`` straight into the caller's buffer, without
http.client's header parser (the email package) and buffered reader on
every chunk.

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
# The head of a chunk answer: a status line and four headers, about 120 bytes;
# the node's own limit on a head is the same 16 KiB.
CHUNK_HEAD_BYTES = 16 * 1024
# A refusal (404, 409) is one JSON sentence; a longer body is not read.
MAX_ERROR_BODY_BYTES = 64 * 1024

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
        self._raw: dict[str, socket.socket] = {}  # chunk GETs (get_into)
        self._head = bytearray(CHUNK_HEAD_BYTES)

    def close(self) -> None:
        for conn in self._open.values():
            conn.close()
        self._open.clear()
        for sock in self._raw.values():
            sock.close()
        self._raw.clear()

    def abort(self) -> None:
        """From ANOTHER thread: wake this owner's blocked reads (they fail) so it can end.

        Closing a socket does not wake a thread blocked reading it; shutting
        it down does. The owner then drops the broken connections itself.
        """
        socks = [conn.sock for conn in list(self._open.values())] + list(self._raw.values())
        for sock in socks:
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def drop(self, addr: str) -> None:
        """Close the connection to ``addr`` (its state is unknown after an error)."""
        conn = self._open.pop(addr, None)
        if conn is not None:
            conn.close()
        sock = self._raw.pop(addr, None)
        if sock is not None:
            sock.close()

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
        request = f"GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n".encode("latin-1")
        for attempt in (1, 2):
            reused = addr in self._raw
            sock = self._raw_socket(addr)
            try:
                sock.settimeout(read_timeout_s or self.read_timeout_s)
                sock.sendall(request)
                status, headers, body_start, head_end = _read_head(sock, self._head)
                break
            except _LOST as exc:
                self.drop(addr)
                # As in _exchange: a kept connection the node closed while idle
                # fails before any answer; a GET is safe to send once more.
                stale = reused and isinstance(
                    exc, http.client.RemoteDisconnected | BrokenPipeError | ConnectionResetError
                )
                if stale and attempt == 1:
                    continue
                raise NodeUnreachable(addr, _reason(exc), maybe_sent=True) from None
        else:  # pragma: no cover - the loop always breaks or raises
            raise AssertionError("unreachable")
        try:
            length_text = headers.get("content-length", "")
            if not length_text.isdigit():
                raise http.client.HTTPException("an answer without a Content-Length")
            length = int(length_text)
            early = memoryview(self._head)[body_start:head_end]  # body bytes read with the head
            if len(early) > length:
                raise http.client.HTTPException("more bytes than its Content-Length")
            if status != 200:
                if length > MAX_ERROR_BODY_BYTES:
                    self.drop(addr)
                    return NodeReply(status, b"", headers.get("content-type", ""))
                body = bytearray(length)
                body[: len(early)] = early
                _recv_exactly(sock, memoryview(body)[len(early) :])
                got: NodeReply | int = NodeReply(
                    status, bytes(body), headers.get("content-type", "")
                )
            elif length != len(buffer):
                self.drop(addr)
                return NodeReply(200, f"{length} bytes, expected {len(buffer)}".encode(), "")
            else:
                buffer[: len(early)] = early
                _recv_exactly(sock, buffer[len(early) :])
                got = length
            early.release()
        except _LOST as exc:
            self.drop(addr)
            raise NodeUnreachable(addr, _reason(exc), True) from None
        if headers.get("connection", "").lower() == "close":
            self.drop(addr)
        return got

    def _raw_socket(self, addr: str) -> socket.socket:
        sock = self._raw.get(addr)
        if sock is not None:
            return sock
        host, port = _split(addr)
        try:
            sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            raise NodeUnreachable(addr, _reason(exc), maybe_sent=False) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while len(self._raw) >= MAX_CONNECTIONS:
            self.drop(next(iter(self._raw)))
        self._raw[addr] = sock
        return sock

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


def _read_head(sock: socket.socket, head: bytearray) -> tuple[int, dict[str, str], int, int]:
    """Receive an answer's head into ``head``: (status, headers in lower case,
    where the body starts in ``head``, how many bytes of ``head`` were filled)."""
    view = memoryview(head)
    filled = 0
    try:
        while True:
            count = sock.recv_into(view[filled:])
            if not count:
                if not filled:
                    raise http.client.RemoteDisconnected("closed before answering")
                raise http.client.IncompleteRead(bytes(view[:filled]))
            # The blank line may straddle two receives: look from 3 bytes back.
            end = head.find(b"\r\n\r\n", max(0, filled - 3), filled + count)
            filled += count
            if end >= 0:
                break
            if filled == len(head):
                raise http.client.LineTooLong(f"answer head over {len(head)} bytes")
    finally:
        view.release()
    lines = head[:end].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise http.client.BadStatusLine(lines[0][:80])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers, end + 4, filled


def _recv_exactly(sock: socket.socket, view: memoryview) -> None:
    got = 0
    while got < len(view):
        count = sock.recv_into(view[got:])
        if not count:
            raise http.client.IncompleteRead(b"", len(view) - got)
        got += count


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
