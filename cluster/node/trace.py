"""Traceroute on the real cluster: a probe that records every node it passes.

``StartTrace(probe_id, target)`` from the hub makes this node send a
``TraceProbe`` towards ``target`` as an ordinary routed message. Every node
that handles it — the origin first — appends its hop record (its name, its
own route cost to the target, the time) and forwards it by its own table,
exactly as it would forward any message (cluster/core/routing/forwarding.py,
``trace_step``). Where the probe ends, reached or dropped (``no_route``,
``ttl``, a link that is down), a ``TraceReply`` with the recorded path is
routed back to the origin, which reports it as a ``TraceResult`` event. The
backend's ``POST /api/trace`` waits for that event.

So a trace shows the path messages *really* take now, hop by hop, with the
time each node handled the probe — not the path the tables say they should.
"""

from __future__ import annotations

from typing import Any

from cluster.core.routing.forwarding import Drop, Forward, trace_step
from cluster.node.clock import wall_ms
from cluster.node.node import Node
from cluster.schema.control import StartTrace
from cluster.schema.messages import DEFAULT_TTL, Envelope
from cluster.schema.routing import TraceProbe, TraceReply
from cluster.schema.telemetry import TraceResult

# A probe is forwarded at most DEFAULT_TTL times, so an honest one never
# records more hops than this; a longer list is malformed and dropped.
MAX_TRACE_HOPS = DEFAULT_TTL + 1


class Tracer:
    def __init__(self, node: Node) -> None:
        self._node = node
        node.on_command(StartTrace, self._on_start)
        node.on_transit(TraceProbe, self._on_probe)
        node.on(TraceReply, self._on_reply)

    def _on_start(self, command: Any) -> None:
        assert isinstance(command, StartTrace)
        node = self._node
        node.send(command.target, TraceProbe(node.id, command.target, command.probe_id, []))

    def _on_probe(self, env: Envelope) -> None:
        node = self._node
        probe = env.body
        assert isinstance(probe, TraceProbe)
        if len(probe.hops) >= MAX_TRACE_HOPS or probe.origin != env.src:
            node.on_dropped(env, "malformed")
            return
        decision, recorded, reply = trace_step(node.table, probe, env.ttl, wall_ms())
        if isinstance(decision, Forward):
            onward = Envelope(env.src, env.dst, env.seq, recorded, decision.ttl)
            reason = node.put_on_link(decision.next_hop, onward)
            if reason is not None:
                reply = TraceReply(
                    probe.origin, probe.target, probe.probe_id, recorded.hops, False, reason
                )
        elif isinstance(decision, Drop):
            node.on_dropped(env, decision.reason)
        if reply is not None:
            if reply.origin == node.id:
                self._report(reply)
            else:
                node.send(reply.origin, reply)

    def _on_reply(self, env: Envelope) -> None:
        reply = env.body
        assert isinstance(reply, TraceReply)
        if reply.origin == self._node.id and len(reply.hops) <= MAX_TRACE_HOPS:
            self._report(reply)

    def _report(self, reply: TraceReply) -> None:
        node = self._node
        hops = [list(h) for h in reply.hops]
        node.emit(
            TraceResult(
                node.id, wall_ms(), reply.probe_id, reply.target, hops, reply.reached, reply.reason
            )
        )
