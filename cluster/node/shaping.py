"""Link shaping: what a slow, lossy or narrow link does to real frames.

The laboratory's links are loopback TCP, which is fast and never loses
anything. A link in the topology can ask for more realistic behaviour —
delay with jitter, random loss, limited bandwidth — and this module applies
it to the real frames a node sends, at the sending side, the way Linux's
netem does on an interface:

* loss: each frame is lost with probability ``loss``, drawn from the node's
  own seeded ``random.Random`` (so a run is repeatable per seed). The sender
  reports it as a drop with reason ``loss``;
* bandwidth: a frame of ``size_bytes`` occupies the link for
  ``size_bytes × 8 / bandwidth`` seconds; frames queue behind each other.
  The queue is bounded in *time*: a frame that would wait longer than
  ``MAX_BACKLOG_MS`` for the link to be free is dropped (``queue_full``), as a
  router's tail-drop queue does;
* delay: after its transmission the frame travels ``latency_ms ± jitter_ms``
  (uniform jitter) before it is written to the socket.

Frames keep their order (first in, first out), even with jitter: the
connection beneath is TCP, which never reorders, and Raft and the routing
protocols are written for such links. Jitter therefore delays a frame and
everything behind it, as a busy queue does.

Every delay (and the transmission time) is multiplied by the time scale:
in slow motion a 50 ms link takes 500 ms, like every protocol timer.

Configured values are kept in ``Shaping`` next to the link; measured values
(the heartbeat RTT) are the node's, so the dashboard can show both.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

# A frame that would wait longer than this for a narrow link is tail-dropped:
# a second of queue is already far beyond what any protocol here waits for,
# and it keeps a flood from growing the sender's memory without bound.
# The first frame of an idle link is always admitted, however large.
MAX_BACKLOG_MS = 1000.0
BITS_PER_BYTE = 8


@dataclass(frozen=True, slots=True)
class Shaping:
    """Configured properties of one direction of a link (nothing injected by default)."""

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    loss: float = 0.0
    bandwidth_mbps: float = 1000.0

    @property
    def passthrough(self) -> bool:
        """True when frames need no delay and no loss draw (the fast path)."""
        return self.latency_ms == 0 and self.jitter_ms == 0 and self.loss == 0


LOST = -1.0  # admit()'s answer for a frame the link loses
QUEUE_FULL = -2.0  # admit()'s answer for a frame the bandwidth queue refuses


class Shaper:
    """Decides for each frame whether it is lost and when it may be written.

    Times are seconds of the event loop's monotonic clock (``now_s``), so
    the decisions are pure arithmetic and testable without a loop.
    """

    def __init__(
        self, shaping: Shaping, rng: random.Random, time_scale: Callable[[], float]
    ) -> None:
        self.shaping = shaping
        self._rng = rng
        self._time_scale = time_scale
        self._link_free_s = 0.0  # when the link finishes transmitting what it has
        self._last_release_s = 0.0  # release times never go backwards (FIFO)
        # Added on top of the configured latency and jitter by a link fault
        # (cluster/node/faults.py); the configuration itself stays untouched.
        self._fault_delay_ms = 0.0
        self._fault_jitter_ms = 0.0

    def set_shaping(self, shaping: Shaping) -> None:
        """Apply new properties to frames admitted from now on."""
        self.shaping = shaping

    def set_fault_delay(self, delay_ms: float, jitter_ms: float) -> None:
        """Add a link fault's delay and jitter to frames admitted from now on."""
        self._fault_delay_ms = delay_ms
        self._fault_jitter_ms = jitter_ms

    def admit(self, size_bytes: int, now_s: float) -> float:
        """The time at which this frame may be written, or LOST / QUEUE_FULL."""
        shaping = self.shaping
        if shaping.loss > 0 and self._rng.random() < shaping.loss:
            return LOST
        scale = self._time_scale()
        start_s = max(now_s, self._link_free_s)
        if start_s - now_s > MAX_BACKLOG_MS * scale / 1000.0:
            return QUEUE_FULL
        transmit_s = size_bytes * BITS_PER_BYTE / (shaping.bandwidth_mbps * 1e6) * scale
        self._link_free_s = start_s + transmit_s
        delay_ms = shaping.latency_ms + self._fault_delay_ms
        jitter_ms = shaping.jitter_ms + self._fault_jitter_ms
        if jitter_ms > 0:
            delay_ms += self._rng.uniform(-jitter_ms, jitter_ms)
        release_s = self._link_free_s + max(0.0, delay_ms) * scale / 1000.0
        release_s = max(release_s, self._last_release_s)
        self._last_release_s = release_s
        return release_s

    def reset(self) -> None:
        """A new connection starts with an empty link."""
        self._link_free_s = 0.0
        self._last_release_s = 0.0
