"""The words a lesson file may use: its actions, its conditions and their parameters.

Kept apart from the loader (scenario.py) so that the whole vocabulary reads
as two tables — every action a step may perform and every condition a wait
or a check may ask — each parameter with the check its value must pass.
docs/lessons.md documents the same tables for lesson authors.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cluster.core.topology import PRESETS

# Bigger uploads belong to the benchmark, not to a lesson step.
MAX_UPLOAD_BYTES = 64 * 1024 * 1024

# {leader}, {old_term}, or {joined.node}: a field of an action's saved answer.
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\}")
IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
# Node lists that do not depend on the action: they fill a whole item of a
# node list (``among = ["{followers}"]``), read as "n2, n3 and n4" in a
# sentence, and can be remembered; ``{followers.0}`` is the first of them.
# What lets one lesson run on 3 nodes or 5 (placeholders.py says who is in each).
NODE_LIST_PLACEHOLDERS = frozenset({"followers", "spare_followers", "quorum_followers"})
# Resolved from the live view when a step starts (placeholders.py).
BUILTIN_PLACEHOLDERS = frozenset(
    {"leader", "follower", "term", "commit", "rest", "all", "cluster_size", "majority"}
    | {f"follower{i}" for i in range(1, 10)}
    | NODE_LIST_PLACEHOLDERS
)
# {rest} ("every node not named elsewhere in the action") and {all} only make
# sense as an item of a node list.
LIST_ONLY_PLACEHOLDERS = frozenset({"rest", "all"})

EXPECTS = ("ok", "fail", "any")
CONSISTENCIES = ("linearizable", "stale")
NODE_STATES = ("up", "down", "paused", "starting")
ROLES = ("follower", "pre_candidate", "candidate", "leader")
ROUTING_PROTOCOLS = ("link-state", "distance-vector")
STRATEGIES = ("consistent", "rendezvous", "modulo")
HASHES = ("sha256", "md5", "sha1", "modhash")


# -- parameter kinds ------------------------------------------------------------

Check = Callable[[Any], str | None]  # None when the value is acceptable, else why not


def _text(value: Any) -> str | None:
    return None if isinstance(value, str) and value else "must be a non-empty string"


text_check = _text  # for the loader's own top-level keys


def _node(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return 'must be a node id such as "n2" or a placeholder such as "{leader}"'
    return None


def _nodes(value: Any) -> str | None:
    if not isinstance(value, list) or not value or any(_node(v) for v in value):
        return 'must be a non-empty list of node ids or placeholders, e.g. ["{leader}", "n3"]'
    return None


def _groups(value: Any) -> str | None:
    if not isinstance(value, list) or not value or any(_nodes(g) for g in value):
        return 'must be a list of node lists, e.g. [["{leader}"], ["{rest}"]]'
    return None


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _single_placeholder(value: Any) -> bool:
    return isinstance(value, str) and PLACEHOLDER.fullmatch(value) is not None


def _number(value: Any) -> str | None:
    if is_number(value) or _single_placeholder(value):
        return None
    return 'must be a number or one placeholder such as "{old_term}"'


def _int(value: Any) -> str | None:
    if (isinstance(value, int) and not isinstance(value, bool)) or _single_placeholder(value):
        return None
    return "must be a whole number"


def _non_negative(value: Any) -> str | None:
    problem = _number(value)
    if problem is None and is_number(value) and value < 0:
        return "must not be negative"
    return problem


def _fraction(value: Any) -> str | None:
    if is_number(value) and 0 <= value <= 1:
        return None
    return "must be a number from 0 to 1"


def _bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _scalar(value: Any) -> str | None:
    if isinstance(value, str | int | float | bool):
        return None
    return "must be a string, a number or true/false"


def _upload_size(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_UPLOAD_BYTES:
        return None
    return f"must be a whole number of bytes from 1 to {MAX_UPLOAD_BYTES}"


def _choice(*allowed: str) -> Check:
    def check(value: Any) -> str | None:
        if value in allowed:
            return None
        return f"must be one of {', '.join(repr(a) for a in allowed)}"

    return check


@dataclass(frozen=True)
class Param:
    check: Check
    required: bool = False


def _p(check: Check, required: bool = False) -> Param:
    return Param(check, required)


# What a link edit may change: the fields of PATCH /api/topology/links/<a>/<b>.
_LINK_SETTINGS = {
    "up": _p(_bool),
    "cost": _p(_int),
    "latency_ms": _p(_non_negative),
    "jitter_ms": _p(_non_negative),
    "loss": _p(_fraction),
    "bandwidth_mbps": _p(_non_negative),
}
LINK_SETTINGS = tuple(_LINK_SETTINGS)

# A group of links (link_groups.py): ``among`` a node list, or ``from`` one
# node ``to`` a list; the loader wants exactly one of the two shapes.
_LINK_GROUP = {"among": _p(_nodes), "from": _p(_node), "to": _p(_nodes)}
LINK_GROUP_USERS = ("set_links", "links_latency")

# A node fault names one node, or several (``nodes = ["{all}"]``: one request each).
_NODE_FAULT = {"node": _p(_node), "nodes": _p(_nodes)}
NODE_FAULTS = ("kill", "restart", "wipe", "pause", "resume")

# Every action a step may perform. Faults go through the same function as
# POST /api/faults; the others through the function behind their REST route.
ACTIONS: dict[str, dict[str, Param]] = {
    "kill": _NODE_FAULT,
    "restart": _NODE_FAULT,
    "wipe": _NODE_FAULT,
    "pause": _NODE_FAULT,
    "resume": _NODE_FAULT,
    "partition": {"groups": _p(_groups, True)},
    "oneway": {"from": _p(_nodes, True), "to": _p(_nodes, True)},
    "heal": {"links": _p(_bool)},
    "link": {
        "a": _p(_node, True),
        "b": _p(_node, True),
        "up": _p(_bool),
        "delay_ms": _p(_non_negative),
        "jitter_ms": _p(_non_negative),
        "loss": _p(_fraction),
        "duplicate": _p(_fraction),
        "reorder": _p(_fraction),
        "oneway": _p(_bool),
    },
    "put": {"key": _p(_text, True), "value": _p(_text, True), "node": _p(_node)},
    "get": {
        "key": _p(_text, True),
        "consistency": _p(_choice(*CONSISTENCIES)),
        "node": _p(_node),
    },
    "delete": {"key": _p(_text, True), "node": _p(_node)},
    "upload": {"size_bytes": _p(_upload_size, True), "name": _p(_text), "seed": _p(_int)},
    "topology": {"preset": _p(_choice(*PRESETS), True)},
    "set_link": {"a": _p(_node, True), "b": _p(_node, True), **_LINK_SETTINGS},
    # One PATCH per link of the group, in order; the first refusal is the answer.
    "set_links": {**_LINK_GROUP, **_LINK_SETTINGS},
    "time_scale": {"value": _p(_number, True)},
    "add_member": {"node": _p(_node)},
    "remove_member": {"node": _p(_node, True)},
    "trace": {"src": _p(_node, True), "dst": _p(_node, True)},
    "placement": {
        "strategy": _p(_choice(*STRATEGIES)),
        "hash": _p(_choice(*HASHES)),
        "rf": _p(_int),
        "vnodes": _p(_int),
    },
    "placement_compare": {},
    "file_placement": {"name": _p(_text, True)},
}
ACTION_COMMON = ("do", "save_as", "expect")

_COMPARATORS = {
    "at_least": _p(_number),
    "at_most": _p(_number),
    "above": _p(_number),
    "equals": _p(_number),
}

# Everything a wait or a check can ask of the live cluster (conditions.py).
CONDITIONS: dict[str, dict[str, Param]] = {
    "leader_exists": {"among": _p(_nodes)},
    "no_leader": {"among": _p(_nodes)},
    "leader_changed": {"from": _p(_node)},
    "leader_is": {"node": _p(_node, True)},
    "node_state": {"node": _p(_node, True), "state": _p(_choice(*NODE_STATES), True)},
    "role": {"node": _p(_node, True), "role": _p(_choice(*ROLES), True)},
    "term": {"node": _p(_node), **_COMPARATORS},
    "term_rose": {"by": _p(_int)},
    "caught_up": {"node": _p(_node)},
    "logs_agree": {"nodes": _p(_nodes)},
    "all_up": {},
    "result": {
        "of": _p(_text),
        "ok": _p(_bool),
        "status": _p(_int),
        "field": _p(_text),
        "equals": _p(_scalar),
        "not_equals": _p(_scalar),
        "at_least": _p(_number),
        "at_most": _p(_number),
    },
    "route": {
        "src": _p(_node, True),
        "dst": _p(_node, True),
        "via": _p(_node),
        "not_via": _p(_node),
        "reached": _p(_bool),
    },
    "routing_converged": {},
    "link_latency": {
        "a": _p(_node, True),
        "b": _p(_node, True),
        "at_least_ms": _p(_number),
        "at_most_ms": _p(_number),
    },
    # Every link of the group measures within the bounds.
    "links_latency": {**_LINK_GROUP, "at_least_ms": _p(_number), "at_most_ms": _p(_number)},
    "chunks_replicated": {"name": _p(_text)},
    "chunks_moved": {
        "before": _p(_text, True),
        "at_least": _p(_fraction),
        "at_most": _p(_fraction),
    },
}
CHECK_COMMON = ("that", "message", "negate")
WAIT_COMMON = ("until", "timeout_s", "negate", "message")
