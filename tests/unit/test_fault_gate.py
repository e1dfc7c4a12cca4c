"""The node's fault gate (cluster/node/faults.py): the decision for each frame.

The link here records what the gate put on it, in order, in place of a TCP
connection, so the decisions can be checked exactly (which frames, in which
order, how many copies); the shaper is the real one. The same rules on real
processes and sockets are checked in tests/integration/test_faults_run.py.
"""

from __future__ import annotations

import asyncio
import collections
import random

from cluster.core.faults import FaultRules, LinkFault, parse_oneway, parse_partition
from cluster.node.faults import REORDER_HOLD_MS, FaultGate
from cluster.node.shaping import Shaper, Shaping
from cluster.schema.messages import Envelope
from cluster.schema.routing import RoutingHello

NODES = ["n1", "n2", "n3"]


class RecordingLink:
    """Keeps every (seq, release time) the gate enqueues, in order."""

    def __init__(self) -> None:
        self.shaper = Shaper(Shaping(latency_ms=0.0), random.Random(0), lambda: 1.0)
        self.sent: list[int] = []
        self.release_s: list[float] = []

    def enqueue(self, env: Envelope, frame: bytes) -> str | None:
        self.sent.append(env.seq)
        self.release_s.append(self.shaper.admit(len(frame), now_s=0.0))
        return None


def gate(rules: FaultRules, link: RecordingLink, node: str = "n1") -> tuple[FaultGate, list[str]]:
    drops: list[str] = []
    g = FaultGate(
        node,
        {"n2": link},
        random.Random(7),
        lambda: 1.0,
        collections.Counter(),
        lambda env, reason: drops.append(f"{env.seq}:{reason}"),
    )
    g.apply(rules, 1)
    return g, drops


def env(seq: int, src: str = "n1", dst: str = "n2") -> Envelope:
    return Envelope(src, dst, seq, RoutingHello(src, []))


def test_a_partition_drops_the_hop_and_the_message_end_to_end() -> None:
    link = RecordingLink()
    g, _ = gate(FaultRules(parse_partition([["n1", "n2"], ["n3"]], NODES)), link)
    assert g.send("n2", env(1), b"x", link) is None  # n1 → n2: same side
    # n1 forwards n3's message towards n2: the hop is fine, the message is not
    assert g.send("n2", env(2, src="n3", dst="n2"), b"x", link) == "partition"
    assert link.sent == [1]


def test_oneway_blocks_only_the_reverse_direction() -> None:
    link = RecordingLink()
    rules = FaultRules(oneways=(parse_oneway(["n2"], ["n1"], NODES),))
    g, _ = gate(rules, link, node="n1")
    assert g.send("n2", env(1), b"x", link) == "partition"  # n1 is in "to": n1 → n2 stopped
    g2, _ = gate(rules, link, node="n2")
    assert g2.send("n2", env(2, src="n2", dst="n1"), b"x", link) is None


def test_link_down_and_certain_loss_drop_with_their_reasons() -> None:
    link = RecordingLink()
    g, _ = gate(FaultRules(links=(LinkFault("n1", "n2", up=False),)), link)
    assert g.send("n2", env(1), b"x", link) == "link_down"
    g, _ = gate(FaultRules(links=(LinkFault("n1", "n2", loss=1.0),)), link)
    assert g.send("n2", env(2), b"x", link) == "loss"
    # the fault is on n1 → n2 only: n2's own gate lets its frames pass
    g, _ = gate(FaultRules(links=(LinkFault("n1", "n2", loss=1.0),)), link, node="n2")
    assert g.send("n2", env(3, src="n2"), b"x", link) is None
    assert link.sent == [3]


def test_duplicate_puts_the_frame_on_the_link_twice() -> None:
    link = RecordingLink()
    g, _ = gate(FaultRules(links=(LinkFault("n1", "n2", duplicate=1.0),)), link)
    for seq in (1, 2):
        assert g.send("n2", env(seq), b"x", link) is None
    assert link.sent == [1, 1, 2, 2]


def test_reorder_swaps_a_frame_with_the_next_one() -> None:
    async def scenario() -> list[int]:
        link = RecordingLink()
        g, drops = gate(FaultRules(links=(LinkFault("n1", "n2", reorder=1.0),)), link)
        g.send("n2", env(1), b"x", link)  # held back
        g.send("n2", env(2), b"x", link)  # goes, then 1 follows it
        g.send("n2", env(3), b"x", link)  # held back; nothing follows...
        await asyncio.sleep(REORDER_HOLD_MS / 1000.0 * 2)  # ...so it goes alone, late
        assert drops == []
        return link.sent

    assert asyncio.run(scenario()) == [2, 1, 3]


def test_delay_adds_to_the_configured_latency_and_heal_removes_it() -> None:
    link = RecordingLink()
    link.shaper.set_shaping(Shaping(latency_ms=10.0, bandwidth_mbps=100_000.0))
    g, _ = gate(FaultRules(links=(LinkFault("n1", "n2", delay_ms=40.0),)), link)
    g.send("n2", env(1), b"x", link)
    assert abs(link.release_s[-1] - 0.050) < 1e-6
    g.apply(FaultRules(), 2)
    assert not g.active
    link.shaper.reset()
    link.enqueue(env(2), b"x")  # what the node does once no fault is active
    assert abs(link.release_s[-1] - 0.010) < 1e-6
