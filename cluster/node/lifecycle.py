"""How a node process ends: on SIGTERM/SIGINT, or when its parent is gone.

A node must never outlive the run that started it (an orphan keeps its ports
and confuses the next run). The launcher sets PR_SET_PDEATHSIG, and as a
second line of defence the node polls its parent pid: if it changed, the
parent died and the node was adopted, so it exits.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal

log = logging.getLogger(__name__)

PARENT_POLL_S = 1.0


def stop_on_signals(stopping: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)


async def watch_parent(stopping: asyncio.Event) -> None:
    parent_pid = os.getppid()
    while True:
        await asyncio.sleep(PARENT_POLL_S)
        if os.getppid() != parent_pid:
            log.warning("parent process %d is gone; exiting", parent_pid)
            stopping.set()
            return
