"""What the launcher reports about a node process, and the error it raises.

``NodeStatus`` is a snapshot value: the backend shows it, compares it and
hands it to subscribers on another thread without any lock.
"""

from __future__ import annotations

from dataclasses import dataclass

RUNNING = "running"
PAUSED = "paused"
DOWN = "down"


class LauncherError(ValueError):
    """Unknown node or an impossible transition; the message is shown to users."""


@dataclass(frozen=True)
class NodeStatus:
    id: str  # "n1".."nN"
    process: str  # "running" | "paused" | "down"
    pid: int | None  # None when down
    addr: str  # "127.0.0.1:PORT" peer port
    client_addr: str  # "127.0.0.1:PORT" client HTTP port
    restarts: int
    exit_code: int | None  # set when down (negative = killed by that signal)
    spawned_at_ms: float  # wall clock ms of the latest spawn
