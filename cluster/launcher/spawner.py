"""Forks every node process from one long-lived thread.

``PR_SET_PDEATHSIG`` fires when the *thread* that forked a child exits, not
the process. The backend calls ``restart`` from short-lived request threads;
a node forked there would be killed as soon as that request finished. So
every spawn is a request to this one thread, which lives as long as the
launcher, and callers wait for its answer.
"""

from __future__ import annotations

import os
import queue
import subprocess
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from cluster.launcher.pdeathsig import die_with_parent

# Spawn requests waiting for the thread. There are at most MAX_NODES nodes and
# each request is quick, so callers beyond this wait instead of piling up.
MAX_PENDING_SPAWNS = 64


@dataclass(frozen=True)
class SpawnRequest:
    argv: list[str]
    env: dict[str, str]
    log_path: Path


_Item = tuple[SpawnRequest, "Future[subprocess.Popen[bytes]]"] | None


class Spawner:
    def __init__(self) -> None:
        self._requests: queue.Queue[_Item] = queue.Queue(maxsize=MAX_PENDING_SPAWNS)
        self._thread = threading.Thread(target=self._loop, name="launcher-spawner", daemon=True)
        self._thread.start()

    def spawn(self, request: SpawnRequest) -> subprocess.Popen[bytes]:
        future: Future[subprocess.Popen[bytes]] = Future()
        self._requests.put((request, future))
        return future.result()

    def close(self) -> None:
        """End the thread. Only once its children are gone: they die with it."""
        self._requests.put(None)
        self._thread.join()

    def _loop(self) -> None:
        while True:
            item = self._requests.get()
            if item is None:
                return
            request, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(_spawn(request))
            except BaseException as exc:
                future.set_exception(exc)


def _spawn(request: SpawnRequest) -> subprocess.Popen[bytes]:
    with request.log_path.open("ab") as log_file:
        return subprocess.Popen(
            request.argv,
            env=request.env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            # Its own session: a Ctrl-C in the terminal reaches only the
            # backend, which then stops the nodes in order.
            start_new_session=True,
            preexec_fn=die_with_parent(os.getpid()),
        )
