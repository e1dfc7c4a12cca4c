"""Link shaping decisions (cluster/node/shaping.py): pure arithmetic on loop time.

The real-process effect (a 50 ms link adds 100 ms to an RTT, a lossy link
loses frames) is checked in tests/integration/test_routing_cluster.py; here
the rules themselves: delay scaled by slow motion, FIFO despite jitter,
bandwidth queueing with a bounded backlog, seeded loss.
"""

from __future__ import annotations

import random

import pytest

from cluster.node.shaping import LOST, MAX_BACKLOG_MS, QUEUE_FULL, Shaper, Shaping


def shaper(shaping: Shaping, time_scale: float = 1.0, seed: int = 1) -> Shaper:
    return Shaper(shaping, random.Random(seed), lambda: time_scale)


def test_an_unshaped_link_releases_at_once() -> None:
    s = shaper(Shaping())
    release_s = s.admit(100, now_s=10.0)
    assert 10.0 <= release_s < 10.0 + 1e-5  # 800 bits at 1 Gb/s


@pytest.mark.parametrize("time_scale", [1.0, 10.0])
def test_latency_is_stretched_by_the_time_scale(time_scale: float) -> None:
    s = shaper(Shaping(latency_ms=50.0, bandwidth_mbps=100_000.0), time_scale)
    release_s = s.admit(100, now_s=0.0)
    assert release_s == pytest.approx(0.050 * time_scale, abs=1e-6)


def test_jitter_never_reorders_frames() -> None:
    s = shaper(Shaping(latency_ms=20.0, jitter_ms=15.0))
    releases = [s.admit(100, now_s=i * 0.001) for i in range(500)]
    assert releases == sorted(releases)
    delays_ms = [(r - i * 0.001) * 1000 for i, r in enumerate(releases)]
    assert min(delays_ms) >= 5.0 - 1e-6  # 20 - 15
    assert max(delays_ms) > 30.0  # some frames drew a large jitter


def test_bandwidth_queues_frames_behind_each_other() -> None:
    s = shaper(Shaping(bandwidth_mbps=1.0))
    # 1,250 bytes = 10,000 bits = 10 ms at 1 Mb/s; all handed over at t = 0.
    releases = [s.admit(1250, now_s=0.0) for _ in range(3)]
    assert releases == pytest.approx([0.010, 0.020, 0.030])


def test_a_full_bandwidth_queue_tail_drops() -> None:
    s = shaper(Shaping(bandwidth_mbps=1.0))
    answers = [s.admit(1250, now_s=0.0) for _ in range(150)]
    admitted = [a for a in answers if a >= 0]
    # Frames are admitted while the wait for the link stays within MAX_BACKLOG_MS.
    # (100 or 101 frames: the sum of 100 × 10 ms lands on either side of 1 s in floats)
    assert int(MAX_BACKLOG_MS / 10) <= len(admitted) <= int(MAX_BACKLOG_MS / 10) + 1
    assert answers[len(admitted):] == [QUEUE_FULL] * (150 - len(admitted))
    # Once the queue has drained, the link takes frames again.
    assert s.admit(1250, now_s=2.0) >= 2.0


def test_loss_follows_the_configured_probability_and_the_seed() -> None:
    runs = []
    for _ in range(2):
        s = shaper(Shaping(loss=0.3), seed=42)
        runs.append([s.admit(100, now_s=0.0) == LOST for _ in range(10_000)])
    assert runs[0] == runs[1]  # same seed, same losses: a lossy run is repeatable
    assert 0.28 <= sum(runs[0]) / 10_000 <= 0.32


def test_new_properties_apply_to_the_next_frame() -> None:
    s = shaper(Shaping())
    s.set_shaping(Shaping(latency_ms=100.0, bandwidth_mbps=100_000.0))
    assert s.admit(10, now_s=1.0) == pytest.approx(1.1, abs=1e-6)
