"""Network fault rules: which frames a partition, a one-way cut or a faulty link stops.

The instructor breaks the network on purpose (docs/faults.md). The backend
turns each request into the values below, refusing a bad one with a message
that names the problem; every node receives the whole set (``SetFaults``)
and consults it for each frame it is about to put on a link. Both sides use
this one pure module, so what the backend accepts and what the nodes do
cannot drift apart, and the rules are unit-tested without a socket.

What the rules mean:

* a **partition** splits the nodes into groups (each node in at most one;
  the nodes not listed form one more group together). No message crosses
  from one group to another, in either direction.
* a **one-way** rule from F to T lets F's messages reach T and stops every
  message from a node of T to a node of F.
* a **link fault** changes one direction ``src → dst`` of one link: cut it
  (``up`` false), add delay and jitter, lose, duplicate or reorder frames.

A blocked pair is checked at every hop, twice: for the hop itself (this
node → next hop) and end to end (the message's source → its destination).
The first is what a cable cut does; the second keeps a multi-hop route
through a third node from carrying a message around the cut, so "n3's
messages do not reach n1" holds whatever the topology.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Each rule lists up to 50 nodes twice; 16 is more than any lesson stacks and
# keeps SetFaults far below the node's 64 KiB limit for one command.
MAX_ONEWAY_RULES = 16
# Directed link faults at once: every link of a 16-node mesh. About 100 bytes
# each on the wire, so SetFaults stays under 30 KB.
MAX_LINK_FAULTS = 256
# Beyond ten seconds every protocol here has long given up (× time scale).
MAX_FAULT_DELAY_MS = 10_000.0
# A node id on the wire is short ("n12"); a longer string is not one of ours.
MAX_NODE_ID_CHARS = 64

DELAY_FIELDS = ("delay_ms", "jitter_ms")
PROBABILITY_FIELDS = ("loss", "duplicate", "reorder")
LINK_FAULT_FIELDS = ("up", *DELAY_FIELDS, *PROBABILITY_FIELDS)


class FaultError(ValueError):
    """A fault request or rule set is invalid; the message says what is wrong."""


def node_order(node_id: str) -> tuple[int, str]:
    """Sort key: n2 before n10, as a person counts."""
    digits = node_id.lstrip("n")
    return (int(digits), node_id) if digits.isdigit() else (1 << 30, node_id)


def sorted_nodes(nodes: Iterable[str]) -> list[str]:
    return sorted(nodes, key=node_order)


@dataclass(frozen=True, slots=True)
class LinkFault:
    """What a fault does to one direction ``src → dst`` of a link (nothing by default).

    ``delay_ms`` and ``jitter_ms`` add to the link's configured latency and
    jitter; ``loss``, ``duplicate`` and ``reorder`` are probabilities per frame.
    """

    src: str
    dst: str
    up: bool = True
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0

    @property
    def neutral(self) -> bool:
        """True when the fault changes nothing (a restored link)."""
        numbers = (*DELAY_FIELDS, *PROBABILITY_FIELDS)
        return self.up and all(getattr(self, name) == 0 for name in numbers)

    def settings(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in LINK_FAULT_FIELDS}

    def to_wire(self) -> dict[str, Any]:
        return {"src": self.src, "dst": self.dst, **self.settings()}

    def problems(self) -> list[str]:
        """Every value outside its allowed range, as readable phrases."""
        found: list[str] = []
        if self.src == self.dst:
            found.append(f"a link joins two different nodes, got {self.src!r} twice")
        if not isinstance(self.up, bool):
            found.append(f"up must be true or false, got {self.up!r}")
        for name in DELAY_FIELDS:
            value = getattr(self, name)
            if not _number_in(value, 0.0, MAX_FAULT_DELAY_MS):
                found.append(f"{name} must be between 0 and {MAX_FAULT_DELAY_MS:g}, got {value!r}")
        for name in PROBABILITY_FIELDS:
            value = getattr(self, name)
            if not _number_in(value, 0.0, 1.0):
                found.append(f"{name} must be between 0 and 1, got {value!r}")
        return found


def link_fault(src: str, dst: str, settings: Mapping[str, Any]) -> LinkFault:
    """One direction of a link fault from request or wire settings; FaultError if bad.

    A field left out takes its neutral value: each request states the
    link's whole fault, so what it shows is all that applies.
    """
    unknown = sorted(set(settings) - set(LINK_FAULT_FIELDS))
    if unknown:
        raise FaultError(f"unknown link field {unknown[0]!r}; use {', '.join(LINK_FAULT_FIELDS)}")
    values: dict[str, Any] = {}
    for name, value in settings.items():
        if name != "up" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)  # JSON and msgpack keep 5 an int; it means 5.0
        values[name] = value
    fault = LinkFault(src, dst, **values)
    problems = fault.problems()
    if problems:
        raise FaultError("; ".join(problems))
    return fault


@dataclass(frozen=True, slots=True)
class FaultRules:
    """Every network fault in force; ``blocked`` and ``link`` answer per frame."""

    partition: tuple[frozenset[str], ...] = ()
    oneways: tuple[tuple[frozenset[str], frozenset[str]], ...] = ()
    links: tuple[LinkFault, ...] = ()
    # node → its group's number; a node in no group is in group -1 (the rest)
    _group_of: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        groups = {node: i for i, group in enumerate(self.partition) for node in group}
        object.__setattr__(self, "_group_of", groups)

    @property
    def empty(self) -> bool:
        return not self.partition and not self.oneways and not self.links

    def blocked(self, src: str, dst: str) -> bool:
        """Whether a partition or a one-way rule stops messages from ``src`` to ``dst``."""
        if src == dst:
            return False
        if self.partition and self._group_of.get(src, -1) != self._group_of.get(dst, -1):
            return True
        return any(src in to and dst in frm for frm, to in self.oneways)

    def links_from(self, src: str) -> dict[str, LinkFault]:
        """The link faults on ``src``'s outgoing directions, by next hop."""
        return {f.dst: f for f in self.links if f.src == src}

    def blocked_from(self, src: str, nodes: Iterable[str]) -> list[str]:
        """Which of ``nodes`` the messages of ``src`` cannot reach."""
        return sorted_nodes(n for n in nodes if self.blocked(src, n))

    def to_wire(self) -> tuple[list[list[str]], list[list[list[str]]], list[dict[str, Any]]]:
        """(partition, oneways, links) as plain lists for ``SetFaults``."""
        return (
            [sorted_nodes(group) for group in self.partition],
            [[sorted_nodes(frm), sorted_nodes(to)] for frm, to in self.oneways],
            [f.to_wire() for f in self.links],
        )

    @staticmethod
    def from_wire(partition: Any, oneways: Any, links: Any) -> FaultRules:
        """The rules a node received; remote data, so every value is checked."""
        groups = parse_partition(partition, None) if partition else ()
        if not isinstance(oneways, list) or len(oneways) > MAX_ONEWAY_RULES:
            raise FaultError(f"oneways must be a list of at most {MAX_ONEWAY_RULES} rules")
        rules = []
        for rule in oneways:
            if not isinstance(rule, list) or len(rule) != 2:
                raise FaultError("a one-way rule must be [from nodes, to nodes]")
            rules.append(parse_oneway(rule[0], rule[1], None))
        if not isinstance(links, list) or len(links) > MAX_LINK_FAULTS:
            raise FaultError(f"links must be a list of at most {MAX_LINK_FAULTS} link faults")
        faults = []
        for raw in links:
            if not isinstance(raw, dict):
                raise FaultError("a link fault must be a map")
            settings = {k: v for k, v in raw.items() if k not in ("src", "dst")}
            faults.append(
                link_fault(
                    _node_id(raw.get("src"), "src"), _node_id(raw.get("dst"), "dst"), settings
                )
            )
        if len({(f.src, f.dst) for f in faults}) != len(faults):
            raise FaultError("a link direction has two faults")
        return FaultRules(groups, tuple(rules), tuple(faults))


# -- checking what a person asked for ----------------------------------------


def parse_nodes(raw: Any, what: str, known: Sequence[str] | None) -> frozenset[str]:
    """A non-empty list of distinct node ids (all in ``known``, when given)."""
    if not isinstance(raw, list) or not raw:
        raise FaultError(f"{what} must be a non-empty list of node ids, got {raw!r}")
    nodes: set[str] = set()
    for item in raw:
        node = _node_id(item, what)
        if known is not None and node not in known:
            raise FaultError(f"unknown node {node!r}; nodes are {', '.join(known)}")
        if node in nodes:
            raise FaultError(f"{node} is listed twice in {what}")
        nodes.add(node)
    return frozenset(nodes)


def parse_partition(raw: Any, known: Sequence[str] | None) -> tuple[frozenset[str], ...]:
    """The groups of a partition; with ``known``, also that it cuts something."""
    if not isinstance(raw, list) or not raw:
        raise FaultError(f"groups must be a non-empty list of lists of node ids, got {raw!r}")
    limit = len(known) if known is not None else 1 << 10
    if len(raw) > limit:
        raise FaultError(f"at most {limit} groups, got {len(raw)}")
    groups: list[frozenset[str]] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw):
        group = parse_nodes(entry, f"group {i + 1}", known)
        twice = sorted_nodes(group & seen)
        if twice:
            raise FaultError(f"{twice[0]} is in two groups; a node belongs to at most one")
        seen |= group
        groups.append(group)
    if known is not None:
        rest = [n for n in known if n not in seen]
        if len(groups) + (1 if rest else 0) < 2:
            raise FaultError(
                "every node is in one group, so nothing would be cut; "
                "list at least two groups, or leave some nodes out (they form one more group)"
            )
    return tuple(groups)


def parse_oneway(
    raw_from: Any, raw_to: Any, known: Sequence[str] | None
) -> tuple[frozenset[str], frozenset[str]]:
    """(from, to) of a one-way rule: two lists with no node in both."""
    frm = parse_nodes(raw_from, "from", known)
    to = parse_nodes(raw_to, "to", known)
    both = sorted_nodes(frm & to)
    if both:
        raise FaultError(
            f"{both[0]} is in both from and to; a one-way rule needs two separate sets"
        )
    return frm, to


def parse_link_request(body: Mapping[str, Any], known: Sequence[str]) -> list[LinkFault]:
    """``{"a", "b", "oneway"?, up/delay_ms/...}`` → the faulted directions (a→b, b→a)."""
    a = _known_node(body.get("a"), "a", known)
    b = _known_node(body.get("b"), "b", known)
    if a == b:
        raise FaultError(f"a and b must be two different nodes, got {a!r} twice")
    oneway = body.get("oneway", False)
    if not isinstance(oneway, bool):
        raise FaultError(f"oneway must be true or false, got {oneway!r}")
    settings = {k: v for k, v in body.items() if k not in ("a", "b", "oneway")}
    forward = link_fault(a, b, settings)
    return [forward] if oneway else [forward, link_fault(b, a, settings)]


def all_groups(partition: Sequence[frozenset[str]], known: Iterable[str]) -> list[list[str]]:
    """The groups as listed, plus the unlisted nodes as one more group (if any)."""
    groups = [sorted_nodes(g) for g in partition]
    listed = set().union(*partition) if partition else set()
    rest = sorted_nodes(n for n in known if n not in listed)
    return [*groups, rest] if rest else groups


def _known_node(raw: Any, what: str, known: Sequence[str]) -> str:
    node = _node_id(raw, what)
    if node not in known:
        raise FaultError(f"unknown node {node!r}; nodes are {', '.join(known)}")
    return node


def _node_id(raw: Any, what: str) -> str:
    if not isinstance(raw, str) or not raw or len(raw) > MAX_NODE_ID_CHARS:
        raise FaultError(f"{what} must name nodes by id, such as 'n2'; got {raw!r}")
    return raw


def _number_in(value: object, low: float, high: float) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) and low <= value <= high
