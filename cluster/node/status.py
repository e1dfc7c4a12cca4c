"""``GET /status``: what a node knows about itself and its links, as JSON.

Tests and the command line use it to see a node from the outside without the
dashboard: which neighbours it is connected to, their round-trip times, when
each neighbour's last heartbeat arrived (a paused peer's stops advancing),
each link's configured shaping, the node's forwarding table and its
counters.
"""

from __future__ import annotations

import os
from typing import Any

from cluster.node.heartbeat import Heartbeats
from cluster.node.http import Request, Response, Router, json_response
from cluster.node.node import Node
from cluster.node.routing import Routing


def status(node: Node, heartbeats: Heartbeats, routing: Routing | None = None) -> dict[str, Any]:
    peers = {
        peer: {
            "connected": link.connected,
            "rtt_ms": heartbeats.rtt_ms.get(peer),
            "last_heartbeat_ms": heartbeats.last_heartbeat_ms.get(peer),
            "link": {k: v for k, v in node.neighbours[peer].to_dict().items() if k != "peer"},
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
        "routing": routing.status() if routing is not None else None,
    }


def add_status_route(
    router: Router, node: Node, heartbeats: Heartbeats, routing: Routing | None = None
) -> None:
    async def get_status(_request: Request) -> Response:
        return json_response(status(node, heartbeats, routing))

    router.add("GET", "/status", get_status)
