"""Vector clocks for a recorded history: which event could have influenced which.

The nodes do not keep vector clocks (they would cost bytes in every frame);
the history does not need them to: every message hop is recorded twice, as
a ``MsgSent`` at the sender and a ``MsgReceived`` at the receiver, with the
same ``src#seq`` and the hop's two ends. That pairing is all the causality
there is, so the clocks can be computed afterwards (Fidge 1988, Mattern
1989):

* every event ticks its own host's entry by one;
* a receive first takes the entry-wise maximum of its clock and the clock
  of the matching send.

Event ``a`` happened before ``b`` exactly when ``a``'s clock is ≤ ``b``'s in
every entry and they differ; when neither is ≤ the other, they are
*concurrent*: no message chain joins them, whatever the wall clock says.

One subtlety: the hub receives each node's telemetry in separate batches, so
a receive can reach the history before its send. The events are therefore
replayed host by host, and a host whose next event is a receive waits until
the matching send has been processed. A receive whose send is not in the
history at all (before its start, or the sender's telemetry was dropped) is
an ordinary local event. A host's own events keep their recorded order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

# The host of records that concern the whole cluster (a partition, a chaos step).
HUB_HOST = "hub"

Clock = dict[str, int]
_HopKey = tuple[Any, Any, Any, Any]  # src, seq, sending node, receiving node


def host_of(event: dict[str, Any]) -> str:
    node = event.get("node")
    return node if isinstance(node, str) and node else HUB_HOST


def _send_key(event: dict[str, Any]) -> _HopKey:
    return (event.get("src"), event.get("seq"), event.get("node"), event.get("to"))


def _recv_key(event: dict[str, Any]) -> _HopKey:
    return (event.get("src"), event.get("seq"), event.get("frm"), event.get("node"))


def with_vector_clocks(events: Iterable[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], Clock]]:
    """Every event once, each with its vector clock, in an order that respects causality.

    Each host's events come out in their recorded order; a receive never
    comes out before its send. Each yielded clock is a fresh dict.
    """
    queues: dict[str, deque[dict[str, Any]]] = {}
    sends: set[_HopKey] = set()
    for event in events:
        queues.setdefault(host_of(event), deque()).append(event)
        if event.get("type") == "MsgSent":
            sends.add(_send_key(event))

    clocks: dict[str, Clock] = {host: {} for host in queues}
    sent_clocks: dict[_HopKey, Clock] = {}
    waiting: dict[_HopKey, list[str]] = {}  # a send not yet processed -> hosts blocked on it
    blocked: dict[str, _HopKey] = {}
    forced: set[str] = set()  # hosts whose next receive may not wait (broken input)
    ready = deque(queues)

    while ready or blocked:
        if not ready:
            # Every host left waits for a send that waits in turn: only
            # inconsistent input does that. Take the first receive as local.
            host, key = next(iter(blocked.items()))
            del blocked[host]
            waiting[key].remove(host)
            forced.add(host)
            ready.append(host)
        host = ready.popleft()
        queue = queues[host]
        clock = clocks[host]
        while queue:
            event = queue[0]
            kind = event.get("type")
            merge: Clock | None = None
            if kind == "MsgReceived":
                key = _recv_key(event)
                merge = sent_clocks.get(key)
                if merge is None and key in sends and host not in forced:
                    waiting.setdefault(key, []).append(host)
                    blocked[host] = key
                    break
            queue.popleft()
            forced.discard(host)
            if merge:
                for other, value in merge.items():
                    if value > clock.get(other, 0):
                        clock[other] = value
            clock[host] = clock.get(host, 0) + 1
            snapshot = dict(clock)
            if kind == "MsgSent":
                key = _send_key(event)
                sent_clocks[key] = snapshot
                for unblocked in waiting.pop(key, []):
                    del blocked[unblocked]
                    ready.append(unblocked)
            yield event, snapshot


def happened_before(a: Clock, b: Clock) -> bool:
    """``a`` → ``b``: every entry of ``a`` is ≤ ``b``'s, and they differ."""
    return a != b and all(v <= b.get(host, 0) for host, v in a.items())


def concurrent(a: Clock, b: Clock) -> bool:
    return a != b and not happened_before(a, b) and not happened_before(b, a)
