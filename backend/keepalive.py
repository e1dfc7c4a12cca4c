"""HTTP/1.1 keep-alive for the Werkzeug server run.py serves on.

Werkzeug's development server answers every request with ``Connection:
close``, because Python's http.server cannot tell where an unread request
body ends and the next request begins. A client then pays a new TCP
connection (and a new server thread) per request: the gateway
``PUT /api/kv`` topped out near 300 writes/s that way.

This handler keeps a connection open when that is safe: the request body has
a declared length (not chunked), and the response has a Content-Length or is
chunked, so both sides know where each message ends. The request body is
read through a reader that stops at its Content-Length, so Werkzeug's own
"drain what is left" step after each response reads the rest of this body
and never the next request. A WebSocket upgrade (101) is left exactly as
Werkzeug handles it.
"""

from __future__ import annotations

import io
import socket
from typing import Any

from werkzeug.serving import WSGIRequestHandler

# An idle keep-alive connection holds one server thread; browsers reuse theirs
# within seconds, so a connection idle longer than this is closed.
KEEP_ALIVE_IDLE_S = 15.0
# An unread request body is read and discarded before the next request, up to
# this much; past it the connection is closed instead (the KV API's bodies are
# a few KB at most).
MAX_DRAIN_BYTES = 1024 * 1024


class _BodyReader:
    """The request body: reads stop at Content-Length, the next request stays unread."""

    def __init__(self, raw: io.BufferedIOBase, length: int) -> None:
        self._raw = raw
        self._left = length

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0 or size > self._left:
            size = self._left
        if size == 0:
            return b""
        data = self._raw.read(size)
        self._left -= len(data)
        return data

    @property
    def left(self) -> int:
        return self._left

    def read1(self, size: int = -1) -> bytes:
        return self.read(size)

    def readline(self, size: int | None = -1) -> bytes:
        if size is None or size < 0 or size > self._left:
            size = self._left
        if size == 0:
            return b""
        data = self._raw.readline(size)
        self._left -= len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def __getattr__(self, name: str) -> Any:  # close(), fileno()... of the real stream
        return getattr(self._raw, name)


class KeepAliveRequestHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"

    _body_has_length = False
    _response_delimited = False
    _status_code = 0
    _requests_served = 0

    def setup(self) -> None:
        super().setup()
        # Werkzeug writes headers and body separately; on a kept-alive
        # connection Nagle's algorithm would hold the body back until the
        # client's delayed ACK (~40 ms) for every response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle_one_request(self) -> None:
        if self._requests_served:
            # waiting for the next request on a kept-alive connection
            self.connection.settimeout(KEEP_ALIVE_IDLE_S)
        self._requests_served += 1
        super().handle_one_request()

    def parse_request(self) -> bool:
        # The request line has arrived: no timeout while it is served (a
        # WebSocket on this connection may stay quiet for as long as it likes).
        self.connection.settimeout(None)
        return super().parse_request()

    def run_wsgi(self) -> None:
        self._response_delimited = False
        self._status_code = 0
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        self._body_has_length = not chunked and length >= 0
        if not self._body_has_length:
            super().run_wsgi()  # Werkzeug closes the connection afterwards
            return
        raw = self.rfile
        body = _BodyReader(raw, length)
        self.rfile = body  # type: ignore[assignment]
        try:
            super().run_wsgi()
        finally:
            self.rfile = raw
        # Werkzeug drains only what is still in the socket, not what its
        # buffered reader already holds: what the app left unread goes here.
        if body.left > MAX_DRAIN_BYTES:
            self.close_connection = True
            return
        while body.left and body.read(body.left):
            pass

    def send_response(self, code: int, message: str | None = None) -> None:
        self._status_code = code
        super().send_response(code, message)

    def send_header(self, keyword: str, value: str) -> None:
        key = keyword.lower()
        if key in ("content-length", "transfer-encoding"):
            self._response_delimited = True
        if (
            key == "connection"
            and value.lower() == "close"
            and self._body_has_length
            and self._response_delimited
            and self._status_code != 101
        ):
            return  # keep the connection open for the client's next request
        super().send_header(keyword, value)
