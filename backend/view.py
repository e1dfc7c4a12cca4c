"""The cluster as the dashboard shows it, merged from two witnesses.

The launcher knows the *process*: running, paused (SIGSTOP) or down, and its
pid. The node's own telemetry knows whether the program inside is *serving*:
a process that has been spawned but has not yet said ``NodeUp`` is
"starting". Neither alone is the truth a student should see, so the view
keeps both and derives one state per node:

    launcher says   telemetry says                       state
    down            (anything)                           down
    paused          (anything)                           paused
    running         NodeUp from this very pid            up
    running         nothing yet from this pid            starting

A backend without a launcher (tests, a hub watching someone else's nodes)
still works: a node known only from telemetry is "up" while its telemetry
connection is open and "down" after it closes.

The view also keeps what each node reports about its neighbours: the
round-trip time per peer, the latest counters, and whether each link is up.
It is read by REST handlers, the launcher's thread and the hub's threads at
once, so every method takes the one lock.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from backend.services import ProcessStatus
from cluster.schema.telemetry import Counters, LinkRtt, LinkUp, NodeUp


@dataclass
class _Node:
    id: str
    process: str | None = None  # launcher's word; None when known only from telemetry
    pid: int | None = None
    addr: str = ""
    client_addr: str = ""
    restarts: int = 0
    exit_code: int | None = None
    up_pid: int | None = None  # pid named by the latest NodeUp
    connected: bool = False  # its telemetry connection is open
    rtt_ms: dict[str, float] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    links: dict[str, bool] = field(default_factory=dict)  # peer → up, as this node reports

    def state(self) -> str:
        if self.process == "down":
            return "down"
        if self.process == "paused":
            return "paused"
        if self.process == "running":
            return "up" if self.up_pid is not None and self.up_pid == self.pid else "starting"
        return "up" if self.connected and self.up_pid is not None else "down"

    def forget_process_life(self) -> None:
        """Drop what a previous incarnation of the process said about itself."""
        self.rtt_ms = {}
        self.counters = {}
        self.links = {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state(),
            "pid": self.pid,
            "addr": self.addr,
            "client_addr": self.client_addr,
            "restarts": self.restarts,
            "exit_code": self.exit_code,
            # a dead or frozen process measures nothing; its last RTTs would mislead
            "rtt_ms": dict(self.rtt_ms) if self.state() == "up" else {},
            "counters": dict(self.counters),
        }


def _apply_status(node: _Node, status: ProcessStatus) -> None:
    # Callbacks arrive on the launcher's thread and may trail a reply built
    # with preview(), so nothing here may depend on arrival order: the state
    # is derived from pids (see state()), and only a pid that telemetry has
    # not already announced starts a new life.
    new_life = status.pid is not None and status.pid not in (node.pid, node.up_pid)
    if new_life:
        node.forget_process_life()
    node.process = status.process
    node.pid = status.pid
    node.addr = status.addr
    node.client_addr = status.client_addr
    node.restarts = status.restarts
    node.exit_code = status.exit_code


def _node_sort_key(node_id: str) -> tuple[int, str]:
    # n2 before n10, as a person counts
    digits = node_id.lstrip("n")
    return (int(digits), node_id) if digits.isdigit() else (1 << 30, node_id)


def _pair_sort_key(a: str, b: str) -> tuple[tuple[int, str], tuple[int, str]]:
    return _node_sort_key(a), _node_sort_key(b)


class ClusterView:
    """Thread-safe cluster view; ``to_dict()`` is the ``GET /api/cluster`` body."""

    def __init__(self, run_id: str = "", time_scale: float = 1.0) -> None:
        self._lock = threading.Lock()
        self._nodes: dict[str, _Node] = {}
        # Nodes removed from the cluster. Ids are never reused in a run, and the
        # launcher's "it stopped" callback or a last telemetry batch can trail
        # the removal: without this they would bring the node back as "down".
        self._gone: set[str] = set()
        self._run_id = run_id
        self._time_scale = time_scale
        # Two kinds of change: a node's state or a link (browsers must see it
        # now) and a detail such as an RTT (it can wait for the next second).
        self._changed = False
        self._details_changed = False
        # Functions that add to every view dict (topology_state.py: links with
        # their configured and measured latency, routing convergence).
        self._decorators: list[Callable[[dict[str, Any]], None]] = []

    def add_decorator(self, decorate: Callable[[dict[str, Any]], None]) -> None:
        """Let ``decorate(view)`` complete every view dict; it runs outside the lock."""
        self._decorators.append(decorate)

    def mark_changed(self) -> None:
        """Something a decorator shows changed: browsers need a new view now."""
        with self._lock:
            self._changed = True

    def _node(self, node_id: str) -> _Node:
        node = self._nodes.get(node_id)
        if node is None:
            node = self._nodes[node_id] = _Node(node_id)
            self._changed = True
        return node

    # -- the launcher's witness -------------------------------------------

    def on_status(self, status: ProcessStatus) -> None:
        """A process-state change from the launcher (any thread)."""
        with self._lock:
            if status.id in self._gone:
                return
            node = self._node(status.id)
            before = node.to_dict()
            _apply_status(node, status)
            if node.to_dict() != before:
                self._changed = True

    def preview(self, status: ProcessStatus) -> dict[str, Any]:
        """The node as it will look once ``status`` arrives, without applying it.

        A fault's REST reply shows this: the launcher's own callback, which
        does change the view, follows a moment later on its thread.
        """
        with self._lock:
            node = copy.deepcopy(self._nodes.get(status.id) or _Node(status.id))
        _apply_status(node, status)
        return node.to_dict()

    # -- the node's own witness -------------------------------------------

    def on_events(self, node_id: str, events: list[Any]) -> None:
        """Apply the events that shape the view (NodeUp, LinkUp, LinkRtt, Counters)."""
        with self._lock:
            if node_id in self._gone:
                return
            node = self._node(node_id)
            node.connected = True
            for event in events:
                kind = type(event)
                if kind is LinkRtt:
                    node.rtt_ms[event.peer] = event.rtt_ms
                    self._details_changed = True
                elif kind is Counters:
                    node.counters = dict(event.counters)
                    self._details_changed = True
                elif kind is LinkUp:
                    if node.links.get(event.peer) != event.up:
                        node.links[event.peer] = event.up
                        self._changed = True
                    if not event.up:
                        node.rtt_ms.pop(event.peer, None)
                elif kind is NodeUp:
                    if node.up_pid != event.pid:
                        node.forget_process_life()
                        node.up_pid = event.pid
                        self._changed = True
                    if node.process is None:
                        # telemetry-only node: NodeUp is all we know of it
                        node.pid = event.pid
                        node.addr = event.addr
                        node.client_addr = event.client_addr

    def on_disconnect(self, node_id: str) -> None:
        """The node's telemetry connection closed."""
        with self._lock:
            node = self._nodes.get(node_id)
            if node is None:
                return
            node.connected = False
            if node.process is None:
                node.links = {}
                self._changed = True

    def forget_node(self, node_id: str) -> None:
        """A node that left the cluster for good (a committed removal): drop it from the view."""
        with self._lock:
            self._gone.add(node_id)
            if self._nodes.pop(node_id, None) is not None:
                self._changed = True
            for node in self._nodes.values():
                node.links.pop(node_id, None)
                node.rtt_ms.pop(node_id, None)

    def set_time_scale(self, time_scale: float) -> None:
        with self._lock:
            if time_scale != self._time_scale:
                self._time_scale = time_scale
                self._changed = True

    # -- readers -----------------------------------------------------------

    def take_changes(self, details_too: bool) -> bool:
        """Whether browsers need a new view now; clears what it reports.

        True after a state or link change, or, when ``details_too``, after
        only an RTT or counter changed.
        """
        with self._lock:
            due = self._changed or (details_too and self._details_changed)
            if due:
                self._changed = self._details_changed = False
            return due

    def node_dicts(self) -> list[dict[str, Any]]:
        """Every node's own entry, without the decorators' additions (cheap, per request)."""
        with self._lock:
            ordered = sorted(self._nodes.values(), key=lambda n: _node_sort_key(n.id))
            return [n.to_dict() for n in ordered]

    def time_scale(self) -> float:
        with self._lock:
            return self._time_scale

    def node_dict(self, node_id: str) -> dict[str, Any] | None:
        with self._lock:
            node = self._nodes.get(node_id)
            return node.to_dict() if node else None

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            ordered = sorted(self._nodes.values(), key=lambda n: _node_sort_key(n.id))
            view = {
                "nodes": [n.to_dict() for n in ordered],
                "links": self._links(),
                "leader": None,  # filled in by backend/raft_view.py
                "time_scale": self._time_scale,
                "run_id": self._run_id,
            }
        for decorate in self._decorators:
            decorate(view)
        return view

    def _links(self) -> list[dict[str, Any]]:
        """Undirected links; up while every side that reported it says up."""
        reports: dict[tuple[str, str], list[bool]] = {}
        for node in self._nodes.values():
            for peer, up in node.links.items():
                a, b = sorted((node.id, peer), key=_node_sort_key)
                reports.setdefault((a, b), []).append(up)
        links = []
        for (a, b), ups in sorted(reports.items(), key=lambda kv: _pair_sort_key(*kv[0])):
            ends_alive = all(
                self._nodes[n].state() != "down" for n in (a, b) if n in self._nodes
            )
            links.append({"a": a, "b": b, "up": all(ups) and ends_alive})
        return links
