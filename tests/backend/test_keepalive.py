"""The dashboard's HTTP server keeps connections alive (backend/keepalive.py).

Why: a new TCP connection per request capped the gateway's PUT /api/kv near
300 writes/s. These tests speak raw HTTP/1.1 on one socket, as a keep-alive
client does, so they fail if the server closes it or mixes up two requests.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from flask import Flask

from backend.server import bind

SOCKET_TIMEOUT_S = 10.0


@pytest.fixture
def port(app: Flask) -> Iterator[int]:
    server = bind(app, "127.0.0.1", 0, "threading")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.port
    finally:
        server.shutdown()
        server.close()
        thread.join(timeout=5)


def read_response(sock: socket.socket, pending: bytearray) -> tuple[str, dict[str, str], bytes]:
    """One response with a Content-Length: status line, headers, body."""
    while b"\r\n\r\n" not in pending:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        pending.extend(chunk)
    head, _, rest = bytes(pending).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in lines[1:])}
    length = int(headers["content-length"])
    body = bytearray(rest)
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection mid-body"
        body.extend(chunk)
    pending[:] = body[length:]
    return lines[0], headers, bytes(body[:length])


def test_two_requests_share_one_connection(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT_S) as sock:
        pending = bytearray()
        for _ in range(2):
            sock.sendall(b"GET /api/cluster HTTP/1.1\r\nHost: x\r\n\r\n")
            status, headers, body = read_response(sock, pending)
            assert status.startswith("HTTP/1.1 200")
            assert headers.get("connection", "").lower() != "close"
            assert body.startswith(b"{")


def test_an_unread_request_body_does_not_leak_into_the_next_request(port: int) -> None:
    # a body the app never reads (no such route), then a real request right behind it
    junk = b"GET /api/cluster HTTP/1.1\r\n\r\n" * 3
    first = (
        b"POST /api/no-such-route HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
        b"Content-Length: " + str(len(junk)).encode() + b"\r\n\r\n" + junk
    )
    second = b"GET /api/cluster HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT_S) as sock:
        sock.sendall(first + second)
        pending = bytearray()
        status, _, _ = read_response(sock, pending)
        assert status.startswith("HTTP/1.1 404")
        status, _, body = read_response(sock, pending)
        assert status.startswith("HTTP/1.1 200")
        assert body.startswith(b"{")
        sock.settimeout(1.0)
        with pytest.raises(TimeoutError):
            sock.recv(1)  # and nothing more: the junk inside the body was not served


def test_a_client_that_asks_to_close_is_closed(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT_S) as sock:
        sock.sendall(b"GET /api/cluster HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        status, _, _ = read_response(sock, bytearray())
        assert status.startswith("HTTP/1.1 200")
        sock.settimeout(SOCKET_TIMEOUT_S)
        assert sock.recv(65536) == b""
