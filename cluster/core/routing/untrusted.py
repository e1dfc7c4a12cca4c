"""Checks on the inside of routing messages that came from another process.

The wire registry checks only outer types (a dict is a dict); a buggy or
hostile peer could still send a cost of -5, a name of 10 kB or a million
entries. Routing cores run these checks first and drop what fails with a
counter, so remote data can never crash a node or grow its memory.
"""

from __future__ import annotations

from typing import Any

from cluster.core.topology import MAX_COST

MAX_NAME_CHARS = 64  # node ids are short ("n12"); anything longer is garbage
MAX_ENTRIES = 256  # above any topology (at most 50 nodes): a bound, not a tuning knob


def is_name(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_NAME_CHARS


def is_count(value: Any, low: int = 0, high: int = 2**62) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def is_names(value: Any) -> bool:
    return (
        isinstance(value, list | tuple)
        and len(value) <= MAX_ENTRIES
        and all(is_name(v) for v in value)
    )


def is_costs(value: Any, low: int = 1, high: int = MAX_COST) -> bool:
    """A ``{name: cost}`` map of bounded size with every cost in ``low..high``."""
    return (
        isinstance(value, dict)
        and len(value) <= MAX_ENTRIES
        and all(is_name(k) and is_count(v, low, high) for k, v in value.items())
    )
