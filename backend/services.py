"""What a request handler can reach: the hub, the launcher, the token.

``create_app`` puts one ``Services`` value in ``app.extensions``; handlers
fetch it with ``services()``. Keeping them on the app (not in module globals)
lets tests build several independent apps, each with its own hub.

``LauncherPort`` is the part of ``cluster.launcher.Launcher`` the backend
calls, written as a Protocol so the type checker holds both sides to the
contract in docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from flask import current_app

from cluster.config import ClusterConfig

if TYPE_CHECKING:
    from backend.hub import Hub


class ProcessStatus(Protocol):
    """One node's process as the launcher sees it (``cluster.launcher.NodeStatus``)."""

    @property
    def id(self) -> str: ...
    @property
    def process(self) -> str: ...  # "running" | "paused" | "down"
    @property
    def pid(self) -> int | None: ...
    @property
    def addr(self) -> str: ...
    @property
    def client_addr(self) -> str: ...
    @property
    def restarts(self) -> int: ...
    @property
    def exit_code(self) -> int | None: ...


class LauncherPort(Protocol):
    def node_ids(self) -> list[str]: ...
    def status(self) -> Sequence[ProcessStatus]: ...
    def kill(self, node_id: str) -> ProcessStatus: ...
    def restart(self, node_id: str) -> ProcessStatus: ...
    def pause(self, node_id: str) -> ProcessStatus: ...
    def resume(self, node_id: str) -> ProcessStatus: ...
    def wipe(self, node_id: str) -> ProcessStatus: ...
    def subscribe(self, callback: Callable[[ProcessStatus], None]) -> None: ...


@dataclass
class Services:
    hub: Hub
    launcher: LauncherPort | None  # None: a backend that only watches (tests, demos)
    token: str
    cluster: ClusterConfig


EXTENSION_KEY = "clusterlab"


def services() -> Services:
    found: Services = current_app.extensions[EXTENSION_KEY]
    return found
