"""One node: its links, its message handlers, its counters and its telemetry.

This is the seam the protocol layers build on. ``send(dst, body)`` wraps a
body in an ``Envelope`` with the next sequence number and hands it to the
next hop that the node's forwarding table names; ``on(MessageType, handler)``
registers who handles a received body. Every frame sent, received, forwarded
or dropped is counted and reported as a telemetry event, so the dashboard
sees each message move along its real path.

Two ways to send, as in a real network stack:

* ``send(dst, body)``: to any node. If ``dst`` is not a neighbour, each node
  on the way forwards the message by *its own* table (``table.decide``),
  spending one unit of the envelope's hop budget (TTL) per hop. No route:
  dropped as ``no_route``; budget spent: ``ttl``. Raft, files and chatter use
  this.
* ``send_link(peer, body)``: one hop on the link to neighbour ``peer``, never
  forwarded. Routing's own messages and heartbeats use it: they are about
  the link itself, and they must work before any route exists.

The node keeps connections only to its topology neighbours (``neighbours``);
``apply_links`` changes that set while running, and ``watch_links`` tells
the routing layer about every change.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import random
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from cluster.config import NeighbourLink, NodeConfig
from cluster.core.routing.forwarding import Deliver, Forward, ForwardingTable
from cluster.node.clock import ScaledClock, sleep_to_grid, wall_ms
from cluster.node.faults import FaultGate
from cluster.node.link import OutgoingLink, Written
from cluster.node.peer_server import PeerServer
from cluster.node.shaping import Shaper, Shaping
from cluster.node.telemetry import Telemetry
from cluster.schema.codec import encode_frame
from cluster.schema.messages import Envelope, Hello, encode_envelope, frame_envelope
from cluster.schema.telemetry import (
    MSG_TEXT_MAX_CHARS,
    BadFrame,
    Counters,
    LinkConfig,
    LinkUp,
    NodeUp,
    msg_dropped_row,
    msg_received_row,
    msg_sent_row,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
MessageHandler = Callable[[Envelope], None]
CommandHandler = Callable[[Any], None]
# Called for every envelope of its type that this node originates or receives,
# *instead of* the forwarding decision (a trace probe records its hop first).
TransitHook = Callable[[Envelope], None]
# (peer, change) with change one of LINK_CHANGES, for the routing layer.
LinkWatcher = Callable[[str, str], None]
LINK_CHANGES = ("added", "removed", "cost", "up", "down")

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
        self._transit: dict[type[Any], TransitHook] = {}
        self._link_watchers: list[LinkWatcher] = []
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
        # Forwarding decisions; the routing layer installs every new table.
        self.table = ForwardingTable.of(self.id, {})
        # Loss draws come from the run's seed, so a lossy run is repeatable per node.
        self.loss_rng = random.Random(f"{config.seed}/{self.id}/loss")
        self.address_book = {peer.node: peer for peer in config.peers}
        self.neighbours: dict[str, NeighbourLink] = {}
        self.links: dict[str, OutgoingLink] = {}
        # Partitions, one-way rules and link faults sent by the hub (SetFaults);
        # its draws are seeded like the loss draws, so a faulty run repeats.
        self.faults = FaultGate(
            self.id,
            self.links,
            random.Random(f"{config.seed}/{self.id}/faults"),
            lambda: self.clock.time_scale,
            self.counters,
            self.on_dropped,
        )
        self._link_tasks: dict[str, asyncio.Task[None]] = {}
        # Shared with the server: only current neighbours may open a stream to us.
        self._known_peers: set[str] = set()
        self.server = PeerServer(config.run_id, secret, self._known_peers, self)
        self._started = False
        # Hold-and-step (hold.py): a message this node originates is offered to
        # ``hold_outgoing`` first, which may keep it (True) to send it later;
        # while ``timers_frozen`` Raft's clock stands still.
        self.hold_outgoing: Callable[[Envelope], bool] | None = None
        self.timers_frozen = False
        for neighbour in config.neighbours():
            self._add_link(neighbour)

    # -- the seam for protocol layers ------------------------------------

    def send(self, dst: str, body: Any) -> None:
        """Send ``body`` to node ``dst`` along the routes; never blocks, a failure is
        a counted drop."""
        self._seq += 1
        env = Envelope(self.id, dst, self._seq, body)
        if self.hold_outgoing is not None and self.hold_outgoing(env):
            return  # kept by hold-and-step; it calls forward() when released
        self.forward(env, local=True)

    def send_link(self, peer: str, body: Any) -> None:
        """Send ``body`` one hop to neighbour ``peer``, whatever the routes say."""
        self._seq += 1
        self.put_on_link(peer, Envelope(self.id, peer, self._seq, body))

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

    def on_transit(self, message_type: type[T], hook: Callable[[Envelope], None]) -> None:
        """Let ``hook(envelope)`` decide what happens to every ``message_type`` envelope
        this node originates or receives (it may record the hop, then forward)."""
        if message_type in self._transit:
            raise ValueError(f"{self.id}: a transit hook for {message_type.__name__} exists")
        self._transit[message_type] = hook

    def watch_links(self, watcher: Callable[[str, str], None]) -> None:
        """Call ``watcher(peer, change)`` on every change of a neighbour (LINK_CHANGES)."""
        self._link_watchers.append(watcher)

    def emit(self, event: Any) -> None:
        self.telemetry.emit(event)

    def next_hop(self, dst: str) -> str | None:
        return self.table.next_hop(dst)

    def set_table(self, table: ForwardingTable) -> None:
        self.table = table

    def connected_peers(self) -> list[str]:
        return [peer for peer, link in self.links.items() if link.connected]

    def spawn(self, coro: Any, name: str) -> asyncio.Task[None]:
        """Run a background task owned by the node (cancelled on shutdown)."""
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    # -- lifecycle --------------------------------------------------------

    async def start(self) -> None:
        await self.server.start(self.config.host, self.config.peer_port)
        self.spawn(self.telemetry.run(), "telemetry")
        self._started = True
        for peer in self.links:
            self._start_link(peer)
        self.emit(self.link_config_event())

    async def close(self) -> None:
        self.faults.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.server.close()

    async def report_counters(self) -> None:
        while True:
            await sleep_to_grid(COUNTERS_INTERVAL_S)  # with the other timers (clock.py)
            self.emit(self.counters_event())

    def counters_event(self) -> Counters:
        snapshot = dict(self.counters)
        snapshot["telemetry_dropped"] = self.telemetry.dropped_total
        return Counters(self.id, wall_ms(), snapshot)

    # -- neighbours ---------------------------------------------------------

    def apply_links(self, wanted: Iterable[NeighbourLink]) -> None:
        """Make ``wanted`` the node's neighbour set: connect, disconnect, re-shape.

        The caller has checked the values (neighbours.py); a peer missing
        from the address book is a caller bug.
        """
        by_peer = {n.peer: n for n in wanted}
        for peer in [p for p in self.neighbours if p not in by_peer]:
            self._remove_link(peer)
            self._notify(peer, "removed")
        for peer, neighbour in by_peer.items():
            old = self.neighbours.get(peer)
            if old is None:
                self._add_link(neighbour)
                if self._started:
                    self._start_link(peer)
                self._notify(peer, "added")
            elif old != neighbour:
                self.neighbours[peer] = neighbour
                self.links[peer].shaper.set_shaping(_shaping(neighbour))
                if old.cost != neighbour.cost:
                    self._notify(peer, "cost")
        self.emit(self.link_config_event())

    def link_config_event(self) -> LinkConfig:
        links = {}
        for peer, n in sorted(self.neighbours.items()):
            entry = n.to_dict()
            del entry["peer"]
            links[peer] = entry
        return LinkConfig(self.id, wall_ms(), links)

    def _add_link(self, neighbour: NeighbourLink) -> None:
        peer = neighbour.peer
        addr = self.address_book[peer]
        hello = Envelope(self.id, peer, HELLO_SEQ, Hello(self.id, self.config.run_id))
        hello_frame = encode_frame(self.secret, encode_envelope(hello))
        shaper = Shaper(_shaping(neighbour), self.loss_rng, lambda: self.clock.time_scale)
        self.neighbours[peer] = neighbour
        self.links[peer] = OutgoingLink(addr, hello_frame, self, self.rng, shaper)
        self._known_peers.add(peer)

    def _start_link(self, peer: str) -> None:
        self._link_tasks[peer] = self.spawn(self.links[peer].run(), f"link-{peer}")

    def _remove_link(self, peer: str) -> None:
        del self.neighbours[peer]
        del self.links[peer]
        self._known_peers.discard(peer)
        task = self._link_tasks.pop(peer, None)
        if task is not None:
            task.cancel()  # its teardown drops what was queued, as link_lost
        self.server.disconnect(peer)

    def _notify(self, peer: str, change: str) -> None:
        for watcher in self._link_watchers:
            watcher(peer, change)

    # -- forwarding and delivery -------------------------------------------

    def forward(self, env: Envelope, local: bool = False) -> None:
        """Deliver, forward or drop ``env`` by this node's table (``local``: we made it)."""
        hook = self._transit.get(type(env.body))
        if hook is not None:
            hook(env)
            return
        decision = self.table.decide(env.dst, env.ttl)
        if isinstance(decision, Forward):
            self.put_on_link(
                decision.next_hop, Envelope(env.src, env.dst, env.seq, env.body, decision.ttl)
            )
        elif isinstance(decision, Deliver):
            if local:  # never re-enter the sender's own code from inside send()
                asyncio.get_running_loop().call_soon(self._dispatch, env)
            else:
                self._dispatch(env)
        else:
            self.on_dropped(env, decision.reason)

    def put_on_link(self, peer: str, env: Envelope) -> str | None:
        """Queue ``env`` on the link to neighbour ``peer``; the drop reason if it cannot be."""
        link = self.links.get(peer)
        if link is None:
            reason: str | None = "no_link"
        else:
            frame = frame_envelope(self.secret, env)
            if self.faults.active:  # network faults (faults.py) see every frame
                reason = self.faults.send(peer, env, frame, link)
            else:
                reason = link.enqueue(env, frame)
        if reason is not None:
            self.on_dropped(env, reason)
        return reason

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
        self._notify(peer, "up" if up else "down")

    def on_frames_written(self, peer: str, sent: list[Written]) -> None:
        node = self.id
        emit_row = self.telemetry.emit_row  # rows, not dataclasses: one per message hop
        size_total = 0
        # t_ms is when the frame entered the link: an injected delay is part of its flight.
        for env, size_bytes, queued_ms in sent:
            size_total += size_bytes
            text = env.text()[:MSG_TEXT_MAX_CHARS]  # what the timeline shows on hover
            emit_row(
                msg_sent_row(
                    node, queued_ms, env.src, env.dst, env.seq, env.kind, peer, size_bytes, text
                )
            )
        self.counters["frames_sent"] += len(sent)
        self.counters["bytes_sent"] += size_total

    def on_dropped(self, env: Envelope, reason: str) -> None:
        self.counters[f"dropped_{reason}"] += 1
        self.telemetry.emit_row(
            msg_dropped_row(self.id, wall_ms(), env.src, env.dst, env.seq, env.kind, reason)
        )

    def on_envelope(self, env: Envelope, frm: str, size_bytes: int) -> None:
        self.counters["frames_received"] += 1
        self.counters["bytes_received"] += size_bytes
        self.telemetry.emit_row(
            msg_received_row(
                self.id, wall_ms(), env.src, env.dst, env.seq, env.kind, frm, size_bytes
            )
        )
        self.forward(env)

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


def _shaping(neighbour: NeighbourLink) -> Shaping:
    return Shaping(
        neighbour.latency_ms, neighbour.jitter_ms, neighbour.loss, neighbour.bandwidth_mbps
    )
