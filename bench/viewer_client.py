"""A minimal Socket.IO viewer: what a browser tab does, without a browser.

Fifty headless Chromiums would measure Chromium, not the backend. A viewer
here speaks just enough of the protocol to be an honest dashboard tab, over
the WebSocket transport the page uses, with the simple-websocket client the
project already depends on (python-socketio's own client would need the
websocket-client package for that transport):

* Engine.IO v4: the server's open packet ``0{...}``, its pings ``2`` answered
  with pongs ``3``;
* Socket.IO v5: ``40`` joins the default namespace, events arrive as
  ``42["name", payload]``;
* like the page, it acknowledges every ``events`` batch (``events_ack``), so
  the hub's flow control treats it exactly as it treats a tab;
* like a page without the token, it gets the viewers' stream: every state
  event, a sample of the traffic, and in each batch ``traffic_left_out``
  (backend/viewer_stream.py). ``Viewer(url, token=...)`` presents the
  token in the handshake instead, as an instructor's page would.

For each event it records ``now − t_ms`` (every process shares this clock),
and for each batch ``now − batch t_ms`` (the hub's emit time), in 1 ms
histograms; nothing per event is kept.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import simple_websocket  # type: ignore[import-untyped]
from wsproto.utilities import LocalProtocolError  # closing while a batch is handled

from cluster.schema.telemetry import T_MS_INDEX

# Latencies above this land in the last bucket: ten seconds late is "broken".
HISTOGRAM_MAX_MS = 10_000
RECEIVE_TIMEOUT_S = 1.0


def _histogram() -> list[int]:
    return [0] * (HISTOGRAM_MAX_MS + 1)


@dataclass
class ViewerStats:
    events: int = 0
    batches: int = 0
    traffic_events: int = 0  # MsgSent / MsgReceived / MsgDropped among ``events``
    traffic_left_out: int = 0  # what the hub says it left out of the viewers' sample
    received_bytes: int = 0  # ``events`` messages as they came off the WebSocket
    event_latency: list[int] = field(default_factory=_histogram)  # node event → viewer
    emit_latency: list[int] = field(default_factory=_histogram)  # hub emit → viewer

    def add(self, other: ViewerStats) -> None:
        self.events += other.events
        self.batches += other.batches
        self.traffic_events += other.traffic_events
        self.traffic_left_out += other.traffic_left_out
        self.received_bytes += other.received_bytes
        for mine, theirs in ((self.event_latency, other.event_latency),
                             (self.emit_latency, other.emit_latency)):  # fmt: skip
            for i, n in enumerate(theirs):
                mine[i] += n


def _bucket(latency_ms: float) -> int:
    return 0 if latency_ms <= 0 else min(HISTOGRAM_MAX_MS, int(latency_ms))


class Viewer:
    """One read-only dashboard connection, receiving on its own thread."""

    def __init__(self, base_url: str, token: str = "") -> None:
        url = base_url.replace("http://", "ws://", 1).rstrip("/")
        # Socket.IO's handshake ``auth``: with the token, the instructor's full stream
        self._join = "40" + json.dumps({"token": token}) if token else "40"
        self._ws = simple_websocket.Client.connect(f"{url}/socket.io/?EIO=4&transport=websocket")
        self.stats = ViewerStats()
        self.recording = False
        self.connected = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(Exception):  # already gone; closing is best effort
            self._ws.close()
        self._thread.join(timeout=2 * RECEIVE_TIMEOUT_S)

    def _run(self) -> None:
        try:
            while not self._closed:
                message = self._ws.receive(timeout=RECEIVE_TIMEOUT_S)
                if message is None:
                    continue
                self._on_message(message if isinstance(message, str) else message.decode())
        except (simple_websocket.ConnectionClosed, OSError):
            pass  # closed by close(), or by the server going away

    def _on_message(self, message: str) -> None:
        kind = message[:1]
        if kind == "0":  # Engine.IO open: join the default Socket.IO namespace
            self._ws.send(self._join)
        elif kind == "2":  # ping
            self._ws.send("3")
        elif message.startswith("40"):
            self.connected.set()
        elif message.startswith("42"):
            name, payload = json.loads(message[2:])[:2]
            if name == "events":
                self._on_events(payload, len(message))

    def _on_events(self, batch: dict[str, Any], size_bytes: int) -> None:
        now_ms = time.time() * 1000.0
        if self.recording:
            stats = self.stats
            stats.batches += 1
            stats.received_bytes += size_bytes
            stats.emit_latency[_bucket(now_ms - batch["t_ms"])] += 1
            histogram = stats.event_latency
            for event in batch["events"]:
                # traffic events come as rows [type, node, t_ms, ...], the rest as objects
                if isinstance(event, list):
                    histogram[_bucket(now_ms - event[T_MS_INDEX])] += 1
                    stats.traffic_events += 1
                else:
                    histogram[_bucket(now_ms - event["t_ms"])] += 1
            stats.events += len(batch["events"])
            stats.traffic_left_out += batch.get("traffic_left_out", 0)
        if self._closed:
            return
        # as the page does: the hub sends no more than a few batches ahead of this
        with contextlib.suppress(simple_websocket.ConnectionClosed, OSError, LocalProtocolError):
            self._ws.send("42" + json.dumps(["events_ack", batch.get("seq", 0)]))


def percentile_ms(histogram: list[int], fraction: float) -> float | None:
    """The upper edge of the 1 ms bucket holding the ``fraction`` quantile."""
    total = sum(histogram)
    if total == 0:
        return None
    wanted = fraction * total
    seen = 0
    for bucket, count in enumerate(histogram):
        seen += count
        if seen >= wanted:
            return float(bucket + 1)
    return float(HISTOGRAM_MAX_MS)
