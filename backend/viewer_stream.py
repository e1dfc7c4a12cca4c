"""What a read-only viewer is sent: every state event, and a sample of the traffic.

A lecture is one instructor and a room of students watching the same
backend. Sending every viewer the instructor's full stream (thousands of
message events a second) costs the backend once per viewer and buys the
students nothing: a projected topology cannot show more dots than a few per
link, and neither can a student's laptop. So a viewer gets

* every *state* event (roles, terms, commits, routes, node and link up/down,
  faults, files, lessons, client requests...): the picture must be right;
* the *traffic* events (``MsgSent``, ``MsgReceived``, ``MsgDropped``) of a
  sample of the messages, at most ``VIEWER_TRAFFIC_EVENTS_PER_S``, spread
  evenly over time, plus a count of what was left out, so the page can say
  "showing 1 in N" instead of letting a student read a missing dot as a lost
  message.

The sample is drawn per *message*, not per event: a dot is drawn only when
the page has both halves of a hop (the sender's ``MsgSent`` and the
receiver's ``MsgReceived``, joined on ``src#seq``), and the two halves come
from different nodes in different batches, either one first. The first
event seen of a message decides for all of them, and keeps a reservation
for its other half, so a kept message arrives whole and the cap still holds.

Which messages are kept must not depend on where they sit in a batch. The
nodes' periodic timers share a grid (cluster/node/clock.py), so the same
kinds arrive in the same order every tick: a first-come cap would spend
the budget on the Raft heartbeats and hellos at the front and never show a
student the link heartbeats at the back. Each batch's budget is instead
spread evenly over its new messages (every k-th, from a random start).

Pure logic: the caller passes the time in (the hub's fan-out tick).
"""

from __future__ import annotations

import random
from typing import Any

from cluster.schema.telemetry import SEQ_INDEX, SRC_INDEX, WireEvent

# 200 traffic events/s = 100 message hops a second. Every dot flies for at
# least 350 ms on the page (topology.js MIN_DOT_MS), so that is ~35 dots on
# screen at once: three or four per link of a five-node mesh, as many as
# anyone can tell apart on a projector, and 35 arrows a second on the
# timeline. Below this rate nothing is left out: a slow-motion lesson shows
# viewers every message.
VIEWER_TRAFFIC_EVENTS_PER_S = 200.0
# Tokens saved up while traffic is quiet: 100 ms of the cap, so the first
# messages after a pause are shown at once, but a second can never carry
# more than the cap plus this.
VIEWER_TRAFFIC_BURST_EVENTS = 20.0
# Messages whose verdict (kept or left out) is remembered until their other
# events arrive. Halves of a hop reach the hub within ~250 ms of each other
# (node flush 30 ms, hub tick 40 ms, older traffic is shed as stale); at the
# 10,000 msgs/s the hub is built for this is a second of them, four times
# what is needed. Older verdicts are forgotten a half at a time.
REMEMBERED_MESSAGES_LIMIT = 20_000
# Budget set aside for a kept message's other half, when its first event is
# kept: a hop is two events.
_OTHER_HALF_EVENTS = 1
_LEFT_OUT = -1  # a remembered verdict: this message is not in the sample

_Key = tuple[Any, Any]  # (src, seq): names a message across all its hops


class TrafficSampler:
    """Thins ``events`` batches to every state event plus a capped sample of traffic."""

    def __init__(
        self,
        events_per_s: float = VIEWER_TRAFFIC_EVENTS_PER_S,
        burst_events: float = VIEWER_TRAFFIC_BURST_EVENTS,
        remembered_limit: int = REMEMBERED_MESSAGES_LIMIT,
        rng: random.Random | None = None,
    ) -> None:
        if events_per_s <= 0 or burst_events < 1 + _OTHER_HALF_EVENTS:
            raise ValueError("the cap must admit at least one whole hop")
        self.events_per_s = events_per_s
        self._burst_events = burst_events
        self._generation_limit = max(1, remembered_limit // 2)
        self._tokens = burst_events
        self._last_s: float | None = None
        self._rng = rng or random.Random()
        # This batch's share of new messages to keep, and the credit that
        # picks every k-th of them (see the module docstring).
        self._share = 1.0
        self._credit = 0.0
        # Two generations: lookups try both, and when the newer is full the
        # older is dropped whole. Bounded, O(1), nothing scanned.
        self._verdicts: dict[_Key, int] = {}
        self._older: dict[_Key, int] = {}
        self.kept_total = 0  # traffic events let through, since the start
        self.left_out_total = 0  # traffic events left out, since the start

    def thin(self, events: list[WireEvent], now_s: float) -> tuple[list[WireEvent], int]:
        """The events a viewer gets, in order, and how many traffic events were left out."""
        self._refill(now_s)
        self._plan(events)
        kept: list[WireEvent] = []
        kept_traffic = left_out = 0
        for event in events:
            if type(event) is not list:  # a state event; traffic events are rows
                kept.append(event)
            elif self._admit((event[SRC_INDEX], event[SEQ_INDEX])):
                kept.append(event)
                kept_traffic += 1
            else:
                left_out += 1
        self.kept_total += kept_traffic
        self.left_out_total += left_out
        return kept, left_out

    def remembered_messages(self) -> int:
        """How many verdicts are held (bounded by ``REMEMBERED_MESSAGES_LIMIT``)."""
        return len(self._verdicts) + len(self._older)

    def _refill(self, now_s: float) -> None:
        if self._last_s is not None and now_s > self._last_s:
            earned = (now_s - self._last_s) * self.events_per_s
            self._tokens = min(self._burst_events, self._tokens + earned)
        self._last_s = now_s if self._last_s is None else max(self._last_s, now_s)

    def _plan(self, events: list[WireEvent]) -> None:
        """Spread what the budget affords evenly over the batch's new messages."""
        new: set[_Key] = set()
        verdicts, older = self._verdicts, self._older
        for event in events:
            if type(event) is list:
                key = (event[SRC_INDEX], event[SEQ_INDEX])
                if key not in verdicts and key not in older:
                    new.add(key)
        affordable = self._tokens // (1 + _OTHER_HALF_EVENTS)
        self._share = min(1.0, affordable / len(new)) if new else 1.0
        self._credit = self._rng.random()  # a random start: no kind always first in line

    def _admit(self, key: _Key) -> bool:
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = self._older.get(key)
        if verdict is None:  # the first event of this message decides
            self._credit += self._share
            if self._credit >= 1.0 and self._tokens >= 1 + _OTHER_HALF_EVENTS:
                self._credit -= 1.0
                self._tokens -= 1 + _OTHER_HALF_EVENTS
                self._remember(key, _OTHER_HALF_EVENTS)
                return True
            self._remember(key, _LEFT_OUT)
            return False
        if verdict == _LEFT_OUT:
            return False
        if verdict > 0:  # paid for when the message was first kept
            self._remember(key, verdict - 1)
            return True
        if self._tokens >= 1:  # a further hop of a kept message, if the cap allows
            self._tokens -= 1
            return True
        return False

    def _remember(self, key: _Key, verdict: int) -> None:
        if len(self._verdicts) >= self._generation_limit and key not in self._verdicts:
            self._older, self._verdicts = self._verdicts, {}
        self._verdicts[key] = verdict
