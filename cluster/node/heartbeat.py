"""Heartbeats: is each link alive, and how long does a round trip take?

Every ``heartbeat_interval_ms`` (scaled by slow motion) a node sends
``Heartbeat(sent_ms)`` to each connected neighbour; the neighbour answers
``HeartbeatAck`` with the same ``sent_ms`` on its own link back, so the
round-trip time is measured on real frames through both one-way streams.
The receiver also notes when it last heard from each peer: a paused peer's
heartbeats stop arriving, which is exactly what a failure detector sees.

Heartbeats measure one link, so they go one hop (``send_link``), never along
a route. On a shaped link the RTT includes the injected delay both ways:
half of it is the measured one-way latency shown next to the configured one.
"""

from __future__ import annotations

from cluster.node.clock import wall_ms
from cluster.node.node import Node
from cluster.schema.messages import Envelope, Heartbeat, HeartbeatAck
from cluster.schema.telemetry import LinkRtt


class Heartbeats:
    def __init__(self, node: Node) -> None:
        self._node = node
        self.rtt_ms: dict[str, float] = {}
        self.last_heartbeat_ms: dict[str, float] = {}
        node.on(Heartbeat, self._on_heartbeat)
        node.on(HeartbeatAck, self._on_ack)

    async def run(self) -> None:
        node = self._node
        while True:
            await node.clock.sleep_tick(node.config.heartbeat_interval_ms)
            for peer in node.connected_peers():
                node.send_link(peer, Heartbeat(wall_ms()))

    def _on_heartbeat(self, env: Envelope) -> None:
        assert isinstance(env.body, Heartbeat)
        self.last_heartbeat_ms[env.src] = wall_ms()
        self._node.send_link(env.src, HeartbeatAck(env.body.sent_ms))

    def _on_ack(self, env: Envelope) -> None:
        assert isinstance(env.body, HeartbeatAck)
        now_ms = wall_ms()
        # The wall clock may step backwards; a negative RTT would be nonsense.
        rtt_ms = max(0.0, now_ms - env.body.echo_sent_ms)
        self.rtt_ms[env.src] = rtt_ms
        self._node.emit(LinkRtt(self._node.id, now_ms, env.src, rtt_ms))
