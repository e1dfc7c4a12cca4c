"""Delivers process-state changes to subscribers, in order, from one thread.

State changes happen on request threads (kill, restart) and on the
supervisor thread (a node died on its own). Subscribers (the backend) are
always called from this one launcher thread, in the order the changes
happened, and a slow subscriber never holds up a kill or the supervisor.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from cluster.launcher.status import NodeStatus

log = logging.getLogger(__name__)

# State changes not yet delivered. Each carries a full snapshot, so if a
# subscriber is stuck this long, dropping one loses only an intermediate state.
MAX_PENDING_NOTIFICATIONS = 10_000

Callback = Callable[[NodeStatus], None]


class Notifier:
    def __init__(self) -> None:
        self._callbacks: list[Callback] = []
        self._lock = threading.Lock()
        self._pending: queue.Queue[NodeStatus | None] = queue.Queue(
            maxsize=MAX_PENDING_NOTIFICATIONS
        )
        self._thread = threading.Thread(target=self._loop, name="launcher-notifier", daemon=True)
        self._thread.start()

    def subscribe(self, callback: Callback) -> None:
        with self._lock:
            self._callbacks.append(callback)

    def publish(self, status: NodeStatus) -> None:
        """Never blocks: callers may hold the launcher's lock."""
        try:
            self._pending.put_nowait(status)
        except queue.Full:
            log.warning("launcher: subscribers are stuck; dropped a state change of %s", status.id)

    def close(self, timeout_s: float = 2.0) -> None:
        """Deliver what is pending, then end the thread."""
        try:
            self._pending.put(None, timeout=timeout_s)
        except queue.Full:
            return
        # A subscriber may itself call Launcher.stop(); a thread cannot join itself.
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout_s)

    def _loop(self) -> None:
        while True:
            status = self._pending.get()
            if status is None:
                return
            with self._lock:
                callbacks = list(self._callbacks)
            for callback in callbacks:
                try:
                    callback(status)
                except Exception:
                    log.exception("launcher: subscriber %r failed", callback)
