"""A seeded random fault schedule, like Jepsen's nemesis: what to break, and when.

A lesson breaks one thing on purpose; a nemesis breaks things at random for
a while, to show that the system keeps its promises under *any* sequence of
crashes, pauses, partitions and bad links — and, when it does not, to hand
over the exact sequence that broke it. So the schedule is a pure function of
a seed: the same seed always gives the same faults at the same times, and a
failure seen in class can be replayed at home with ``clusterlab chaos --seed N``.

Every fault is paired with its undo (kill → restart, pause → resume,
partition → heal, slow or lossy link → normal), and the schedule ends with
a final heal, so the cluster is whole again when it is over. Faults are
chosen so the cluster stays able to make progress most of the time: at most
a minority of nodes is down or paused at once, at most one partition or
one-way cut at a time, and a node is the target of one fault at a time.

The actions are ``POST /api/faults`` bodies (docs/faults.md); the backend's
chaos runner sends each one at its time through that same route.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

KINDS = ("kill", "pause", "partition", "oneway", "delay", "loss")
# Between the start of one fault and the start of the next: long enough for
# the cluster to react (an election takes a few hundred ms), short enough
# that a 30 s run shows several faults.
MIN_GAP_S = 1.0
MAX_GAP_S = 4.0
# How long a fault lasts before its undo.
MIN_FAULT_S = 2.0
MAX_FAULT_S = 6.0
# Faults in force at once: two already make the timeline hard to follow.
MAX_CONCURRENT = 2
# The final heal comes this long before the end, so nodes restarted by it
# have started by the time the schedule is over.
FINAL_MARGIN_S = 0.5
# An hour of chaos is about a thousand faults; beyond that nobody reads it.
MAX_DURATION_S = 3600.0
MAX_NODES = 50
DELAY_MS_RANGE = (50, 400)
LOSS_RANGE = (0.1, 0.5)


class NemesisError(ValueError):
    """Bad arguments for a schedule; the message says which."""


@dataclass(frozen=True)
class ChaosAction:
    """One step of the schedule: at ``at_s`` seconds, send ``fault`` to POST /api/faults."""

    at_s: float
    fault: Mapping[str, Any]
    text: str  # one line for people: "kill n3", "partition n1 | n2,n3"
    undo: bool = False  # this action ends an earlier fault
    targets: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "at_s": self.at_s,
            "fault": dict(self.fault),
            "text": self.text,
            "undo": self.undo,
            "targets": list(self.targets),
        }


@dataclass
class _Active:
    end_s: float
    kind: str
    nodes: frozenset[str]
    link: frozenset[str] | None = None


def _node_key(node: str) -> tuple[int, str]:
    digits = node.lstrip("n")
    return (int(digits), node) if digits.isdigit() else (1 << 30, node)


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if _node_key(a) <= _node_key(b) else (b, a)


def _check(seed: int, duration_s: float, nodes: Sequence[str], kinds: Sequence[str]) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise NemesisError(f"seed must be a whole number of at least 0, got {seed!r}")
    if not 0 < duration_s <= MAX_DURATION_S:
        raise NemesisError(f"duration must be from 0 to {MAX_DURATION_S:g} s, got {duration_s!r}")
    if not 1 <= len(nodes) <= MAX_NODES or len(set(nodes)) != len(nodes):
        raise NemesisError(f"nodes must be 1 to {MAX_NODES} distinct ids, got {list(nodes)}")
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise NemesisError(f"kinds must be some of {', '.join(KINDS)}, got {list(kinds)}")


def schedule(
    seed: int,
    duration_s: float,
    nodes: Sequence[str],
    links: Sequence[tuple[str, str]] | None = None,
    kinds: Sequence[str] = KINDS,
) -> tuple[ChaosAction, ...]:
    """The faults of a run, in time order; the same arguments give the same schedule.

    ``links`` are the pairs a link fault may act on (default: every pair).
    """
    _check(seed, duration_s, nodes, kinds)
    rng = random.Random(seed)
    ordered = sorted(nodes, key=_node_key)
    pairs = sorted(_pair(a, b) for a, b in links) if links is not None else \
        [(a, b) for i, a in enumerate(ordered) for b in ordered[i + 1 :]]
    pairs = sorted(set(pairs), key=lambda p: (_node_key(p[0]), _node_key(p[1])))
    max_down = (len(ordered) - 1) // 2  # a majority stays up and reachable
    end_s = max(0.0, duration_s - FINAL_MARGIN_S)
    actions: list[ChaosAction] = []
    active: list[_Active] = []
    t = 0.0
    while True:
        t = round(t + rng.uniform(MIN_GAP_S, MAX_GAP_S), 2)
        if t + MIN_FAULT_S > end_s:
            break
        active = [a for a in active if a.end_s > t]
        if len(active) >= MAX_CONCURRENT:
            continue
        busy = frozenset().union(*(a.nodes for a in active)) if active else frozenset()
        options = _possible(kinds, active, busy, ordered, pairs, max_down)
        if not options:
            continue
        kind = rng.choice(options)
        length = rng.uniform(MIN_FAULT_S, MAX_FAULT_S)
        stop_s = round(min(t + length, end_s), 2)
        start, undo, entry = _fault(kind, rng, ordered, pairs, busy, active, stop_s)
        active.append(entry)
        actions.append(ChaosAction(t, start[0], start[1], False, tuple(sorted(entry.nodes))))
        actions.append(ChaosAction(stop_s, undo[0], undo[1], True, tuple(sorted(entry.nodes))))
    actions.append(ChaosAction(round(end_s, 2), {"action": "heal", "links": True},
                               "heal everything", True, ()))
    # Stable by time; at the same moment an undo goes before a new fault.
    actions.sort(key=lambda a: (a.at_s, not a.undo))
    return tuple(actions)


def _possible(
    kinds: Sequence[str],
    active: Sequence[_Active],
    busy: frozenset[str],
    nodes: Sequence[str],
    pairs: Sequence[tuple[str, str]],
    max_down: int,
) -> list[str]:
    down = sum(len(a.nodes) for a in active if a.kind in ("kill", "pause"))
    free = [n for n in nodes if n not in busy]
    cut = any(a.kind in ("partition", "oneway") for a in active)
    used_links = {a.link for a in active if a.link is not None}
    free_links = [p for p in pairs if frozenset(p) not in used_links
                  and not set(p) & busy]
    allowed = {
        "kill": bool(free) and down < max_down,
        "pause": bool(free) and down < max_down,
        "partition": not cut and len(nodes) >= 2 and not busy,
        "oneway": not cut and len(nodes) >= 2 and not busy,
        "delay": bool(free_links),
        "loss": bool(free_links),
    }
    return [kind for kind in kinds if allowed[kind]]


Step = tuple[dict[str, Any], str]


def _fault(
    kind: str,
    rng: random.Random,
    nodes: Sequence[str],
    pairs: Sequence[tuple[str, str]],
    busy: frozenset[str],
    active: Sequence[_Active],
    stop_s: float,
) -> tuple[Step, Step, _Active]:
    """The fault, its undo, and what it occupies until ``stop_s``."""
    if kind in ("kill", "pause"):
        node = rng.choice([n for n in nodes if n not in busy])
        back = "restart" if kind == "kill" else "resume"
        return ({"action": kind, "node": node}, f"{kind} {node}"), \
            ({"action": back, "node": node}, f"{back} {node}"), \
            _Active(stop_s, kind, frozenset({node}))
    if kind in ("partition", "oneway"):
        size = rng.randint(1, max(1, (len(nodes) - 1) // 2))
        minority = sorted(rng.sample(list(nodes), size), key=_node_key)
        rest = [n for n in nodes if n not in minority]
        heal = ({"action": "heal"}, "heal the partition")
        everyone = frozenset(nodes)
        if kind == "partition":
            text = f"partition {','.join(minority)} | {','.join(rest)}"
            return ({"action": "partition", "groups": [minority, rest]}, text), heal, \
                _Active(stop_s, kind, everyone)
        # The minority still talks; nobody answers it: the lesson of one-way cuts.
        text = f"one-way {','.join(minority)} → {','.join(rest)} (no way back)"
        return ({"action": "oneway", "from": minority, "to": rest}, text), heal, \
            _Active(stop_s, kind, everyone)
    used = {a.link for a in active if a.link is not None}
    a, b = rng.choice([p for p in pairs if frozenset(p) not in used and not set(p) & busy])
    if kind == "delay":
        delay_ms = 10 * rng.randint(DELAY_MS_RANGE[0] // 10, DELAY_MS_RANGE[1] // 10)
        start = ({"action": "link", "a": a, "b": b, "delay_ms": delay_ms},
                 f"slow link {a}–{b}: +{delay_ms} ms")
        undo = ({"action": "link", "a": a, "b": b, "delay_ms": 0}, f"link {a}–{b} fast again")
    else:
        loss = round(rng.uniform(*LOSS_RANGE), 2)
        start = ({"action": "link", "a": a, "b": b, "loss": loss},
                 f"lossy link {a}–{b}: {loss:.0%} lost")
        undo = ({"action": "link", "a": a, "b": b, "loss": 0}, f"link {a}–{b} reliable again")
    return start, undo, _Active(stop_s, kind, frozenset(), frozenset((a, b)))
