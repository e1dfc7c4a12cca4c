"""``ticks_until_due``: the ticks a core says only count really do nothing else.

The node shell (clock.LazyTicker) sleeps through those ticks and delivers
them late; that is only the same run if none of them would have produced
output or changed what the core does next. These tests tick whole networks
every tick, as before, and check each tick against the prediction.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from cluster.core.raft import RaftConfig, RaftNode, Role
from cluster.core.routing.distance_vector import DistanceVectorConfig, DistanceVectorRouter
from cluster.core.routing.linkstate import LinkStateRouter
from cluster.core.routing.protocol import RoutingOutput
from cluster.node.clock import LazyTicker, ScaledClock
from cluster.node.routing import shell_linkstate


def _quiet(out: RoutingOutput, converged_before: bool) -> bool:
    return (
        not out.sends
        and out.table is None
        and not out.changes
        and not out.notes
        and out.converged == converged_before
    )


@pytest.mark.parametrize("seed", range(4))
def test_linkstate_ticks_predicted_idle_produce_nothing(seed: int) -> None:
    rng = random.Random(seed)
    names = [f"n{i}" for i in range(1, 6)]
    # The shell's settings for a 10 ms tick (SPF hold, LSA interval, dead floor).
    routers = {
        n: LinkStateRouter(
            n,
            {p: 1 for p in names if p != n},
            random.Random(f"{seed}/{n}"),
            shell_linkstate(10, len(names) - 1, len(names)),
        )
        for n in names
    }
    converged = dict.fromkeys(names, False)
    due = {n: r.ticks_until_due() for n, r in routers.items()}
    in_flight: list[tuple[str, str, object]] = []
    cut_at, heal_at = rng.randrange(300, 500), rng.randrange(700, 900)
    checked_idle = 0

    def handle(node: str, out: RoutingOutput) -> None:
        converged[node] = out.converged
        in_flight.extend((s.to, node, s.msg) for s in out.sends)
        due[node] = routers[node].ticks_until_due()

    for now in range(1, 1500):
        if now == cut_at:  # a cut cable: both ends are told, as the transport does
            handle("n1", routers["n1"].link_down("n2"))
            handle("n2", routers["n2"].link_down("n1"))
        if now == heal_at:
            handle("n1", routers["n1"].set_link("n2", 1))
            handle("n2", routers["n2"].set_link("n1", 1))
        for name, r in routers.items():
            idle = due[name] > 1
            before = converged[name]
            out = r.tick()
            if idle:
                checked_idle += 1
                assert _quiet(out, before), (now, name, out)
            handle(name, out)
        deliveries, in_flight[:] = list(in_flight), []
        for to, frm, msg in deliveries:
            if now in range(cut_at, heal_at) and {to, frm} == {"n1", "n2"}:
                continue  # lost on the cut link
            handle(to, routers[to].step(frm, msg))
    assert all(converged.values())
    assert checked_idle > 1500 * len(names) // 2  # most ticks of a quiet network are idle


# n1 hangs off a ring n2–n3–n4–n5. Cutting n1–n2 cuts n1 off, so routes to it
# are withdrawn and garbage-collected (counting to infinity first without the
# fixes); cutting n2–n3 too makes routes move to the detour round the ring.
# The variants are those of the dashboard's switches.
DV_LINKS = (("n1", "n2"), ("n2", "n3"), ("n3", "n4"), ("n4", "n5"), ("n5", "n2"))
DV_CUT = ({"n1", "n2"}, {"n2", "n3"})
DV_VARIANTS = {
    "plain": DistanceVectorConfig(split_horizon=False, poison_reverse=False),
    "split-horizon": DistanceVectorConfig(split_horizon=True, poison_reverse=False),
    "poison-reverse": DistanceVectorConfig(split_horizon=True, poison_reverse=True),
    "periodic-only": DistanceVectorConfig(triggered_updates=False),
}


@pytest.mark.parametrize("variant", sorted(DV_VARIANTS))
@pytest.mark.parametrize("seed", range(4))
def test_distance_vector_ticks_predicted_idle_produce_nothing(variant: str, seed: int) -> None:
    """Each prediction is checked on the tick it names and on every tick before it.

    Distance-vector's prediction is exact, not just safe: every timer it
    counts down acts when it fires. So a tick predicted due must do
    something too, which makes a prediction one tick late *or* early fail.
    """
    config = DV_VARIANTS[variant]
    rng = random.Random(seed)
    names = [f"n{i}" for i in range(1, 6)]
    peers: dict[str, dict[str, int | None]] = {n: {} for n in names}
    for a, b in DV_LINKS:
        peers[a][b] = peers[b][a] = 1
    routers = {
        n: DistanceVectorRouter(n, peers[n], random.Random(f"{seed}/{n}"), config) for n in names
    }
    converged = dict.fromkeys(names, False)
    due = {n: r.ticks_until_due() for n, r in routers.items()}
    in_flight: list[tuple[str, str, object]] = []
    # Even seeds: the transport notices the cut and tells both ends. Odd seeds:
    # the cable just loses everything, so routes through it must time out
    # (route_timeout_ticks, then garbage_ticks) before the heal.
    told = seed % 2 == 0
    timeout_ticks = config.route_timeout_ticks + config.garbage_ticks
    cut_at = rng.randrange(300, 500)
    heal_at = cut_at + timeout_ticks + rng.randrange(50, 150)
    end_tick = heal_at + 800
    checked_idle = checked_due = 0
    stable_predictions: list[int] = []

    def handle(node: str, out: RoutingOutput) -> None:
        converged[node] = out.converged
        in_flight.extend((s.to, node, s.msg) for s in out.sends)
        due[node] = routers[node].ticks_until_due()

    for now in range(1, end_tick):
        if now == cut_at and told:
            for a, b in map(sorted, DV_CUT):
                handle(a, routers[a].link_down(b))
                handle(b, routers[b].link_down(a))
        for name, r in routers.items():
            before = converged[name]
            metrics_before = r.metrics()
            out = r.tick()
            if due[name] > 1:
                checked_idle += 1
                assert _quiet(out, before), (now, name, due[name], out)
                # Garbage collection sends nothing; it must still not be skipped.
                assert r.metrics() == metrics_before, (now, name, due[name])
            else:
                checked_due += 1
                quiet = _quiet(out, before) and r.metrics() == metrics_before
                assert not quiet, (now, name, "predicted due, did nothing")
            handle(name, out)
            if now >= end_tick - 300:
                stable_predictions.append(due[name])
        deliveries, in_flight[:] = list(in_flight), []
        for to, frm, msg in deliveries:
            if now in range(cut_at, heal_at) and {to, frm} in DV_CUT:
                continue  # lost on a cut link
            handle(to, routers[to].step(frm, msg))
    assert all(converged.values())
    assert checked_idle > end_tick * len(names) * 3 // 4, (checked_idle, checked_due)
    # Idle, a node waits for its next periodic update: up to update_interval_ticks.
    long_waits = sum(d > 5 for d in stable_predictions)
    assert long_waits > len(stable_predictions) * 2 // 3, sorted(stable_predictions)


@pytest.mark.parametrize("seed", range(4))
def test_raft_ticks_predicted_idle_change_nothing(seed: int) -> None:
    voters = ["n1", "n2", "n3"]
    nodes = {
        n: RaftNode(n, voters, None, random.Random(f"{seed}/{n}"), RaftConfig()) for n in voters
    }
    rng = random.Random(seed)
    in_flight: list[tuple[str, str, object]] = []
    down: set[str] = set()
    checked_idle = 0

    def drain() -> None:
        for name, node in nodes.items():
            while node.has_ready():
                rd = node.ready()
                if name not in down:
                    in_flight.extend((to, name, msg) for to, msg in rd.messages)
                node.advance(rd)

    for now in range(1, 2000):
        drain()  # what the last messages stepped made ready goes first
        if now % 400 == 0:  # take the leader away for a while: a new election follows
            leaders = [n for n, r in nodes.items() if r.role is Role.LEADER]
            down = set(leaders[:1])
        if now % 400 == 200:
            down = set()
        for name, node in nodes.items():
            due = node.ticks_until_due()
            before = (node.role, node.term, node.election_elapsed_ticks)
            node.tick()
            if due > 1:
                checked_idle += 1
                assert not node.has_ready(), (now, name)
                role, term, _ = before
                assert (node.role, node.term) == (role, term)
        drain()
        deliveries, in_flight[:] = list(in_flight), []
        rng.shuffle(deliveries)
        for to, frm, msg in deliveries:
            if to not in down:
                nodes[to].step(frm, msg)
    assert checked_idle > 2000


def test_lazy_ticker_delivers_every_tick_but_wakes_rarely() -> None:
    async def main() -> tuple[int, int, int]:
        clock = ScaledClock(time_scale=1.0)
        wakeups = 0

        def due() -> int:
            nonlocal wakeups
            wakeups += 1
            return 10  # only every tenth tick matters

        ticker = LazyTicker(clock, 5, lambda: None, due, max_late_ticks=5)
        task = asyncio.create_task(ticker.run())
        await asyncio.sleep(0.5)
        ticker.catch_up()  # what an input does first
        delivered = ticker.ticks
        task.cancel()
        return delivered, wakeups, 100  # 0.5 s of 5 ms ticks

    delivered, wakeups, expected = asyncio.run(main())
    assert expected * 0.8 <= delivered <= expected + 1
    assert wakeups <= expected // 10 + 2
