"""What the nodes say about Raft, kept for ``GET /api/cluster``, the gateway and the page.

Every node reports its own Raft state (``RaftState``) and what it writes to
its log (``LogAppended``, ``SnapshotSaved``). No node knows the whole
picture; the backend does, because it hears them all. This module keeps,
per node, the latest state and a short tail of its log, and from them
answers the two questions the rest of the backend asks:

* who leads now? The node that says "leader" with the highest term among the
  nodes that are up. A killed leader's last word was "leader", and a paused
  one still believes it leads; neither may be named, or a write would be
  sent to a process that cannot answer. (A paused leader keeps its role in
  its own row: that stale belief is one of the lessons.)
* what does each node's row show? ``role``, ``term``, ``vote``,
  ``commit_index``, ``last_applied``, ``log_length``, ``snapshot_index``,
  ``voters``, ``fsync``, filled into the view by a decorator, so REST and the
  Socket.IO ``view`` carry the same numbers.

A browser that connects late has missed the ``LogAppended`` events of the
past; ``snapshot()`` gives it every node's state and log tail at once
(``GET /api/raft``), and events take over from there.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from backend.view import ClusterView
from cluster.schema.telemetry import LogAppended, NodeUp, RaftState, SnapshotSaved

# Log entries remembered per node: the page draws about this many boxes per
# row before they become too small to read on a projector.
LOG_TAIL_ENTRIES = 32
# Roles that change what a row looks like at once; anything else (commit
# index, timer progress) reaches the page as RaftState events anyway.
_SHAPE_FIELDS = ("role", "term", "leader", "voters")


@dataclass
class _NodeRaft:
    state: RaftState | None = None
    # index → [index, term, kind, text]; kept sorted by index, at most LOG_TAIL_ENTRIES
    log: dict[int, list[Any]] = field(default_factory=dict)

    def forget(self) -> None:
        """A new process life: it will report again (its log from disk)."""
        self.state = None
        self.log = {}

    def append(self, first_index: int, entries: list[list[Any]]) -> None:
        # Writing at first_index replaces everything from there on (a truncation
        # when first_index is not past the old end): Raft's log matching rule.
        for index in [i for i in self.log if i >= first_index]:
            del self.log[index]
        for entry in entries:
            if isinstance(entry, list) and entry and isinstance(entry[0], int):
                self.log[entry[0]] = list(entry)
        if len(self.log) > LOG_TAIL_ENTRIES:
            for index in sorted(self.log)[: len(self.log) - LOG_TAIL_ENTRIES]:
                del self.log[index]


def _state_fields(state: RaftState | None) -> dict[str, Any]:
    if state is None:
        return {
            "role": None,
            "term": 0,
            "vote": None,
            "leader_hint": None,
            "commit_index": 0,
            "last_applied": 0,
            "log_length": 0,
            "snapshot_index": 0,
            "voters": [],
            "fsync": None,
        }
    return {
        "role": state.role,
        "term": state.term,
        "vote": state.vote,
        "leader_hint": state.leader,  # whom this node believes leads
        "commit_index": state.commit_index,
        "last_applied": state.last_applied,
        "log_length": state.log_length,
        "snapshot_index": state.snapshot_index,
        "voters": list(state.voters),
        "fsync": state.fsync,
    }


class RaftView:
    """Thread-safe: telemetry arrives on the hub's threads, requests read on theirs."""

    def __init__(self, view: ClusterView) -> None:
        self._lock = threading.Lock()
        self._nodes: dict[str, _NodeRaft] = {}
        self._view = view
        view.add_decorator(self.decorate)

    # -- input: a hub listener --------------------------------------------

    def on_batch(self, node: str, events: list[Any]) -> None:
        shape_changed = False
        with self._lock:
            raft = self._nodes.setdefault(node, _NodeRaft())
            for event in events:
                kind = type(event)
                if kind is RaftState:
                    before = raft.state
                    raft.state = event
                    if before is None or any(
                        getattr(before, f) != getattr(event, f) for f in _SHAPE_FIELDS
                    ):
                        shape_changed = True
                elif kind is LogAppended:
                    raft.append(event.first_index, event.entries)
                elif kind is SnapshotSaved:
                    for index in [i for i in raft.log if i <= event.index]:
                        del raft.log[index]
                elif kind is NodeUp:
                    raft.forget()
                    shape_changed = True
        if shape_changed:
            self._view.mark_changed()

    def forget_node(self, node: str) -> None:
        """``node`` left the cluster for good (its removal committed)."""
        with self._lock:
            self._nodes.pop(node, None)
        self._view.mark_changed()

    # -- readers ------------------------------------------------------------

    def leader(self, states: dict[str, str]) -> str | None:
        """The up node that says it leads, with the highest term; ``states``: node → state."""
        with self._lock:
            best: tuple[int, str] | None = None
            for node, raft in self._nodes.items():
                state = raft.state
                if state is None or state.role != "leader" or states.get(node) != "up":
                    continue
                if best is None or state.term > best[0]:
                    best = (state.term, node)
            return best[1] if best else None

    def voters(self, states: dict[str, str]) -> list[str]:
        """The voters as the leader knows them (else the most recent report), [] if unknown."""
        leader = self.leader(states)
        with self._lock:
            if leader is not None:
                state = self._nodes[leader].state
                assert state is not None
                return list(state.voters)
            reports = [r.state for r in self._nodes.values() if r.state is not None]
            if not reports:
                return []
            newest = max(reports, key=lambda s: (s.term, s.commit_index))
            return list(newest.voters)

    def fields(self, node: str) -> dict[str, Any]:
        with self._lock:
            raft = self._nodes.get(node)
            return _state_fields(raft.state if raft else None)

    def decorate(self, view: dict[str, Any]) -> None:
        """Fill ``leader`` and each node's Raft fields into a view dict."""
        states = {n["id"]: n["state"] for n in view["nodes"]}
        view["leader"] = self.leader(states)
        with self._lock:
            for node in view["nodes"]:
                raft = self._nodes.get(node["id"])
                fields = _state_fields(raft.state if raft else None)
                if node["state"] in ("down", "starting"):
                    # a dead process has no role; its last numbers stay for reference
                    fields["role"] = None
                node.update(fields)

    def snapshot(self, states: dict[str, str]) -> dict[str, Any]:
        """Every node's Raft state with its log tail (``GET /api/raft``)."""
        leader = self.leader(states)
        with self._lock:
            nodes = {}
            for node, raft in self._nodes.items():
                fields = _state_fields(raft.state)
                state = raft.state
                fields["election_elapsed_ticks"] = state.election_elapsed_ticks if state else 0
                fields["election_timeout_ticks"] = state.election_timeout_ticks if state else 0
                fields["t_ms"] = state.t_ms if state else None
                fields["log"] = [raft.log[i] for i in sorted(raft.log)]
                nodes[node] = fields
        return {"leader": leader, "nodes": nodes, "log_tail_entries": LOG_TAIL_ENTRIES}
