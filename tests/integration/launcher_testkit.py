"""Helpers for tests that run real node processes on loopback (fixtures: conftest.py).

* ``HubStandIn``: a tiny real telemetry hub (one thread per connection) that
  decodes every batch with ``decode_batch`` and can send control commands, so
  tests can see what nodes really report without the backend.
* ``Cluster``: a launcher, its hub stand-in and every pid it ever spawned.
* ``wait_until``, ``node_status``, ``pid_gone``, ``kill_pids``.

Timing: tests poll for a condition with generous deadlines; the machine may
be a busy 2-core laptop.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from cluster.launcher import Launcher, NodeStatus
from cluster.schema.codec import FrameDecoder, FrameError, encode_frame
from cluster.schema.control import encode_command
from cluster.schema.registry import DecodeError
from cluster.schema.telemetry import decode_batch

TEST_SECRET = bytes.fromhex("5e" * 32)
# Events the stand-in keeps; a 5-node test cluster sends far fewer per test.
MAX_HUB_EVENTS = 500_000
HUB_RECV_BYTES = 256 * 1024
STATUS_TIMEOUT_S = 2.0


def wait_until(
    predicate: Callable[[], Any], timeout_s: float = 10.0, interval_s: float = 0.05, what: str = ""
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout_s``."""
    deadline_s = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline_s:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what or predicate}")
        time.sleep(interval_s)


def node_status(client_addr: str, timeout_s: float = STATUS_TIMEOUT_S) -> dict[str, Any]:
    """GET /status of a node; raises if it does not answer."""
    response = requests.get(f"http://{client_addr}/status", timeout=timeout_s)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def try_status(client_addr: str, timeout_s: float = STATUS_TIMEOUT_S) -> dict[str, Any] | None:
    try:
        return node_status(client_addr, timeout_s)
    except requests.RequestException:
        return None


def pid_gone(pid: int) -> bool:
    """True if no process has this pid, or it is a zombie (dead, not yet reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] in ("Z", "X")


def kill_pids(pids: set[int] | list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGKILL)


class HubStandIn:
    """A real TCP telemetry receiver: decodes batches, keeps events, sends commands."""

    def __init__(self, secret: bytes = TEST_SECRET) -> None:
        self._secret = secret
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._events: collections.deque[Any] = collections.deque(maxlen=MAX_HUB_EVENTS)
        self._by_node: dict[str, socket.socket] = {}
        self._sockets: set[socket.socket] = set()
        self.dropped_total: dict[str, int] = {}
        self.bad_frames = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="hub-stand-in", daemon=True)
        self._thread.start()

    def events(self, kind: str | None = None, node: str | None = None) -> list[Any]:
        with self._lock:
            return [
                e
                for e in self._events
                if (kind is None or type(e).__name__ == kind)
                and (node is None or getattr(e, "node", None) == node)
            ]

    def clear(self) -> None:
        with self._lock:
            self._events.clear()

    def send_command(self, node: str, command: Any) -> None:
        with self._lock:
            sock = self._by_node[node]
        sock.sendall(encode_frame(self._secret, encode_command(command)))

    def connected(self, node: str) -> bool:
        with self._lock:
            return node in self._by_node

    def stop(self) -> None:
        self._stopping.set()
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._thread.join(timeout=2)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(None)
            with self._lock:
                self._sockets.add(sock)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        decoder = FrameDecoder(self._secret)
        try:
            while True:
                data = sock.recv(HUB_RECV_BYTES)
                if not data:
                    return
                for body in decoder.feed(data):
                    node, dropped_total, events = decode_batch(body)
                    with self._lock:
                        self._by_node[node] = sock
                        self.dropped_total[node] = dropped_total
                        self._events.extend(events)
        except (FrameError, DecodeError):
            with self._lock:
                self.bad_frames += 1
        except OSError:
            pass
        finally:
            with self._lock:
                self._sockets.discard(sock)
                for node, s in list(self._by_node.items()):
                    if s is sock:
                        del self._by_node[node]
            sock.close()


class Cluster:
    """A started launcher, its hub stand-in, and every pid it ever spawned."""

    def __init__(self, launcher: Launcher, hub: HubStandIn, data_dir: Path) -> None:
        self.launcher = launcher
        self.hub = hub
        self.data_dir = data_dir
        self.pids: set[int] = set()
        self.changes: list[NodeStatus] = []
        self._lock = threading.Lock()
        launcher.subscribe(self._record)

    def _record(self, status: NodeStatus) -> None:
        with self._lock:
            self.changes.append(status)
            if status.pid is not None:
                self.pids.add(status.pid)

    def changes_of(self, node_id: str) -> list[NodeStatus]:
        with self._lock:
            return [s for s in self.changes if s.id == node_id]

    def client_addr(self, node_id: str) -> str:
        return self.launcher.node(node_id).client_addr

    def status_of(self, node_id: str) -> dict[str, Any]:
        return node_status(self.client_addr(node_id))

    def all_linked(self, node_ids: list[str] | None = None) -> bool:
        """Every listed node answers and is connected to every other listed node with an RTT."""
        ids = node_ids or self.launcher.node_ids()
        for node_id in ids:
            status = try_status(self.client_addr(node_id))
            if status is None:
                return False
            for peer in ids:
                if peer == node_id:
                    continue
                view = status["peers"][peer]
                if not view["connected"] or view["rtt_ms"] is None:
                    return False
        return True
