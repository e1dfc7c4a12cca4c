"""The node's small HTTP server: routing, keep-alive, limits, malformed input.

In-process, over a real loopback socket: the parser is what a client (or a
port scanner) really meets, so it is fed real bytes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import pytest

from cluster.node.http import (
    MAX_BODY_BYTES,
    MAX_HEAD_BYTES,
    HttpServer,
    Request,
    Response,
    Router,
    json_response,
)

Client = Callable[[bytes], Awaitable[bytes]]


def make_router() -> Router:
    router = Router()

    async def status(_request: Request) -> Response:
        return json_response({"ok": True})

    async def put_key(request: Request) -> Response:
        return json_response({"key": request.params["key"], "value": request.body.decode()}, 201)

    async def get_key(request: Request) -> Response:
        return json_response({"key": request.params["key"], "query": request.query})

    async def meta(request: Request) -> Response:
        return json_response({"meta": request.params["id"]})

    async def boom(_request: Request) -> Response:
        raise RuntimeError("a bug in a handler")

    router.add("GET", "/status", status)
    router.add("PUT", "/kv/<key>", put_key)
    router.add("GET", "/kv/<key>", get_key)
    router.add("GET", "/kv/meta/<id>", meta)
    router.add("GET", "/boom", boom)
    return router


def run_with_server(scenario: Callable[[int], Awaitable[None]]) -> None:
    async def main() -> None:
        server = HttpServer(make_router())
        await server.start("127.0.0.1", 0)
        try:
            await asyncio.wait_for(scenario(server.port()), timeout=10)
        finally:
            await server.close()

    asyncio.run(main())


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.lower()] = value.strip()
    body = await reader.readexactly(int(headers["content-length"]))
    return status, headers, body


async def exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        return await read_response(reader)
    finally:
        writer.close()


def test_keep_alive_serves_several_requests_on_one_connection() -> None:
    async def scenario(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        # Two requests written back to back (pipelined), then a third.
        writer.write(
            b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n"
            b"PUT /kv/a%20b HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
        )
        status1, headers1, body1 = await read_response(reader)
        status2, _, body2 = await read_response(reader)
        assert (status1, json.loads(body1)) == (200, {"ok": True})
        assert headers1["connection"] == "keep-alive"
        assert headers1["content-type"] == "application/json"
        assert (status2, json.loads(body2)) == (201, {"key": "a b", "value": "hello"})
        writer.write(b"GET /kv/x?limit=3 HTTP/1.1\r\nConnection: close\r\n\r\n")
        status3, headers3, body3 = await read_response(reader)
        assert status3 == 200
        assert json.loads(body3) == {"key": "x", "query": {"limit": "3"}}
        assert headers3["connection"] == "close"
        assert await reader.read() == b""  # the server closed as asked
        writer.close()

    run_with_server(scenario)


def test_longest_prefix_route_wins_and_the_rest_of_the_path_is_the_param() -> None:
    async def scenario(port: int) -> None:
        _, _, body = await exchange(port, b"GET /kv/meta/7 HTTP/1.1\r\n\r\n")
        assert json.loads(body) == {"meta": "7"}
        _, _, body = await exchange(port, b"GET /kv/dir/file HTTP/1.1\r\n\r\n")
        assert json.loads(body)["key"] == "dir/file"

    run_with_server(scenario)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET /nowhere HTTP/1.1\r\n\r\n", 404),
        (b"GET /kv/ HTTP/1.1\r\n\r\n", 404),  # an empty key is not a key
        (b"DELETE /status HTTP/1.1\r\n\r\n", 405),
        (b"GET /boom HTTP/1.1\r\n\r\n", 500),
        (b"garbage\r\n\r\n", 400),
        (b"GET /status HTTP/9.9\r\n\r\n", 400),
        (b"GET status HTTP/1.1\r\n\r\n", 400),
        (b"GET /status HTTP/1.1\r\nno colon here\r\n\r\n", 400),
        (b"GET /status HTTP/1.1\r\n bad: folding\r\n\r\n", 400),
        (b"PUT /kv/a HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400),
        (b"PUT /kv/a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (f"PUT /kv/a HTTP/1.1\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode(), 413),
        (b"GET /status HTTP/1.1\r\nX: " + b"a" * MAX_HEAD_BYTES + b"\r\n\r\n", 431),
    ],
)
def test_errors_get_a_status_and_a_json_message(raw: bytes, status: int) -> None:
    async def scenario(port: int) -> None:
        got, _, body = await exchange(port, raw)
        assert got == status
        assert "error" in json.loads(body)

    run_with_server(scenario)


def test_a_malformed_request_closes_the_connection_but_not_the_server() -> None:
    async def scenario(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"\x00\x01\x02 nonsense\r\n\r\n")
        status, headers, _ = await read_response(reader)
        assert (status, headers["connection"]) == (400, "close")
        assert await reader.read() == b""
        writer.close()
        status, _, _ = await exchange(port, b"GET /status HTTP/1.1\r\n\r\n")
        assert status == 200

    run_with_server(scenario)


def test_http_1_0_closes_unless_asked_to_keep_alive() -> None:
    async def scenario(port: int) -> None:
        _, headers, _ = await exchange(port, b"GET /status HTTP/1.0\r\n\r\n")
        assert headers["connection"] == "close"
        _, headers, _ = await exchange(
            port, b"GET /status HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        )
        assert headers["connection"] == "keep-alive"

    run_with_server(scenario)


def test_router_refuses_ambiguous_routes() -> None:
    router = make_router()

    async def handler(_request: Request) -> Response:
        return json_response({})

    with pytest.raises(ValueError, match="twice"):
        router.add("GET", "/status", handler)
    with pytest.raises(ValueError, match="conflicts"):
        router.add("DELETE", "/kv/<name>", handler)
    with pytest.raises(ValueError, match="final"):
        router.add("GET", "/kv/<key>/versions", handler)


def test_idle_and_slow_body_connections_are_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    # One sweep closes every connection whose read is overdue (no timer per request).
    monkeypatch.setattr("cluster.node.http.IDLE_TIMEOUT_S", 0.2)
    monkeypatch.setattr("cluster.node.http.BODY_TIMEOUT_S", 0.2)
    monkeypatch.setattr("cluster.node.http.DEADLINE_SWEEP_S", 0.05)

    async def scenario(port: int) -> None:
        idle_reader, _idle_writer = await asyncio.open_connection("127.0.0.1", port)
        slow_reader, slow_writer = await asyncio.open_connection("127.0.0.1", port)
        slow_writer.write(b"PUT /kv/a HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
        await slow_writer.drain()
        # The server closes both: reads end with EOF well before the scenario's timeout.
        assert await asyncio.wait_for(idle_reader.read(), 5) == b""
        answer = await asyncio.wait_for(slow_reader.read(), 5)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 400")

    run_with_server(scenario)
