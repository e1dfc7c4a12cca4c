"""The faults in force, as the instructor set them: ids, times, and the nodes' rules.

``POST /api/faults`` changes this registry; ``GET /api/faults``, the view
pushed to browsers and ``clusterlab fault ls`` read it. Network faults
(partition, one-way, link) live only here and in the nodes: after every
change the whole rule set goes to every node as one ``SetFaults``
(sticky, so a node that restarts gets it again). Node faults (a paused or
killed process) are the launcher's truth; the registry only gives each one
an id and the time it began, so all faults can be listed the same way.

Each entry is ``{"id": "f3", "kind", "since_ms", ...}``:

* ``partition``: ``groups`` (the unlisted nodes shown as the last group);
  one at a time, a new partition replaces the old one;
* ``oneway``: ``from``, ``to``; they add up;
* ``link``: ``a``, ``b``, ``oneway`` (false: both directions alike) and
  ``up``, ``delay_ms``, ``jitter_ms``, ``loss``, ``duplicate``, ``reorder``;
  a new fault on a direction replaces that direction's old one, and a
  neutral one (up, nothing added) removes it;
* ``paused`` / ``down``: ``node``.

Called from request threads and the hub's receiving threads: one lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cluster.core.faults import (
    MAX_LINK_FAULTS,
    MAX_ONEWAY_RULES,
    FaultError,
    FaultRules,
    LinkFault,
    all_groups,
    node_order,
    sorted_nodes,
)
from cluster.schema.control import SetFaults
from cluster.schema.telemetry import FaultsApplied

NETWORK_KINDS = ("partition", "oneway", "link")
NODE_KINDS = ("paused", "down")


def wall_ms() -> float:
    return time.time() * 1000.0


@dataclass(frozen=True)
class _Entry:
    id: str
    since_ms: float
    value: Any  # partition: groups; oneway: (from, to); link: LinkFault; node: its kind


class FaultRegistry:
    def __init__(self, clock_ms: Callable[[], float] = wall_ms) -> None:
        self._clock_ms = clock_ms
        self._lock = threading.Lock()
        self._next_id = 1
        self.version = 0  # of the rule set; every node confirms it (FaultsApplied)
        self._partition: _Entry | None = None
        self._oneways: list[_Entry] = []
        self._links: dict[tuple[str, str], _Entry] = {}  # (src, dst) → LinkFault entry
        self._nodes: dict[str, _Entry] = {}  # node → "paused" | "down" entry
        self._applied: dict[str, int] = {}  # node → the version it last confirmed

    # -- network faults (each change is a new version for the nodes) -------

    def set_partition(self, groups: Sequence[frozenset[str]]) -> None:
        with self._lock:
            self._partition = self._entry(tuple(groups))
            self.version += 1

    def add_oneway(self, frm: frozenset[str], to: frozenset[str]) -> None:
        with self._lock:
            if any(e.value == (frm, to) for e in self._oneways):
                return  # already in force: adding it again would change nothing
            if len(self._oneways) >= MAX_ONEWAY_RULES:
                raise FaultError(
                    f"at most {MAX_ONEWAY_RULES} one-way rules at once; heal some first"
                )
            self._oneways.append(self._entry((frm, to)))
            self.version += 1

    def set_links(self, faults: Sequence[LinkFault]) -> None:
        """Replace the faults of these directions (one new id for all of them)."""
        with self._lock:
            keys = {(f.src, f.dst) for f in faults}
            added = sum(1 for k in keys if k not in self._links)
            if len(self._links) + added > MAX_LINK_FAULTS:
                raise FaultError(f"at most {MAX_LINK_FAULTS} faulty link directions at once")
            entry_id = self._new_id()
            now_ms = self._clock_ms()
            for fault in faults:
                key = (fault.src, fault.dst)
                if fault.neutral:
                    self._links.pop(key, None)
                else:
                    self._links[key] = _Entry(entry_id, now_ms, fault)
            self.version += 1

    def heal(self, links: bool = False) -> int:
        """Remove every partition and one-way rule (and link fault); how many went."""
        with self._lock:
            removed = len(self._oneways) + (1 if self._partition else 0)
            self._partition = None
            self._oneways = []
            if links:
                removed += len({e.id for e in self._links.values()})
                self._links = {}
            self.version += 1
            return removed

    def remove(self, fault_id: str) -> str:
        """Remove the network fault ``fault_id``; its kind. FaultError if there is none."""
        with self._lock:
            if self._partition is not None and self._partition.id == fault_id:
                self._partition = None
                kind = "partition"
            elif any(e.id == fault_id for e in self._oneways):
                self._oneways = [e for e in self._oneways if e.id != fault_id]
                kind = "oneway"
            elif any(e.id == fault_id for e in self._links.values()):
                self._links = {k: e for k, e in self._links.items() if e.id != fault_id}
                kind = "link"
            else:
                node = next((n for n, e in self._nodes.items() if e.id == fault_id), None)
                if node is not None:
                    action = "resume" if self._nodes[node].value == "paused" else "restart"
                    raise FaultError(
                        f"{fault_id} is {node} being {self._nodes[node].value}: "
                        f"{action} {node} instead"
                    )
                raise FaultError(f"no active network fault has id {fault_id!r}")
            self.version += 1
            return kind

    def rules(self) -> FaultRules:
        with self._lock:
            return self._rules()

    def command(self) -> SetFaults:
        """Every rule in force, for every node."""
        with self._lock:
            partition, oneways, links = self._rules().to_wire()
            return SetFaults(self.version, partition, oneways, links)

    # -- node faults (the launcher's truth, given an id and a start time) ---

    def note_node(self, node: str, kind: str | None) -> None:
        """The instructor paused or killed ``node`` (``kind``), or brought it back (None)."""
        with self._lock:
            if kind is None:
                self._nodes.pop(node, None)
            else:
                self._nodes[node] = self._entry(kind)

    # -- what the nodes confirm --------------------------------------------

    def on_batch(self, node: str, events: list[Any]) -> None:
        """Hub listener: remember the rule version each node applies."""
        for event in events:
            if type(event) is FaultsApplied:
                with self._lock:
                    self._applied[node] = event.version

    def applied(self) -> dict[str, int]:
        with self._lock:
            return dict(self._applied)

    # -- reading -------------------------------------------------------------

    def listing(self, states: Mapping[str, str]) -> list[dict[str, Any]]:
        """Every active fault, oldest first; ``states`` is node → view state."""
        with self._lock:
            for node, state in states.items():
                entry = self._nodes.get(node)
                if state not in NODE_KINDS:
                    self._nodes.pop(node, None)  # healthy again: a new failure is a new fault
                elif entry is None or entry.value != state:
                    self._nodes[node] = self._entry(state)  # e.g. a node that died on its own
            found = []
            if self._partition is not None:
                e = self._partition
                found.append(_item(e, "partition", groups=all_groups(e.value, states)))
            for e in self._oneways:
                frm, to = e.value
                found.append(
                    _item(e, "oneway", **{"from": sorted_nodes(frm), "to": sorted_nodes(to)})
                )
            found.extend(_link_items(self._links))
            for node, e in self._nodes.items():
                if node in states:  # not a node removed from the cluster since
                    found.append(_item(e, e.value, node=node))
        return sorted(found, key=lambda f: (int(f["id"][1:]), f.get("a", "")))

    def decorate(self, view: dict[str, Any]) -> None:
        """View decorator: the active faults travel with every view to browsers."""
        states = {n["id"]: n["state"] for n in view["nodes"]}
        view["faults"] = self.listing(states)

    # -- internals (lock held) ----------------------------------------------

    def _new_id(self) -> str:
        fault_id = f"f{self._next_id}"
        self._next_id += 1
        return fault_id

    def _entry(self, value: Any) -> _Entry:
        return _Entry(self._new_id(), self._clock_ms(), value)

    def _rules(self) -> FaultRules:
        partition = self._partition.value if self._partition is not None else ()
        return FaultRules(
            partition,
            tuple(e.value for e in self._oneways),
            tuple(e.value for _, e in sorted(self._links.items())),
        )


def _item(entry: _Entry, kind: str, **fields: Any) -> dict[str, Any]:
    return {"id": entry.id, "kind": kind, "since_ms": entry.since_ms, **fields}


def _link_items(links: Mapping[tuple[str, str], _Entry]) -> Iterable[dict[str, Any]]:
    """One item per link fault; both directions alike (one request) show as one."""
    for (src, dst), e in sorted(
        links.items(), key=lambda kv: (node_order(kv[0][0]), node_order(kv[0][1]))
    ):
        back = links.get((dst, src))
        both = back is not None and back.id == e.id and back.value.settings() == e.value.settings()
        if both and node_order(src) > node_order(dst):
            continue  # shown with its other direction
        yield _item(e, "link", a=src, b=dst, oneway=not both, **e.value.settings())
