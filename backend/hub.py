"""The hub: every node's telemetry in, one batched stream out to browsers.

Nodes send events in batches over TCP (``TelemetryServer``). The hub keeps
the cluster view (``ClusterView``) and a bounded history, and one background
task pushes what arrived to every browser over Socket.IO. Traffic events
(thousands a second) travel on as the rows they arrived in, with the names
of their fields once per batch (``rows``); every other event is a JSON
object with a ``type`` key (cluster/schema/telemetry.py, ``WireBatch``).

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

Two audiences (backend/audience.py, with the per-page flow control): the
pages that presented the instructor token get every event; read-only
viewers get every state event and a capped sample of the traffic
(backend/viewer_stream.py), each audience one emit per tick. The
instructor's batch is queued first, before any work is done for viewers:
emitting only queues the packet for each socket's writer thread, so the
order of the two emits is the order in which the bytes leave, and a room of
fifty viewers is served after the projected page, never in front of it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from backend.audience import Audience
from backend.history import HISTORY_EVENTS_LIMIT, History
from backend.services import ProcessStatus
from backend.telemetry_server import TelemetryServer
from backend.view import ClusterView
from backend.viewer_stream import VIEWER_TRAFFIC_EVENTS_PER_S, TrafficSampler
from cluster.schema.control import encode_command
from cluster.schema.telemetry import (
    T_MS_INDEX,
    TRAFFIC_ROW_FIELDS,
    Counters,
    LinkRtt,
    LinkUp,
    NodeUp,
    WireBatch,
    WireEvent,
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
# Viewers get a batch every second tick (80 ms). A batch costs the backend
# about the same per viewer whatever its size (the send and its
# acknowledgement, ~0.25 ms measured), and a sampled picture gains nothing
# from 25 updates a second: the page animates each dot at its own pace, from
# the dot's own t_ms. Halving the batches halves the cost of a room.
VIEWER_BATCH_EVERY_TICKS = 2
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
        self._outbox: list[WireEvent] = []
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
        self._instructors = Audience()  # pages that presented the token: every event
        self._viewers = Audience()  # everyone else: state events and sampled traffic
        self._sampler = TrafficSampler()
        self._sampled_at_window_start = (0, 0)  # sampler's (kept, left out) totals
        # Held while a view is sent to pages: a page's first view and its
        # registration happen under it, so no newer view, and no events
        # batch, can reach a new page before its first view.
        self._send_lock = threading.Lock()
        self._events_seq = 0
        self._ticks = 0  # fan-out ticks so far, for VIEWER_BATCH_EVERY_TICKS
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

        ``events`` are the batch's events other than traffic (``MsgSent``,
        ``MsgReceived``, ``MsgDropped`` stay rows for the browsers and are
        never decoded into dataclasses). It must be quick and must not raise:
        it runs before the batch is queued.
        """
        self._listeners.append(listener)

    def _on_connect(self, node: str) -> None:
        with self._lock:
            sticky = list(self._sticky.values())
            sticky += [c for (n, _), c in self._node_sticky.items() if n == node]
        for cmd in sticky:
            self.server.send(node, encode_command(cmd))

    def _on_batch(self, batch: WireBatch) -> None:
        node, events = batch.node, batch.events
        for_view = [e for e in events if type(e) in _VIEW_EVENTS]
        self.view.on_events(node, for_view)  # also for none: a batch says the node is connected
        if any(type(e) is NodeUp for e in for_view):
            self._track_states()
        for listener in self._listeners:
            listener(node, events)
        with self._lock:
            self._queue_locked(batch.wire)
            self._window_events += len(batch.wire)
            self._window_msgs += batch.msgs_received
            self._telemetry_dropped[node] = batch.dropped_total

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

    def _queue_locked(self, events: Sequence[WireEvent]) -> None:
        """Add to the outbox (the lock held); past its limit the oldest go, counted."""
        self._outbox.extend(events)
        overflow = len(self._outbox) - self._outbox_limit
        if overflow > 0:
            del self._outbox[:overflow]
            self._hub_dropped += overflow

    def browser_connected(
        self, sid: str, instructor: bool = False, greet: Callable[[], None] | None = None
    ) -> None:
        """A page connected; from the next tick it gets the ``events`` of its audience.

        ``greet`` sends the page what it needs first (the whole view). It
        runs before the page is registered, and no view is sent to pages
        meanwhile, so neither a batch nor a newer view can overtake it.
        """
        with self._send_lock:
            if greet is not None:
                greet()
            with self._lock:
                self._audience(instructor).add(sid)

    def browser_disconnected(self, sid: str) -> None:
        with self._lock:
            self._instructors.remove(sid)
            self._viewers.remove(sid)

    def browser_acked(self, sid: str) -> None:
        """A page has handled one more ``events`` batch (acks arrive in order)."""
        with self._lock:
            if not self._instructors.acked(sid):
                self._viewers.acked(sid)

    def set_instructor(self, sid: str, instructor: bool) -> None:
        """Move a connected page to the instructors (token checked) or to the viewers."""
        with self._lock:
            source, target = self._audience(not instructor), self._audience(instructor)
            moved = source.remove(sid)
            if moved is not None:
                target.add(sid, *moved)

    def _audience(self, instructor: bool) -> Audience:
        return self._instructors if instructor else self._viewers

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
            taken, self._outbox = self._outbox, []
            watched = len(self._instructors) + len(self._viewers) > 0
        self._send_view_if_changed(socketio, details_too=due_stats)
        if watched:  # encoding 800 events for nobody is a waste of a core
            now_ms = time.time() * 1000.0
            batch = _shed_and_trim(taken, now_ms)
            with self._lock:
                self._hub_dropped += batch.dropped
            # The projected page first: its batch is queued before the viewers' is built.
            self._deliver(socketio, self._instructors, batch.events, now_ms)
            if len(self._viewers):
                sample, left_out = self._sampler.thin(batch.events, time.monotonic())
                self._ticks += 1
                if self._ticks % VIEWER_BATCH_EVERY_TICKS == 0:
                    self._deliver(socketio, self._viewers, sample, now_ms, left_out)
                else:
                    self._collect(self._viewers, sample, left_out)
        if due_stats:
            socketio.emit("stats", self._take_stats(window_s))

    def _send_view_if_changed(self, socketio: Emitter, details_too: bool) -> None:
        with self._send_lock:
            if not self.view.take_changes(details_too=details_too):
                return
            with self._lock:
                # one list: python-socketio encodes the view once and queues it in this order
                pages = self._instructors.sids() + self._viewers.sids()
            if pages:
                socketio.emit("view", self.view.to_dict(), to=pages)

    def _collect(self, audience: Audience, events: list[WireEvent], left_out: int) -> None:
        """Keep ``events`` for the audience's next batch (sent, or shed when stale, then)."""
        with self._lock:
            audience.pending += events
            audience.left_out += left_out

    def _deliver(
        self,
        socketio: Emitter,
        audience: Audience,
        events: list[WireEvent],
        now_ms: float,
        left_out: int | None = None,
    ) -> None:
        """Send ``events`` to the pages of ``audience`` that are not behind, in one emit.

        ``left_out``: traffic events the sample left out (viewers only); the
        batch says how many were left out since the previous one.
        """
        with self._lock:
            if not len(audience):
                audience.pending, audience.left_out = [], 0
                return
            if audience.pending:  # collected since the last batch, or nobody could take them
                waited = _shed_and_trim(audience.pending + events, now_ms)
                audience.dropped += waited.dropped
                events, audience.pending = waited.events, []
            if left_out is not None:
                audience.left_out += left_out
            if not events:
                return
            ready, behind = audience.recipients()
            if not ready:
                # Keep it for the next tick, where it is sent or, once stale, shed and counted.
                audience.pending = events
                return
            audience.dropped += len(events) * len(behind)
            audience.sent(ready)
            self._events_seq += 1
            payload: dict[str, Any] = {
                "events": events,
                "rows": TRAFFIC_ROW_FIELDS,
                "t_ms": now_ms,
                "seq": self._events_seq,
            }
            if left_out is not None:
                payload["traffic_left_out"], audience.left_out = audience.left_out, 0
        socketio.emit("events", payload, to=ready)

    def _take_stats(self, window_s: float) -> dict[str, Any]:
        def per_s(count: int) -> float:
            return round(count / window_s, 1) if window_s > 0 else 0.0

        sampler = self._sampler
        kept_before, left_out_before = self._sampled_at_window_start
        self._sampled_at_window_start = (sampler.kept_total, sampler.left_out_total)
        with self._lock:
            events, msgs = self._window_events, self._window_msgs
            self._window_events = self._window_msgs = 0
            stats = _stats(
                per_s(msgs),
                per_s(events),
                dict(self._telemetry_dropped),
                self._hub_dropped + self._instructors.dropped,
                {
                    "viewers": len(self._viewers),
                    "instructors": len(self._instructors),
                    "traffic_cap_per_s": sampler.events_per_s,
                    "traffic_kept_per_s": per_s(sampler.kept_total - kept_before),
                    "traffic_left_out_per_s": per_s(sampler.left_out_total - left_out_before),
                    "dropped": self._viewers.dropped,
                },
            )
            self._last_stats = stats
            return dict(stats)


def _stats(
    msgs_per_s: float,
    events_per_s: float,
    telemetry_dropped: dict[str, int],
    hub_dropped: int,
    viewer_stream: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``stats`` message. ``hub_dropped``: events the hub shed, or skipped for an
    instructor's page that was behind; ``viewer_stream``: what viewers got instead."""
    return {
        "msgs_per_s": round(msgs_per_s, 1),
        "events_per_s": round(events_per_s, 1),
        "telemetry_dropped": telemetry_dropped,
        "hub_dropped": hub_dropped,
        "viewer_stream": viewer_stream or _NO_VIEWER_STREAM,
    }


_NO_VIEWER_STREAM: dict[str, Any] = {
    "viewers": 0,
    "instructors": 0,
    "traffic_cap_per_s": VIEWER_TRAFFIC_EVENTS_PER_S,
    "traffic_kept_per_s": 0.0,
    "traffic_left_out_per_s": 0.0,
    "dropped": 0,
}


@dataclass(frozen=True, slots=True)
class _Shed:
    events: list[WireEvent]
    dropped: int  # stale traffic shed, or trimmed to fit one emit


def _shed_and_trim(batch: list[WireEvent], now_ms: float) -> _Shed:
    """Stale traffic out, then at most ``MAX_EVENTS_PER_EMIT`` (state events all kept).

    Traffic events are the rows (lists); every other event is a dict.
    """
    cutoff_ms = now_ms - MAX_SHEDDABLE_AGE_MS
    t_ms = T_MS_INDEX
    kept = [e for e in batch if type(e) is not list or e[t_ms] >= cutoff_ms]
    if len(kept) > MAX_EVENTS_PER_EMIT:
        kept = _trim_traffic(kept, MAX_EVENTS_PER_EMIT)
    return _Shed(kept, len(batch) - len(kept))


def _trim_traffic(batch: list[WireEvent], limit: int) -> list[WireEvent]:
    """At most ``limit`` events: state events (roles, routes, client requests)
    are all kept, and the newest traffic events fill the rest, in order."""
    traffic = [i for i, e in enumerate(batch) if type(e) is list]
    room = max(0, limit - (len(batch) - len(traffic)))
    dropped = set(traffic[: len(traffic) - room])
    return [e for i, e in enumerate(batch) if i not in dropped]
