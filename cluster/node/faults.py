"""Network faults applied to real frames, at the sender.

The backend sends every node the faults in force (``SetFaults``, rules in
cluster/core/faults.py). While any is active, each frame this node is about
to put on a link passes through ``FaultGate.send`` first, in this order:

1. **partition / one-way**: the hop (this node → next hop) or the message
   end to end (source → destination) is blocked: dropped, reason
   ``partition``;
2. **link down**: a fault cut this direction of the link: ``link_down``;
3. **loss**: drawn per frame: ``loss`` (the same reason as a link's
   configured loss; the fault's loss is an extra, independent draw);
4. **delay and jitter**: added on top of the link's configured shaping, so
   they queue behind it and are stretched by the time scale like every
   other delay (shaping.py);
5. **duplicate**: the frame is put on the link twice (counter
   ``fault_duplicated``); the receiver sees two ``MsgReceived`` of one
   ``src#seq``;
6. **reorder**: the frame is held back and sent right *after* the next frame
   to the same peer, so the two swap places (counter ``fault_reordered``).
   If no frame follows within ``REORDER_HOLD_MS`` × time scale, it goes
   alone, late.

Everything happens at the sender, like Linux's netem on an interface: the
TCP connection underneath stays up (a link fault is not a topology cut), so
only the protocols' own timers can notice, exactly as with a real flaky
network. Drops are reported as ``MsgDropped`` by the node, like any other.
"""

from __future__ import annotations

import asyncio
import collections
import random
from collections.abc import Callable, Mapping
from typing import Protocol

from cluster.core.faults import FaultRules, LinkFault
from cluster.node.shaping import Shaper
from cluster.schema.codec import Frame
from cluster.schema.messages import Envelope

# A frame picked for reordering waits this long (× time scale) for a later
# frame to overtake it. About two Raft heartbeat intervals: on a link in use
# a frame follows much sooner, and on a quiet link the held one is not lost.
REORDER_HOLD_MS = 100.0


class FaultLink(Protocol):
    """The part of ``link.OutgoingLink`` the gate uses."""

    shaper: Shaper

    def enqueue(self, env: Envelope, frame: Frame) -> str | None: ...


class FaultGate:
    """Decides, per frame, what the active network faults do to it."""

    def __init__(
        self,
        node_id: str,
        links: Mapping[str, FaultLink],
        rng: random.Random,
        time_scale: Callable[[], float],
        counters: collections.Counter[str],
        on_dropped: Callable[[Envelope, str], None],
    ) -> None:
        self.node_id = node_id
        self._links = links  # the node's own dict: links added later are seen too
        self._rng = rng  # seeded per node and run: a faulty run repeats per seed
        self._time_scale = time_scale
        self._counters = counters
        self._on_dropped = on_dropped
        self.rules = FaultRules()
        self.version = 0
        self.active = False  # False: the node skips the gate (the fast path)
        self._out: dict[str, LinkFault] = {}
        # peer → the frame held back for reordering (at most one per peer)
        self._held: dict[str, tuple[Envelope, Frame, asyncio.TimerHandle]] = {}

    def apply(self, rules: FaultRules, version: int) -> None:
        """Make ``rules`` the faults in force, for frames sent from now on."""
        self.rules = rules
        self.version = version
        self.active = not rules.empty
        self._out = rules.links_from(self.node_id)
        for peer, link in self._links.items():
            fault = self._out.get(peer)
            if fault is None:
                link.shaper.set_fault_delay(0.0, 0.0)
            else:
                link.shaper.set_fault_delay(fault.delay_ms, fault.jitter_ms)

    def send(self, peer: str, env: Envelope, frame: Frame, link: FaultLink) -> str | None:
        """Put ``frame`` on ``link`` as the faults say; the drop reason if it is not sent."""
        rules = self.rules
        if rules.blocked(self.node_id, peer) or rules.blocked(env.src, env.dst):
            return "partition"
        fault = self._out.get(peer)
        if fault is None:
            return link.enqueue(env, frame)
        if not fault.up:
            return "link_down"
        rng = self._rng
        if fault.loss > 0 and rng.random() < fault.loss:
            return "loss"
        # again here: the link may be newer than the rules (a topology edit)
        link.shaper.set_fault_delay(fault.delay_ms, fault.jitter_ms)
        if fault.delay_ms > 0 or fault.jitter_ms > 0:
            self._counters["fault_delayed"] += 1
        copies = 1
        if fault.duplicate > 0 and rng.random() < fault.duplicate:
            copies = 2
            self._counters["fault_duplicated"] += 1
        held = self._held.pop(peer, None)
        if held is None and fault.reorder > 0 and rng.random() < fault.reorder:
            self._hold(peer, env, frame)
            if copies == 2:  # the duplicate goes now, the held copy after the next frame
                link.enqueue(env, frame)
            return None
        reason = link.enqueue(env, frame)
        if copies == 2 and reason is None:
            # a duplicate that finds the queue full is not reported: the message went
            link.enqueue(env, frame)
        if held is not None:
            held_env, held_frame, timer = held
            timer.cancel()
            self._put(peer, held_env, held_frame)
        return reason

    def _hold(self, peer: str, env: Envelope, frame: Frame) -> None:
        self._counters["fault_reordered"] += 1
        delay_s = REORDER_HOLD_MS * self._time_scale() / 1000.0
        timer = asyncio.get_running_loop().call_later(delay_s, self._release, peer)
        self._held[peer] = (env, frame, timer)

    def _release(self, peer: str) -> None:
        held = self._held.pop(peer, None)
        if held is not None:
            self._put(peer, held[0], held[1])

    def _put(self, peer: str, env: Envelope, frame: Frame) -> None:
        link = self._links.get(peer)
        reason = "no_link" if link is None else link.enqueue(env, frame)
        if reason is not None:
            self._on_dropped(env, reason)

    def close(self) -> None:
        """Forget held frames (the node is stopping)."""
        for _env, _frame, timer in self._held.values():
            timer.cancel()
        self._held.clear()
