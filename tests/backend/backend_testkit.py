"""Helpers for the backend tests: the validation-only launcher stand-in, a
socket that speaks a node's side of the telemetry protocol, and polling.

A module of its own (not conftest.py) so that test files can import it by
name; pytest puts this directory on sys.path.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from bench.run_process import wait_for as poll_until
from cluster.launcher import LauncherError, NodeStatus
from cluster.schema.codec import FrameDecoder, encode_frame
from cluster.schema.control import decode_command
from cluster.schema.telemetry import encode_batch

TOKEN = "test-token-for-the-backend"
SECRET = b"backend-tests-secret-32-bytes..."
RUN_ID = "testrun"
DEADLINE_S = 5.0  # generous: two shared cores, other engineers' tests running


def wait_for(condition: Callable[[], Any], what: str, deadline_s: float = DEADLINE_S) -> Any:
    return poll_until(condition, what, deadline_s)


class StandInLauncher:
    """An in-process stand-in with the Launcher's interface, for VALIDATION PATHS ONLY.

    It lets the REST tests check the token, the JSON body and node/action
    validation without spawning processes, and records which calls passed
    validation. It never stands in for a real process changing state: real
    kills, restarts and pauses are checked in tests/integration/test_run.py.
    """

    def __init__(self, node_ids: list[str]) -> None:
        self._ids = node_ids
        self.calls: list[tuple[str, str]] = []
        self.down: set[str] = set()

    def node_ids(self) -> list[str]:
        return list(self._ids)

    def status(self) -> list[NodeStatus]:
        return [self._status(n) for n in self._ids]

    def _status(self, node_id: str) -> NodeStatus:
        down = node_id in self.down
        index = int(node_id[1:])
        return NodeStatus(
            id=node_id,
            process="down" if down else "running",
            pid=None if down else 100_000 + index,
            addr=f"127.0.0.1:{7000 + index}",
            client_addr=f"127.0.0.1:{8000 + index}",
            restarts=0,
            exit_code=-9 if down else None,
            spawned_at_ms=0.0,
        )

    def _record(self, action: str, node_id: str) -> NodeStatus:
        self.calls.append((action, node_id))
        return self._status(node_id)

    def kill(self, node_id: str) -> NodeStatus:
        self.down.add(node_id)
        return self._record("kill", node_id)

    def restart(self, node_id: str) -> NodeStatus:
        self.down.discard(node_id)
        return self._record("restart", node_id)

    def wipe(self, node_id: str) -> NodeStatus:
        self.down.discard(node_id)
        return self._record("wipe", node_id)

    def pause(self, node_id: str) -> NodeStatus:
        if node_id in self.down:
            raise LauncherError(f"{node_id} is down; restart it instead of pausing it")
        return self._record("pause", node_id)

    def resume(self, node_id: str) -> NodeStatus:
        if node_id in self.down:
            raise LauncherError(f"{node_id} is down; restart it instead of resuming it")
        return self._record("resume", node_id)

    def subscribe(self, callback: Callable[[NodeStatus], None]) -> None:
        pass


class NodeSocket:
    """Plays one node's side of the telemetry connection, byte for byte."""

    def __init__(self, port: int, node: str, secret: bytes = SECRET) -> None:
        self.node = node
        self.secret = secret
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE_S)
        self._decoder = FrameDecoder(secret)
        self._pending: list[bytes] = []

    def send(self, events: list[Any], dropped_total: int = 0) -> None:
        body = encode_batch(self.node, dropped_total, events)
        self.sock.sendall(encode_frame(self.secret, body))

    def receive_command(self) -> Any:
        """The next control command the hub sent us (socket timeout = deadline)."""
        while not self._pending:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("hub closed the connection")
            self._pending.extend(self._decoder.feed(data))
        return decode_command(self._pending.pop(0))

    def close(self) -> None:
        self.sock.close()


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
