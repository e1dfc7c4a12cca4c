"""One node: its links, its message handlers, its counters and its telemetry.

This is the seam the protocol layers build on. ``send(dst, body)`` wraps a
body in an ``Envelope`` with the next sequence number and puts it on the link
to the next hop; ``on(MessageType, handler)`` registers who handles a received
body. Every frame sent, received or dropped is counted and reported as a
telemetry event, so the dashboard sees each message move.

Routing is one hop for now: a destination that is not this node and not a
neighbour is dropped as ``no_route``. The routing layer replaces ``next_hop``.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import random
from collections.abc import Callable
from typing import Any, TypeVar

from cluster.config import NodeConfig
from cluster.node.clock import ScaledClock, wall_ms
from cluster.node.link import OutgoingLink
from cluster.node.peer_server import PeerServer
from cluster.node.telemetry import Telemetry
from cluster.schema.codec import encode_frame
from cluster.schema.messages import Envelope, Hello, encode_envelope
from cluster.schema.telemetry import (
    BadFrame,
    Counters,
    LinkUp,
    MsgDropped,
    MsgReceived,
    MsgSent,
    NodeUp,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
MessageHandler = Callable[[Envelope], None]
CommandHandler = Callable[[Any], None]

# Hello goes first on every connection and is not a message of the protocol;
# it takes sequence number 0 so that real messages start at 1.
HELLO_SEQ = 0
# Counters are cumulative, so once a second is plenty for rates on the dashboard.
COUNTERS_INTERVAL_S = 1.0


class Node:
    def __init__(self, config: NodeConfig, secret: bytes, rng: random.Random) -> None:
        self.config = config
        self.id = config.node
        self.secret = secret
        self.rng = rng
        self.clock = ScaledClock(config.time_scale)
        self.counters: collections.Counter[str] = collections.Counter()
        self._seq = HELLO_SEQ
        self._handlers: dict[type[Any], MessageHandler] = {}
        self._command_handlers: dict[type[Any], CommandHandler] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Set by a signal, by the parent's death or by a crashed task.
        self.stopping = asyncio.Event()
        self.exit_code = 0
        self.telemetry = Telemetry(
            self.id,
            config.hub_host,
            config.hub_port,
            secret,
            config.telemetry_flush_ms,
            node_up=self._node_up,
            on_command=self._on_command,
            on_bad_frame=self.on_bad_frame,
            rng=rng,
        )
        self.links: dict[str, OutgoingLink] = {}
        for peer in config.peers:
            hello = Envelope(self.id, peer.node, HELLO_SEQ, Hello(self.id, config.run_id))
            hello_frame = encode_frame(secret, encode_envelope(hello))
            self.links[peer.node] = OutgoingLink(peer, hello_frame, self, rng)
        self.server = PeerServer(config.run_id, secret, set(self.links), self)

    # -- the seam for protocol layers ------------------------------------

    def send(self, dst: str, body: Any) -> None:
        """Send ``body`` to node ``dst``; never blocks, a failure is a counted drop."""
        self._seq += 1
        self.route(Envelope(self.id, dst, self._seq, body))

    def on(self, message_type: type[T], handler: Callable[[Envelope], None]) -> None:
        """Call ``handler(envelope)`` for every received body of ``message_type``."""
        if message_type in self._handlers:
            raise ValueError(f"{self.id}: a handler for {message_type.__name__} exists")
        self._handlers[message_type] = handler

    def on_command(self, command_type: type[T], handler: Callable[[Any], None]) -> None:
        """Call ``handler(command)`` for every control command of ``command_type``."""
        if command_type in self._command_handlers:
            raise ValueError(f"{self.id}: a handler for {command_type.__name__} exists")
        self._command_handlers[command_type] = handler

    def emit(self, event: Any) -> None:
        self.telemetry.emit(event)

    def next_hop(self, dst: str) -> str | None:
        return dst if dst in self.links else None

    def connected_peers(self) -> list[str]:
        return [peer for peer, link in self.links.items() if link.connected]

    def spawn(self, coro: Any, name: str) -> None:
        """Run a background task owned by the node (cancelled on shutdown)."""
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    # -- lifecycle --------------------------------------------------------

    async def start(self) -> None:
        await self.server.start(self.config.host, self.config.peer_port)
        self.spawn(self.telemetry.run(), "telemetry")
        for peer, link in self.links.items():
            self.spawn(link.run(), f"link-{peer}")

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.server.close()

    async def report_counters(self) -> None:
        while True:
            await asyncio.sleep(COUNTERS_INTERVAL_S)
            self.emit(self.counters_event())

    def counters_event(self) -> Counters:
        snapshot = dict(self.counters)
        snapshot["telemetry_dropped"] = self.telemetry.dropped_total
        return Counters(self.id, wall_ms(), snapshot)

    # -- routing and delivery ---------------------------------------------

    def route(self, env: Envelope) -> None:
        if env.dst == self.id:
            asyncio.get_running_loop().call_soon(self._dispatch, env)
            return
        hop = self.next_hop(env.dst)
        if hop is None:
            self.on_dropped(env, "no_route")
            return
        reason = self.links[hop].enqueue(env, encode_frame(self.secret, encode_envelope(env)))
        if reason is not None:
            self.on_dropped(env, reason)

    def _dispatch(self, env: Envelope) -> None:
        handler = self._handlers.get(type(env.body))
        if handler is None:
            self.counters["msgs_unhandled"] += 1
            return
        try:
            handler(env)
        except Exception:
            # Our bug, not the peer's: log it loudly but keep the node serving.
            self.counters["handler_errors"] += 1
            log.exception("%s: handler for %s failed", self.id, env.kind)

    # -- LinkListener and PeerListener ------------------------------------

    def on_link_state(self, peer: str, up: bool) -> None:
        self.counters["links_up" if up else "links_lost"] += 1
        self.emit(LinkUp(self.id, wall_ms(), peer, up))

    def on_frames_written(self, peer: str, sent: list[tuple[Envelope, int]]) -> None:
        t_ms = wall_ms()
        node = self.id
        emit = self.telemetry.emit
        size_total = 0
        for env, size_bytes in sent:
            size_total += size_bytes
            emit(MsgSent(node, t_ms, env.src, env.dst, env.seq, env.kind, peer, size_bytes))
        self.counters["frames_sent"] += len(sent)
        self.counters["bytes_sent"] += size_total

    def on_dropped(self, env: Envelope, reason: str) -> None:
        self.counters[f"dropped_{reason}"] += 1
        self.emit(MsgDropped(self.id, wall_ms(), env.src, env.dst, env.seq, env.kind, reason))

    def on_envelope(self, env: Envelope, frm: str, size_bytes: int) -> None:
        self.counters["frames_received"] += 1
        self.counters["bytes_received"] += size_bytes
        self.emit(
            MsgReceived(self.id, wall_ms(), env.src, env.dst, env.seq, env.kind, frm, size_bytes)
        )
        if env.dst == self.id:
            self._dispatch(env)
        elif env.ttl <= 1:
            self.on_dropped(env, "ttl")
        else:
            self.route(env.hop())

    def on_bad_frame(self, peer: str, reason: str) -> None:
        self.counters[f"bad_frame_{reason}"] += 1
        log.warning("%s: refused a frame from %s: %s", self.id, peer, reason)
        self.emit(BadFrame(self.id, wall_ms(), peer, reason))

    # -- internals ----------------------------------------------------------

    def _node_up(self) -> NodeUp:
        host = self.config.host
        return NodeUp(
            self.id,
            wall_ms(),
            os.getpid(),
            f"{host}:{self.config.peer_port}",
            f"{host}:{self.config.client_port}",
        )

    def _on_command(self, command: Any) -> None:
        handler = self._command_handlers.get(type(command))
        if handler is None:
            self.counters["commands_unhandled"] += 1
            return
        self.counters["commands"] += 1
        try:
            handler(command)
        except ValueError as exc:
            self.counters["commands_refused"] += 1
            log.warning("%s: refused command %r: %s", self.id, command, exc)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # A background task is part of the node; without it the node would
            # only look alive. Exit loudly so the supervisor reports it down.
            log.error("%s: task %s failed", self.id, task.get_name(), exc_info=task.exception())
            self.exit_code = 1
            self.stopping.set()
