"""Closed-loop key-value load: N keep-alive HTTP/1.1 clients, each with one request in flight.

A benchmark client must cost far less than the system it measures: on a
2-core machine a thread per client with ``requests`` would burn a core on
its own. So each client is an asyncio connection that writes a raw
``PUT /kv/<key>`` and parses the status line and ``Content-Length`` of the
answer: the same bytes a real client sends, with almost no client CPU.

Each client waits for its answer before sending the next request (closed
loop), so "N clients" means N requests in flight.

The client shares the machine with what it measures (a 2-core laptop runs
the nodes, the backend, the browser and this), so each request costs as
little as we can make it: its bytes are built once per key, the answer's
head is read in one call, and the timeout is a deadline on the running task
(``asyncio.timeout``), not a new task per request (``wait_for``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from dataclasses import dataclass, field

# A request that takes longer is counted as a timeout and its connection is
# reopened; a node answers 503 after 5 s on its own.
REQUEST_TIMEOUT_S = 10.0
# Keys each client cycles through: enough that the state machine holds many
# keys, few enough that it stays small.
KEYS_PER_CLIENT = 100
HEAD_LIMIT_BYTES = 64 * 1024


@dataclass
class LoadResult:
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    duration_s: float = 0.0

    def count_error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    def summary(self) -> dict[str, object]:
        ordered = sorted(self.latencies_ms)
        return {
            "writes_per_s": round(self.ok / self.duration_s, 1) if self.duration_s else 0.0,
            "ok": self.ok,
            "errors": self.errors,
            "latency_ms_p50": _percentile(ordered, 0.50),
            "latency_ms_p99": _percentile(ordered, 0.99),
            "duration_s": round(self.duration_s, 2),
        }


def _percentile(ordered: list[float], fraction: float) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 2)


async def _request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bool]:
    """Send one request, read its answer: (status, whether the server keeps the connection)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, _, rest = head.partition(b"\r\n")
    length = 0
    keep_alive = True
    for line in rest.split(b"\r\n"):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection":
            keep_alive = value.strip().lower() != b"close"
    if length:
        await reader.readexactly(length)
    return int(status_line.split(b" ", 2)[1]), keep_alive


def _requests(
    number: int, addr: str, path_prefix: str, value: bytes, extra_headers: str
) -> list[bytes]:
    """Client ``number``'s requests, one per key, head and body ready to write."""
    return [
        (
            f"PUT {path_prefix}bench-{number}-{k} HTTP/1.1\r\nHost: {addr}\r\n"
            f"Content-Length: {len(value)}\r\n{extra_headers}\r\n"
        ).encode()
        + value
        for k in range(KEYS_PER_CLIENT)
    ]


async def _client(
    number: int,
    addr: str,
    path_prefix: str,
    value: bytes,
    stop_at_s: float,
    result: LoadResult,
    extra_headers: str,
) -> None:
    host, port = addr.rsplit(":", 1)
    requests = _requests(number, addr, path_prefix, value, extra_headers)
    i = 0
    while time.monotonic() < stop_at_s:
        try:
            reader, writer = await asyncio.open_connection(host, int(port), limit=HEAD_LIMIT_BYTES)
        except OSError:
            result.count_error("connect")
            await asyncio.sleep(0.1)
            continue
        try:
            keep_alive = True
            while keep_alive:
                started_s = time.monotonic()
                if started_s >= stop_at_s:
                    break
                request = requests[i % KEYS_PER_CLIENT]
                i += 1
                # A server that closes after each answer (the Flask gateway) costs
                # a new connection per request: that is part of what is measured.
                async with asyncio.timeout(REQUEST_TIMEOUT_S):
                    status, keep_alive = await _request(reader, writer, request)
                if status == 200:
                    result.ok += 1
                    result.latencies_ms.append((time.monotonic() - started_s) * 1000.0)
                else:
                    result.count_error(str(status))
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            result.count_error("connection")
        except TimeoutError:
            result.count_error("timeout")
        finally:
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()


async def _run(
    addrs: list[str],
    clients: int,
    duration_s: float,
    value_bytes: int,
    path_prefix: str,
    extra_headers: str,
) -> LoadResult:
    result = LoadResult()
    value = b"v" * value_bytes
    started_s = time.monotonic()
    stop_at_s = started_s + duration_s
    await asyncio.gather(
        *(
            _client(n, addrs[n % len(addrs)], path_prefix, value, stop_at_s, result, extra_headers)
            for n in range(clients)
        )
    )
    result.duration_s = time.monotonic() - started_s
    return result


def run_load(
    addrs: list[str],
    clients: int,
    duration_s: float,
    value_bytes: int = 100,
    path_prefix: str = "/kv/",
    extra_headers: str = "",
) -> LoadResult:
    """``clients`` closed-loop writers spread round-robin over ``addrs`` for ``duration_s``.

    Runs its own event loop in a thread: the caller may be inside one already
    (Playwright's sync API keeps one running while a page is open).
    """
    results: list[LoadResult] = []

    def work() -> None:
        results.append(
            asyncio.run(_run(addrs, clients, duration_s, value_bytes, path_prefix, extra_headers))
        )

    thread = threading.Thread(target=work, name="kv-load")
    thread.start()
    thread.join()
    if not results:
        raise RuntimeError("the load generator failed (see the traceback above)")
    return results[0]
