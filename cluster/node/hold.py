"""Hold-and-step delivery in a node: keep outgoing messages, send them one by one.

With ``SetHold(on=True)`` from the hub, every protocol message this node
originates goes into its hold queue (hold_queue.py) instead of onto a link,
and the node reports the queue as a ``HeldMessages`` event. The instructor
then picks a message on the dashboard (``DeliverHeld(seq)``): it leaves now,
through the node's routes and fault rules, exactly as if it had just been
sent. ``ReleaseHeld`` sends everything held; ``SetHold(on=False)`` does the
same and ends holding.

Why Raft's clock stops while delivery is held (``node.timers_frozen``):
with ticks running, the leader would add an AppendEntries heartbeat per
follower every few ticks, every follower whose messages are held would time
out and start an election, and a leader with check-quorum would step down
after one election timeout without replies. The queue would fill with
timer-made messages in seconds, and what the class sees would be timeouts,
not the protocol step they asked for. DSLabs' debugger treats timers as
events the student delivers too, for the same reason. So here the cluster
changes only when a message is delivered or a client sends a request;
releasing hold restarts the clock. Heartbeats and routing are the network's
own and keep running (their messages are never held), so links stay up and
the RTT column stays live. To watch the timeouts themselves, use slow motion
(``POST /api/time-scale``) instead of hold.

Delivering a later message before an earlier one to the same node reorders
them, which the TCP links never do on their own: hold-and-step makes the
network fully asynchronous on purpose, as Raft's proofs assume (§5.3's
consistency check is what makes that safe).
"""

from __future__ import annotations

import asyncio
from typing import Any

from cluster.node.clock import wall_ms
from cluster.node.hold_queue import FULL, HoldQueue
from cluster.node.node import Node
from cluster.schema.control import DeliverHeld, ReleaseHeld, SetHold
from cluster.schema.messages import Envelope, encode_envelope
from cluster.schema.telemetry import HeldMessages


class HoldDelivery:
    def __init__(self, node: Node) -> None:
        self._node = node
        self.queue = HoldQueue()
        self._report_due = False
        node.hold_outgoing = self._offer
        node.on_command(SetHold, self._on_set_hold)
        node.on_command(DeliverHeld, self._on_deliver)
        node.on_command(ReleaseHeld, self._on_release)

    def _offer(self, env: Envelope) -> bool:
        queue = self.queue
        if not queue.wants(env):
            return False
        node = self._node
        if queue.offer(env, len(encode_envelope(env)), wall_ms()) == FULL:
            # Visible, not silent: a drop on the topology and in the counters,
            # and the overflow count in the hold panel.
            node.on_dropped(env, "hold_full")
        else:
            node.counters["held"] += 1
        self._report_soon()
        return True

    def _on_set_hold(self, command: Any) -> None:
        assert isinstance(command, SetHold)
        # The ticks Raft's lazy ticker still owes from before this moment
        # were due with the clock in its old state: on hold they must reach
        # the core (they ran before the clock stopped), on release they are
        # dropped (the clock was stopped), not replayed in a burst.
        self._node.clock.catch_up_tickers()
        self.queue.on = command.on
        self._node.timers_frozen = command.on
        if not command.on:
            self._send(self.queue.take_all())
        # Also when nothing changed: a hub that reconnects learns the state.
        self._report_soon()

    def _on_deliver(self, command: Any) -> None:
        assert isinstance(command, DeliverHeld)
        env = self.queue.take(command.seq)
        if env is None:
            raise ValueError(f"no held message {self._node.id}#{command.seq}")
        self._send([env])
        self._report_soon()

    def _on_release(self, command: Any) -> None:
        assert isinstance(command, ReleaseHeld)
        self._send(self.queue.take_all())
        self._report_soon()

    def _send(self, envs: list[Envelope]) -> None:
        node = self._node
        node.counters["held_delivered"] += len(envs)
        for env in envs:
            node.forward(env, local=True)

    def _report_soon(self) -> None:
        # One report per turn of the event loop: a Ready that sends four
        # AppendEntries at once changes the queue four times, reports once.
        if not self._report_due:
            self._report_due = True
            asyncio.get_running_loop().call_soon(self._report)

    def _report(self) -> None:
        self._report_due = False
        queue = self.queue
        node = self._node
        node.emit(
            HeldMessages(node.id, wall_ms(), queue.on, queue.entries(), queue.overflow, queue.limit)
        )
