"""The hub: every node's telemetry in, one batched stream out to browsers.

Nodes send events in batches over TCP (``TelemetryServer``). The hub turns
each event into the JSON object a browser receives, keeps the cluster view
(``ClusterView``) and a bounded history, and one background task pushes what
arrived to every browser over Socket.IO:

* ``events`` every ``FANOUT_INTERVAL_S`` while there is something to send,
  as ONE emit per interval: at 20,000 events/s one emit per event would cost
  more than the events themselves;
* ``stats`` once a second (rates and drop counters);
* ``view`` when a node's state or a link changed, and at most once a second
  when only details (RTTs, counters) did.

Every event received is also kept in ``history`` (backend/history.py), with
the hub's receive time, for the timeline and the history export; the hub
adds ``NodeState`` records when a node's state changes and ``Mark`` records
(``note()``) when something is done to the cluster.

Watching must never slow the cluster down, and a slow browser must not make
the hub grow without bound: past ``OUTBOX_EVENTS_LIMIT`` undelivered events,
the oldest are dropped and counted in ``hub_dropped``, which the page shows.
Buffers are also sized in time: a traffic event (``SHEDDABLE_EVENTS``) older
than ``MAX_SHEDDABLE_AGE_MS`` when its tick comes is dropped and counted the
same way, so overload shows as counted drops, not as seconds of lag.

Flow control per browser: a page acknowledges every ``events`` batch once it
has handled it (``events_ack``). A page with ``MAX_EVENT_BATCHES_IN_FLIGHT``
unacknowledged batches is skipped (the batch counts in ``hub_dropped``)
instead of having more queued in front of it, because a queue there (the
Socket.IO writer's, the kernel's socket buffers) is only seconds of lag that
no counter shows. A client that never acknowledges is not flow-controlled.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from backend.history import HISTORY_EVENTS_LIMIT, History
from backend.services import ProcessStatus
from backend.telemetry_server import TelemetryServer
from backend.view import ClusterView
from cluster.schema.control import encode_command
from cluster.schema.telemetry import (
    SHEDDABLE_EVENT_NAMES,
    TELEMETRY,
    Counters,
    LinkRtt,
    LinkUp,
    MsgReceived,
    NodeUp,
)

log = logging.getLogger(__name__)

# 40 ms batches: 25 updates a second look continuous to the eye, and each
# interval adds at most 40 ms to the 250 ms event-to-page latency budget.
FANOUT_INTERVAL_S = 0.040
STATS_INTERVAL_S = 1.0
# Half a second at the 20,000 events/s the dashboard is built for: a browser
# further behind than that has already lost the 250 ms latency target, so we
# drop (and count) rather than let the delay grow.
OUTBOX_EVENTS_LIMIT = 10_000
# Of the 250 ms event-to-page budget, what an event may have used before the
# hub emits it; the rest is for JSON, the WebSocket and the page. Older
# traffic events are dropped (and counted in hub_dropped) instead of sent late.
MAX_SHEDDABLE_AGE_MS = 200.0
# Batches sent to one page and not yet acknowledged. Two 40 ms ticks cover
# a normal round trip to a page that keeps up; more would only queue.
MAX_EVENT_BATCHES_IN_FLIGHT = 2
# Events in one emit: 2.5x a tick's share of 20,000 events/s. A bigger batch
# is a backlog; its oldest events are dropped (counted), since a page busy
# with one huge batch delays every event in it and all that follow.
MAX_EVENTS_PER_EMIT = 2_000

_VIEW_EVENTS = frozenset({NodeUp, LinkUp, LinkRtt, Counters})


class Emitter(Protocol):
    """The part of ``flask_socketio.SocketIO`` the hub uses."""

    def emit(self, event: str, *args: Any, **kwargs: Any) -> None: ...
    def sleep(self, seconds: float = 0) -> Any: ...
    def start_background_task(self, target: Callable[..., Any], *args: Any) -> Any: ...


class Hub:
    def __init__(
        self,
        secret: bytes,
        run_id: str = "",
        time_scale: float = 1.0,
        host: str = "127.0.0.1",
        outbox_limit: int = OUTBOX_EVENTS_LIMIT,
        history_limit: int = HISTORY_EVENTS_LIMIT,
    ) -> None:
        self.view = ClusterView(run_id, time_scale)
        self.server = TelemetryServer(
            secret,
            self._on_batch,
            self._on_disconnect,
            host=host,
            on_connect=self._on_connect,
            on_raw=self._on_raw,
        )
        self._outbox_limit = outbox_limit
        self._lock = threading.Lock()
        self._outbox: list[dict[str, Any]] = []
        self.history = History(history_limit)
        self._hub_dropped = 0
        self._telemetry_dropped: dict[str, int] = {}
        self._window_events = 0
        self._window_msgs = 0
        self._last_stats: dict[str, Any] = _stats(0, 0, {}, 0)
        # Commands a node must also get when it (re)connects later, one per
        # type: a node restarted after "slow motion" was chosen must be slow too.
        self._sticky: dict[type, Any] = {}
        # The same, for one node only (its own neighbour set after a topology edit).
        self._node_sticky: dict[tuple[str, type], Any] = {}
        # Other parts of the backend that read telemetry (routing tables, traces).
        self._listeners: list[Callable[[str, list[Any]], None]] = []
        self._browsers = 0  # open Socket.IO connections
        # sid -> events batches sent but not yet acknowledged, for pages that ack
        self._unacked: dict[str, int] = {}
        self._acking: set[str] = set()  # sids that have acknowledged at least once
        self._events_seq = 0
        self._stopping = threading.Event()
        self._task: Any = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> int:
        """Start the telemetry TCP server; return its port for the nodes."""
        return self.server.start()

    @property
    def port(self) -> int:
        return self.server.port

    def start_fanout(self, socketio: Emitter) -> None:
        """Start the one background task that pushes to browsers."""
        if self._task is None:
            self._task = socketio.start_background_task(self._fanout_loop, socketio)

    def stop(self) -> None:
        self._stopping.set()
        self.server.stop()
        task, self._task = self._task, None
        # threading mode: wait for the last tick; an eventlet task ends on its own
        if isinstance(task, threading.Thread):
            task.join(timeout=2.0)

    # -- inputs ------------------------------------------------------------

    def on_status(self, status: ProcessStatus) -> None:
        """Launcher callback: a node's process changed state."""
        self.view.on_status(status)
        self._track_states()

    def add_listener(self, listener: Callable[[str, list[Any]], None]) -> None:
        """Call ``listener(node, events)`` for every batch, on the receiving thread.

        It must be quick and must not raise: it runs before the batch is queued.
        """
        self._listeners.append(listener)

    def _on_connect(self, node: str) -> None:
        with self._lock:
            sticky = list(self._sticky.values())
            sticky += [c for (n, _), c in self._node_sticky.items() if n == node]
        for cmd in sticky:
            self.server.send(node, encode_command(cmd))

    def _on_batch(self, node: str, dropped_total: int, events: list[Any]) -> None:
        to_dict = TELEMETRY.to_dict
        dicts = [to_dict(e) for e in events]
        msgs = 0
        for_view = []
        for e in events:
            kind = type(e)
            if kind is MsgReceived:
                msgs += 1
            elif kind in _VIEW_EVENTS:
                for_view.append(e)
        self.view.on_events(node, for_view)
        if any(type(e) is NodeUp for e in for_view):
            self._track_states()
        for listener in self._listeners:
            listener(node, events)
        with self._lock:
            self._queue_locked(dicts)
            self._window_events += len(dicts)
            self._window_msgs += msgs
            self._telemetry_dropped[node] = dropped_total

    def _on_raw(self, node: str, body: bytes, count: int) -> None:
        # the batch's own bytes, just before _on_batch: ten times smaller than its dicts
        self.history.extend_raw(body, count, time.time() * 1000.0)

    def _on_disconnect(self, node: str) -> None:
        self.view.on_disconnect(node)
        self._track_states()

    def _track_states(self) -> None:
        """A ``NodeState`` record (history and live stream) per node whose state changed."""
        records = self.history.track_states(self.view.node_dicts(), time.time() * 1000.0)
        if records:
            with self._lock:
                self._queue_locked(records)

    def note(self, kind: str, text: str, node: str = "") -> dict[str, Any]:
        """Mark something done to the cluster on the timeline (a fault, a chaos or lesson step).

        ``kind`` names who did it (``action``, ``chaos``, ``lesson``...), ``text``
        says what, in one line; ``node`` is empty when it concerns the whole
        cluster. Recorded in the history and sent to the pages like an event.
        """
        record = self.history.note(kind, text, time.time() * 1000.0, node)
        with self._lock:
            self._queue_locked([record])
        return record

    def _queue_locked(self, events: list[dict[str, Any]]) -> None:
        """Add to the outbox (the lock held); past its limit the oldest go, counted."""
        self._outbox.extend(events)
        overflow = len(self._outbox) - self._outbox_limit
        if overflow > 0:
            del self._outbox[:overflow]
            self._hub_dropped += overflow

    def browser_connected(self, sid: str | None = None) -> None:
        with self._lock:
            self._browsers += 1
            if sid is not None:
                self._unacked[sid] = 0

    def browser_disconnected(self, sid: str | None = None) -> None:
        with self._lock:
            self._browsers = max(0, self._browsers - 1)
            if sid is not None:
                self._unacked.pop(sid, None)
                self._acking.discard(sid)

    def browser_acked(self, sid: str) -> None:
        """A page has handled one more ``events`` batch (acks arrive in order)."""
        with self._lock:
            self._acking.add(sid)
            self._unacked[sid] = max(0, self._unacked.get(sid, 0) - 1)

    # -- commands to nodes -------------------------------------------------

    def send_command(self, node_id: str, cmd: Any) -> bool:
        """Send one control command to a node; False if it is not connected."""
        return self.server.send(node_id, encode_command(cmd))

    def remember_for(self, node_id: str, cmd: Any) -> None:
        """Replay ``cmd`` to ``node_id`` whenever it connects (one per command type)."""
        with self._lock:
            self._node_sticky[(node_id, type(cmd))] = cmd

    def broadcast_command(self, cmd: Any, sticky: bool = True) -> list[str]:
        """Send a command to every connected node; return the nodes reached.

        ``sticky`` commands are also replayed to nodes that connect later.
        """
        if sticky:
            with self._lock:
                self._sticky[type(cmd)] = cmd
        return [n for n in self.server.connected_nodes() if self.send_command(n, cmd)]

    def publish(self, event: dict[str, Any]) -> None:
        """Add an event the backend itself originates (a lesson step, a chaos fault).

        It joins the nodes' events: browsers get it in the next ``events``
        batch and the history keeps it, so the timeline can mark it. It needs
        ``type``, ``node`` and ``t_ms`` like every event.
        """
        self.history.extend([event], time.time() * 1000.0)
        with self._lock:
            self._queue_locked([event])
            self._window_events += 1

    # -- readers -----------------------------------------------------------

    def recent_events(self, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` events received, oldest first (``GET /api/events``)."""
        return self.history.last(limit)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._last_stats)

    # -- the fan-out task --------------------------------------------------

    def _fanout_loop(self, socketio: Emitter) -> None:
        window_start_s = time.monotonic()
        next_stats_s = window_start_s + STATS_INTERVAL_S
        next_tick_s = window_start_s
        while not self._stopping.is_set():
            # a fixed beat, not a fixed pause: a slow tick does not push the next one back
            next_tick_s += FANOUT_INTERVAL_S
            now_s = time.monotonic()
            if next_tick_s < now_s:
                next_tick_s = now_s  # fell behind: carry on, do not burst to catch up
            socketio.sleep(next_tick_s - now_s)
            try:
                now_s = time.monotonic()
                due_stats = now_s >= next_stats_s
                self._fanout_once(socketio, due_stats, now_s - window_start_s)
                if due_stats:
                    window_start_s = now_s
                    next_stats_s = now_s + STATS_INTERVAL_S
            except Exception:  # a bad tick must not end the dashboard's stream
                log.exception("hub: fan-out failed")

    def _fanout_once(self, socketio: Emitter, due_stats: bool, window_s: float) -> None:
        with self._lock:
            batch, self._outbox = self._outbox, []
            watched = self._browsers > 0
        if self.view.take_changes(details_too=due_stats):
            socketio.emit("view", self.view.to_dict())
        if batch and watched:  # encoding 800 events for nobody is a waste of a core
            now_ms = time.time() * 1000.0
            batch = self._shed_stale(batch, now_ms)
            if len(batch) > MAX_EVENTS_PER_EMIT:
                kept = _trim_traffic(batch, MAX_EVENTS_PER_EMIT)
                with self._lock:
                    self._hub_dropped += len(batch) - len(kept)
                batch = kept
            if batch:
                self._emit_events(socketio, batch, now_ms)
        if due_stats:
            socketio.emit("stats", self._take_stats(window_s))

    def _emit_events(self, socketio: Emitter, batch: list[dict[str, Any]], now_ms: float) -> None:
        with self._lock:
            behind = [
                sid
                for sid in self._acking
                if self._unacked.get(sid, 0) >= MAX_EVENT_BATCHES_IN_FLIGHT
            ]
            if behind and len(behind) >= len(self._unacked):
                # Nobody can take it now: keep it for the next tick, where it
                # is sent or, once stale, shed and counted.
                self._outbox[:0] = batch
                return
            self._hub_dropped += len(batch) * len(behind)
            for sid in self._unacked:
                if sid not in behind:
                    self._unacked[sid] += 1
            self._events_seq += 1
            seq = self._events_seq
        payload = {"events": batch, "t_ms": now_ms, "seq": seq}
        if behind:
            socketio.emit("events", payload, skip_sid=behind)
        else:
            socketio.emit("events", payload)

    def _shed_stale(self, batch: list[dict[str, Any]], now_ms: float) -> list[dict[str, Any]]:
        cutoff_ms = now_ms - MAX_SHEDDABLE_AGE_MS
        shed = SHEDDABLE_EVENT_NAMES
        kept = [e for e in batch if e["t_ms"] >= cutoff_ms or e["type"] not in shed]
        if len(kept) < len(batch):
            with self._lock:
                self._hub_dropped += len(batch) - len(kept)
        return kept

    def _take_stats(self, window_s: float) -> dict[str, Any]:
        with self._lock:
            events, msgs = self._window_events, self._window_msgs
            self._window_events = self._window_msgs = 0
            stats = _stats(
                msgs / window_s if window_s > 0 else 0.0,
                events / window_s if window_s > 0 else 0.0,
                dict(self._telemetry_dropped),
                self._hub_dropped,
            )
            self._last_stats = stats
            return dict(stats)


def _stats(
    msgs_per_s: float, events_per_s: float, telemetry_dropped: dict[str, int], hub_dropped: int
) -> dict[str, Any]:
    return {
        "msgs_per_s": round(msgs_per_s, 1),
        "events_per_s": round(events_per_s, 1),
        "telemetry_dropped": telemetry_dropped,
        "hub_dropped": hub_dropped,
    }


def _trim_traffic(batch: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """At most ``limit`` events: state events (roles, routes, client requests)
    are all kept, and the newest traffic events fill the rest, in order."""
    shed = SHEDDABLE_EVENT_NAMES
    traffic = [i for i, e in enumerate(batch) if e["type"] in shed]
    room = max(0, limit - (len(batch) - len(traffic)))
    dropped = set(traffic[: len(traffic) - room])
    return [e for i, e in enumerate(batch) if i not in dropped]
