"""What every node holds under hold-and-step, as the hub last heard it.

Each node reports its hold queue itself (``HeldMessages``, sent whenever the
queue changes); this board keeps the latest report per node so that a REST
call (``GET /api/held``) or a page that connects late sees the queue at
once, and adds a ``hold`` section to every cluster view so the dashboard's
hold panel renders from the same ``view`` as everything else.

The node is the authority: a delivery the board accepts is still checked by
the node, which refuses (and counts) a message it no longer holds. A node
that dies loses its queue with its process, so a node that is down lists
nothing, and a new ``NodeUp`` starts its list afresh.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from cluster.schema.control import DeliverHeld, ReleaseHeld, SetHold
from cluster.schema.telemetry import HeldMessages, NodeUp

if TYPE_CHECKING:
    from backend.hub import Hub

# Messages listed in each view: the view is re-sent to every browser when the
# queue changes, and a person steps through the first few dozen anyway.
# GET /api/held lists them all (at most every node's queue limit).
MAX_HELD_IN_VIEW = 200


class HoldError(Exception):
    """A delivery that cannot happen; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _node_order(node_id: str) -> tuple[int, str]:
    digits = node_id.lstrip("n")
    return (int(digits), node_id) if digits.isdigit() else (1 << 30, node_id)


class HeldBoard:
    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._lock = threading.Lock()
        self._on = False  # what the instructor asked for (nodes confirm per node)
        self._reports: dict[str, HeldMessages] = {}
        hub.add_listener(self.on_batch)
        hub.view.add_decorator(self.decorate)

    # -- inputs ---------------------------------------------------------------

    def on_batch(self, node: str, events: list[Any]) -> None:
        """Hub listener: keep each node's latest HeldMessages (runs per batch)."""
        changed = False
        for event in events:
            kind = type(event)
            if kind is HeldMessages:
                with self._lock:
                    self._reports[node] = event
                changed = True
            elif kind is NodeUp:
                with self._lock:
                    changed = self._reports.pop(node, None) is not None or changed
        if changed:
            self._hub.view.mark_changed()

    def set_on(self, on: bool) -> list[str]:
        """Hold (or stop holding) on every node, now and after any restart."""
        with self._lock:
            self._on = on
        reached = self._hub.broadcast_command(SetHold(on), sticky=True)
        self._hub.view.mark_changed()
        return reached

    def deliver(self, node: str, seq: int) -> None:
        """Send held message ``node#seq`` now (one step); HoldError if it cannot be."""
        if not self.holds(node, seq):
            raise HoldError(
                400,
                f"{node} holds no message {seq} (delivered already, or hold is off);"
                " GET /api/held lists what is held",
            )
        if not self._hub.send_command(node, DeliverHeld(seq)):
            raise HoldError(409, f"{node} is not connected to the hub; it cannot deliver now")
        self.forget(node, seq)

    def release(self, node: str | None = None) -> list[str]:
        """Send everything held (``node``: only its queue); the nodes that were told."""
        nodes = [node] if node is not None else self.holding_nodes()
        reached = [n for n in nodes if self._hub.send_command(n, ReleaseHeld())]
        for n in reached:
            self.forget(n, None)
        return reached

    def forget(self, node: str, seq: int | None) -> None:
        """Drop a message (``seq`` None: all of ``node``'s) that was just sent off,
        so the page updates before the node's own report arrives."""
        with self._lock:
            report = self._reports.get(node)
            if report is None:
                return
            kept = [] if seq is None else [m for m in report.held if m.get("id") != seq]
            self._reports[node] = HeldMessages(
                report.node, report.t_ms, report.on, kept, report.overflow, report.limit
            )
        self._hub.view.mark_changed()

    # -- readers --------------------------------------------------------------

    @property
    def on(self) -> bool:
        with self._lock:
            return self._on

    def holds(self, node: str, seq: int) -> bool:
        with self._lock:
            report = self._reports.get(node)
            return report is not None and any(m.get("id") == seq for m in report.held)

    def holding_nodes(self) -> list[str]:
        """Nodes that reported at least one held message."""
        with self._lock:
            return sorted((n for n, r in self._reports.items() if r.held), key=_node_order)

    def to_dict(self, live: set[str] | None = None) -> dict[str, Any]:
        """``GET /api/held``: ``{"on", "nodes": {node: {...}}, "messages": [...]}``.

        ``live``: the nodes whose process is not down (None: every node); a
        dead node's queue died with it.
        """
        with self._lock:
            reports = sorted(self._reports.items(), key=lambda kv: _node_order(kv[0]))
            on = self._on
        nodes: dict[str, Any] = {}
        messages: list[dict[str, Any]] = []
        for node, report in reports:
            if live is not None and node not in live:
                continue
            nodes[node] = {
                "on": report.on,
                "count": len(report.held),
                "overflow": report.overflow,
                "limit": report.limit,
            }
            messages.extend({"node": node, **m} for m in report.held)
        messages.sort(key=lambda m: m.get("since_ms", 0.0))
        return {"on": on, "nodes": nodes, "messages": messages}

    def decorate(self, view: dict[str, Any]) -> None:
        """View decorator: ``view["hold"]``, the first MAX_HELD_IN_VIEW messages."""
        live = {n["id"] for n in view.get("nodes", []) if n.get("state") != "down"}
        held = self.to_dict(live)
        held["total"] = len(held["messages"])
        held["messages"] = held["messages"][:MAX_HELD_IN_VIEW]
        view["hold"] = held
