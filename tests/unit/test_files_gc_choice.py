"""GC's choice between the trimmed grace and the orphan grace (cluster/node/files_gc.py).

A chunk trimmed here and then stored again by a new upload of the same bytes
must not be deleted after the short trimmed grace: the new upload's metadata
is committed only at its end, and would list a copy that no longer exists.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

from cluster.node.files_gc import TRIMMED_GRACE_MS, GarbageCollector

ORPHAN_GRACE_S = 3600.0


def collector() -> GarbageCollector:
    gc = object.__new__(GarbageCollector)
    gc.node = SimpleNamespace(clock=SimpleNamespace(time_scale=1.0))  # type: ignore[assignment]
    gc.service = SimpleNamespace(  # type: ignore[assignment]
        settings=SimpleNamespace(orphan_grace_s=ORPHAN_GRACE_S)
    )
    gc._listed_before = {"a", "b"}
    gc._unlisted_since_s = {}
    return gc


def test_a_trimmed_copy_goes_after_the_trimmed_grace() -> None:
    gc = collector()
    old_s = 100.0
    assert gc._choose({"b"}, {"a": old_s, "b": old_s}) == []  # "a" just stopped being listed
    gc._unlisted_since_s["a"] -= TRIMMED_GRACE_MS / 1000.0 + 1.0
    assert gc._choose({"b"}, {"a": old_s, "b": old_s}) == ["a"]


def test_a_trimmed_copy_stored_again_waits_the_orphan_grace() -> None:
    gc = collector()
    gc._choose({"b"}, {"a": 100.0, "b": 100.0})
    gc._unlisted_since_s["a"] = time.monotonic() - TRIMMED_GRACE_MS / 1000.0 - 5.0
    # Written 1 s ago: after it stopped being listed, so a new upload's copy.
    assert gc._choose({"b"}, {"a": 1.0, "b": 100.0}) == []
    assert "a" not in gc._unlisted_since_s
    assert gc._choose({"b"}, {"a": ORPHAN_GRACE_S + 1.0, "b": 100.0}) == ["a"]
