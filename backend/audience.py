"""The pages that get one ``events`` stream, and how far behind each one is.

The hub has two audiences: the instructor's pages (the token holders), which
get every event, and the read-only viewers, which get a thinned stream
(backend/viewer_stream.py). Every page of an audience gets the same batch,
so the hub emits it once to the audience's list of sids: python-socketio
then encodes the packet once and queues the same string to each socket,
instead of encoding it once per page.

Flow control per page: a page acknowledges every ``events`` batch once it
has handled it (``events_ack``). A page with ``MAX_EVENT_BATCHES_IN_FLIGHT``
unacknowledged batches is skipped (the batch is counted in ``dropped``)
instead of having more queued in front of it, because a queue there (the
Socket.IO writer's, the kernel's socket buffers) is only seconds of lag that
no counter shows. A page that never acknowledges is not flow-controlled.
When every acknowledging page of an audience is behind, the batch waits in
``pending`` for the next tick instead, where it is sent or, once its traffic
is stale, shed and counted by the hub.

Not thread-safe on its own: the hub calls it with its lock held.
"""

from __future__ import annotations

from cluster.schema.telemetry import WireEvent

# Batches sent to one page and not yet acknowledged. A page handles its
# batches between animation frames, and a busy dashboard's frame can take
# 50-70 ms: with two in flight, the third tick's batch then waited in the
# hub for an acknowledgement, a tick and the page's next gap between
# frames, and aged past the latency budget there. Three lets it wait at the
# page instead, handled in the same gap as the two before it. More would
# only queue: a page that is really behind is skipped, and the drop counted.
MAX_EVENT_BATCHES_IN_FLIGHT = 3


class Audience:
    def __init__(self) -> None:
        self._unacked: dict[str, int] = {}  # sid -> batches sent, not yet acknowledged
        self._acking: set[str] = set()  # sids that have acknowledged at least once
        # Events waiting for the audience's next batch: collected between two
        # viewer batches, or a batch that no page could take at its tick.
        # Bounded by the hub (MAX_EVENTS_PER_EMIT, stale traffic shed).
        self.pending: list[WireEvent] = []
        self.left_out = 0  # traffic events left out of the sample since the last batch sent
        self.dropped = 0  # events some page of this audience never got (skipped while behind)

    def __len__(self) -> int:
        return len(self._unacked)

    def __contains__(self, sid: object) -> bool:
        return sid in self._unacked

    def sids(self) -> list[str]:
        return list(self._unacked)

    def add(self, sid: str, unacked: int = 0, acking: bool = False) -> None:
        self._unacked[sid] = unacked
        if acking:
            self._acking.add(sid)

    def remove(self, sid: str) -> tuple[int, bool] | None:
        """Forget ``sid``; its (unacknowledged batches, acknowledges) if it was here."""
        if sid not in self._unacked:
            return None
        acking = sid in self._acking
        self._acking.discard(sid)
        return self._unacked.pop(sid), acking

    def acked(self, sid: str) -> bool:
        """One more batch handled by ``sid`` (acks arrive in order); False if not ours."""
        if sid not in self._unacked:
            return False
        self._acking.add(sid)
        self._unacked[sid] = max(0, self._unacked[sid] - 1)
        return True

    def recipients(self) -> tuple[list[str], list[str]]:
        """(pages that can take a batch now, pages skipped because they are behind)."""
        ready: list[str] = []
        behind: list[str] = []
        for sid, unacked in self._unacked.items():
            if unacked >= MAX_EVENT_BATCHES_IN_FLIGHT and sid in self._acking:
                behind.append(sid)
            else:
                ready.append(sid)
        return ready, behind

    def sent(self, sids: list[str]) -> None:
        for sid in sids:
            self._unacked[sid] += 1
