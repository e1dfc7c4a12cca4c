"""The contract between a routing core and whatever drives it (node shell or simulator).

Both protocols are driven the same way, in the style of etcd's raft: the
caller feeds in time (``tick``), messages (``step``) and configuration
changes (``set_link``, ``remove_link``, ``link_down``), and each call
returns a ``RoutingOutput`` saying what to send and what to report. The core
never sends anything itself, so one driver serves both protocols and a test
can step a core by hand.

Caller obligations, per call:

* send every ``Send`` in ``sends`` to its neighbour ``to`` (one hop, never
  forwarded further); losing some is fine, the protocols repair it;
* if ``table`` is not None, install it as the forwarding table and report
  ``changes`` (a RouteChange per destination) to telemetry;
* report ``converged`` when it flips (the core's *local* belief that its
  table has settled; the backend's global check compares tables with
  Floyd-Warshall instead);
* ``notes`` are short human sentences ("n3 down: no hello for 40 ticks")
  for the node's log and the dashboard's timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from cluster.core.routing.forwarding import ForwardingTable, RouteChange
from cluster.schema.routing import DistanceVector, LinkStateAdvert, RoutingHello

RoutingMessage = RoutingHello | LinkStateAdvert | DistanceVector

MAX_NOTES_PER_OUTPUT = 32  # a storm of changes is summarised, never an unbounded list


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``msg`` to the neighbour ``to`` over the link between them."""

    to: str
    msg: RoutingMessage

    def text(self) -> str:
        return f"→{self.to} {self.msg.text()}"


@dataclass(frozen=True, slots=True)
class RoutingOutput:
    sends: tuple[Send, ...] = ()
    table: ForwardingTable | None = None  # set only when the table changed
    changes: tuple[RouteChange, ...] = ()
    converged: bool = False
    notes: tuple[str, ...] = ()


class RoutingProtocol(Protocol):
    """What ``LinkStateRouter`` and ``DistanceVectorRouter`` both offer."""

    @property
    def node(self) -> str: ...

    @property
    def table(self) -> ForwardingTable: ...

    @property
    def rejected_total(self) -> int:
        """Messages refused as malformed or from a node that is not a neighbour."""
        ...

    def tick(self) -> RoutingOutput:
        """One unit of time passed (the shell calls it every ``tick_ms × time_scale``)."""
        ...

    def ticks_until_due(self) -> int:
        """How many ticks until the first one that may do more than count (at least 1).

        A shell may deliver the ticks before it late, in a burst, as long as
        every tick due is delivered before any other input.
        """
        ...

    def step(self, frm: str, msg: object) -> RoutingOutput:
        """A routing message arrived from neighbour ``frm``; bad ones are counted and dropped."""
        ...

    def set_link(self, peer: str, cost: int | None) -> RoutingOutput:
        """Add a link to ``peer`` or change its cost; None: ``peer`` may talk to us but we
        cannot forward to it (a directed link pointing our way)."""
        ...

    def remove_link(self, peer: str) -> RoutingOutput:
        """The link to ``peer`` was removed from the topology."""
        ...

    def link_down(self, peer: str) -> RoutingOutput:
        """The transport lost ``peer`` (connection closed): do not wait for a timeout."""
        ...


class NoteBuffer:
    """Collects notes during one call, keeping at most MAX_NOTES_PER_OUTPUT."""

    def __init__(self) -> None:
        self._notes: list[str] = []
        self._skipped = 0

    def add(self, note: str) -> None:
        if len(self._notes) < MAX_NOTES_PER_OUTPUT:
            self._notes.append(note)
        else:
            self._skipped += 1

    def take(self) -> tuple[str, ...]:
        notes = list(self._notes)
        if self._skipped:
            notes.append(f"... and {self._skipped} more")
        self._notes.clear()
        self._skipped = 0
        return tuple(notes)
