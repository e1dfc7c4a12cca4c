"""``GET /status``: what a node knows about itself and its links, as JSON.

Tests and the command line use it to see a node from the outside without the
dashboard: which peers it is connected to, their round-trip times, when each
peer's last heartbeat arrived (a paused peer's stops advancing), and the
node's counters.
"""

from __future__ import annotations

import os
from typing import Any

from cluster.node.heartbeat import Heartbeats
from cluster.node.http import Request, Response, Router, json_response
from cluster.node.node import Node


def status(node: Node, heartbeats: Heartbeats) -> dict[str, Any]:
    peers = {
        peer: {
            "connected": link.connected,
            "rtt_ms": heartbeats.rtt_ms.get(peer),
            "last_heartbeat_ms": heartbeats.last_heartbeat_ms.get(peer),
        }
        for peer, link in node.links.items()
    }
    return {
        "node": node.id,
        "pid": os.getpid(),
        "run_id": node.config.run_id,
        "peers": peers,
        "counters": node.counters_event().counters,
        "time_scale": node.clock.time_scale,
    }


def add_status_route(router: Router, node: Node, heartbeats: Heartbeats) -> None:
    async def get_status(_request: Request) -> Response:
        return json_response(status(node, heartbeats))

    router.add("GET", "/status", get_status)
