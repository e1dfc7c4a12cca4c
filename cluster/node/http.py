"""A minimal HTTP/1.1 server for a node's client port.

Clients talk to a node directly, as they do to etcd, so heavy client traffic
never queues behind the dashboard. The protocol surface is small (a few JSON
and binary routes), so a short asyncio parser is enough and keeps the node
free of web framework dependencies: keep-alive, ``Content-Length`` bodies,
limits on head and body size, 400 on anything malformed.

Other layers add routes with ``Router.add("PUT", "/kv/<key>", handler)``: a
final ``<name>`` segment captures the rest of the path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

log = logging.getLogger(__name__)

# Request line plus headers; real clients send well under 1 KiB.
MAX_HEAD_BYTES = 16 * 1024
MAX_HEADERS = 64
# A 1 MiB file chunk with room to spare; the same order as the frame limit.
MAX_BODY_BYTES = 8 * 1024 * 1024
# Concurrent client connections; benchmarks use tens.
MAX_CONNECTIONS = 256
# A keep-alive connection idle this long is closed, freeing its slot.
IDLE_TIMEOUT_S = 30.0
# A body must arrive within this long once its head has.
BODY_TIMEOUT_S = 30.0
# How often the idle and body deadlines are checked. One sweep for all
# connections instead of a timer per read: per-request timers cost a third
# of the server's time per request at thousands of requests a second.
DEADLINE_SWEEP_S = 1.0
NO_DEADLINE = float("inf")  # while a handler works on a request

REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    507: "Insufficient Storage",
}
# A body this large is written after the head rather than joined to it: a
# file chunk would otherwise be copied once more just to prepend 100 bytes.
JOIN_BODY_MAX_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names in lower case
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # from <name> in the route

    def json(self) -> Any:
        """The body as JSON; raises ValueError if it is not."""
        return json.loads(self.body)


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    # A memoryview lends a buffer the handler wants back (``sent``), e.g. a chunk.
    body: bytes | memoryview = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    # Called once the socket has taken the whole body, so a lent buffer can be
    # reused; never called if the connection broke first (the bytes' fate is then
    # unknown and the buffer is left to the garbage collector).
    sent: Callable[[], None] | None = None


def json_response(value: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(value, separators=(",", ":")).encode())


def error_response(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


Handler = Callable[[Request], Awaitable[Response]]


class Router:
    """Maps (method, path) to a handler: exact paths, or a prefix with a final ``<name>``."""

    def __init__(self) -> None:
        self._exact: dict[str, dict[str, Handler]] = {}
        self._prefixes: list[tuple[str, str, dict[str, Handler]]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        if not pattern.startswith("/"):
            raise ValueError(f"route {pattern!r} must start with /")
        prefix, sep, rest = pattern.partition("<")
        if not sep:
            methods = self._exact.setdefault(pattern, {})
        else:
            if not rest.endswith(">") or "/" in rest or not prefix.endswith("/"):
                raise ValueError(f"route {pattern!r}: only a final /<name> segment is supported")
            methods = self._route_methods(prefix, rest[:-1])
        if method in methods:
            raise ValueError(f"route {method} {pattern} registered twice")
        methods[method] = handler

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | int:
        """The handler and captured params, or 404 / 405."""
        methods = self._exact.get(path)
        params: dict[str, str] = {}
        if methods is None:
            for prefix, name, candidate in self._prefixes:
                if path.startswith(prefix) and len(path) > len(prefix):
                    methods, params = candidate, {name: path[len(prefix) :]}
                    break
        if methods is None:
            return 404
        handler = methods.get(method)
        if handler is None:
            return 405
        return handler, params

    def _route_methods(self, prefix: str, name: str) -> dict[str, Handler]:
        for existing_prefix, existing_name, methods in self._prefixes:
            if existing_prefix == prefix:
                if existing_name != name:
                    raise ValueError(f"{prefix}<{name}> conflicts with {prefix}<{existing_name}>")
                return methods
        methods = {}
        self._prefixes.append((prefix, name, methods))
        # Longest prefix first, so /files/meta/<id> wins over /files/<id>.
        self._prefixes.sort(key=lambda item: len(item[0]), reverse=True)
        return methods


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class HttpServer:
    def __init__(self, router: Router) -> None:
        self._router = router
        self._server: asyncio.Server | None = None
        # Each open connection and the loop time by which its next read must finish.
        self._connections: dict[asyncio.StreamWriter, float] = {}
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(
            self._handle, host, port, limit=MAX_HEAD_BYTES, reuse_address=True
        )
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_deadlines())

    def port(self) -> int:
        assert self._server is not None and self._server.sockets
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._server is not None:
            self._server.close()
        for writer in list(self._connections):
            writer.close()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), timeout=1.0)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._connections) >= MAX_CONNECTIONS:
            await _write(writer, error_response(503, "too many connections"), keep_alive=False)
            writer.close()
            return
        self._connections[writer] = NO_DEADLINE
        try:
            keep_alive = True
            while keep_alive:
                try:
                    request, keep_alive = await self._read_request(reader, writer)
                except BadRequest as exc:
                    await _write(writer, error_response(exc.status, str(exc)), keep_alive=False)
                    return
                if request is None:
                    return
                response = await self._respond(request)
                await _write(writer, response, keep_alive)
        except (OSError, ConnectionError, TimeoutError):
            pass
        finally:
            self._connections.pop(writer, None)
            writer.close()

    async def _sweep_deadlines(self) -> None:
        """Close connections whose read is overdue; the blocked read then ends."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(DEADLINE_SWEEP_S)
            now_s = loop.time()
            for writer, deadline_s in list(self._connections.items()):
                if deadline_s < now_s:
                    writer.close()

    async def _read_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[Request | None, bool]:
        connections = self._connections
        loop = asyncio.get_running_loop()
        connections[writer] = loop.time() + IDLE_TIMEOUT_S
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial.strip():
                raise BadRequest(400, "incomplete request head") from exc
            return None, False
        except asyncio.LimitOverrunError as exc:
            raise BadRequest(431, f"request head over {MAX_HEAD_BYTES} bytes") from exc
        method, target, version, headers = _parse_head(head)
        if "transfer-encoding" in headers:
            raise BadRequest(400, "Transfer-Encoding is not supported; send Content-Length")
        length_text = headers.get("content-length", "0")
        if not length_text.isdigit():
            raise BadRequest(400, "Content-Length must be a number")
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            raise BadRequest(413, f"body over {MAX_BODY_BYTES} bytes")
        body = b""
        if length:
            connections[writer] = loop.time() + BODY_TIMEOUT_S
            try:
                body = await reader.readexactly(length)
            except asyncio.IncompleteReadError as exc:
                raise BadRequest(400, "body shorter than Content-Length") from exc
        connections[writer] = NO_DEADLINE
        connection = headers.get("connection", "").lower()
        # HTTP/1.1 keeps a connection open unless told otherwise; 1.0 the reverse.
        persistent_by_default = version == "HTTP/1.1"
        keep_alive = connection != "close" if persistent_by_default else connection == "keep-alive"
        raw_path, _, query_text = target.partition("?")
        request = Request(method, unquote(raw_path), dict(parse_qsl(query_text)), headers, body)
        return request, keep_alive

    async def _respond(self, request: Request) -> Response:
        matched = self._router.match(request.method, request.path)
        if matched == 404:
            return error_response(404, f"no such path: {request.path}")
        if matched == 405:
            return error_response(405, f"{request.method} is not allowed on {request.path}")
        assert not isinstance(matched, int)
        handler, params = matched
        try:
            # Built directly: dataclasses.replace costs as much as parsing the head.
            routed = Request(
                request.method, request.path, request.query, request.headers, request.body, params
            )
            return await handler(routed)
        except Exception:
            log.exception("handler for %s %s failed", request.method, request.path)
            return error_response(500, "internal error")


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    try:
        text = head[:-4].decode("latin-1")
    except UnicodeDecodeError as exc:  # pragma: no cover - latin-1 decodes every byte
        raise BadRequest(400, "undecodable request head") from exc
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[0].isalpha() or not parts[1].startswith("/"):
        raise BadRequest(400, "malformed request line")
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise BadRequest(400, f"unsupported version {version[:16]!r}")
    if len(lines) - 1 > MAX_HEADERS:
        raise BadRequest(431, f"more than {MAX_HEADERS} headers")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(400, "malformed header line")
        headers[name.lower()] = value.strip()
    return method, target, version, headers


async def _write(writer: asyncio.StreamWriter, response: Response, keep_alive: bool) -> None:
    reason = REASONS.get(response.status, "Unknown")
    lines = [
        f"HTTP/1.1 {response.status} {reason}",
        f"Content-Type: {response.content_type}",
        f"Content-Length: {len(response.body)}",
        f"Connection: {'keep-alive' if keep_alive else 'close'}",
    ]
    lines.extend(f"{name}: {value}" for name, value in response.headers)
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if response.sent is not None:
        # A lent body must be in the kernel before it is given back: with a
        # high-water mark of 0, drain() returns only once the transport's own
        # buffer is empty (on Python 3.12+ that buffer may hold a view of ours).
        writer.transport.set_write_buffer_limits(high=0)
    if len(response.body) <= JOIN_BODY_MAX_BYTES:
        writer.write(head + response.body)
    else:
        writer.write(head)
        writer.write(response.body)
    await writer.drain()
    if response.sent is not None:
        writer.transport.set_write_buffer_limits()  # back to asyncio's defaults
        # drain() also returns early on a closing transport: give back only when empty.
        if writer.transport.get_write_buffer_size() == 0:
            response.sent()
