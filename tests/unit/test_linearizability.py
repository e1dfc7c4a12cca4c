"""The linearizability checker (Wing & Gong / Lowe search over per-key histories)."""

from __future__ import annotations

from cluster.sim.linearizability import Op, check


def put(client: str, value: str, start: float, end: float | None, outcome: str = "ok") -> Op:
    return Op(client, "put", "x", start, end, outcome, value=value.encode())


def get(client: str, seen: str | None, start: float, end: float) -> Op:
    return Op(client, "get", "x", start, end, output=None if seen is None else seen.encode())


def test_a_sequential_history_is_linearizable() -> None:
    history = [put("a", "1", 0, 1), get("b", "1", 2, 3), put("a", "2", 4, 5), get("b", "2", 6, 7)]
    assert check(history).ok


def test_concurrent_operations_may_take_effect_in_either_order() -> None:
    # The two puts overlap, so either may be last; the reads fix the order.
    history = [
        put("a", "1", 0, 10),
        put("b", "2", 1, 9),
        get("c", "1", 11, 12),
        get("d", "1", 13, 14),
    ]
    assert check(history).ok
    # A read overlapping a put may see the old or the new value.
    assert check([put("a", "1", 0, 1), put("b", "2", 2, 6), get("c", "1", 3, 4)]).ok
    assert check([put("a", "1", 0, 1), put("b", "2", 2, 6), get("c", "2", 3, 4)]).ok


def test_a_stale_read_is_rejected() -> None:
    # The read starts after the second put finished, yet returns the first value.
    history = [put("a", "1", 0, 1), put("a", "2", 2, 3), get("b", "1", 4, 5)]
    result = check(history)
    assert result.verdict == "violation"
    assert result.key == "x"
    assert "get → '1'" in result.explanation


def test_a_lost_write_is_rejected() -> None:
    # An acknowledged write that a later read does not see, and no other
    # write explains what the read saw.
    history = [put("a", "1", 0, 1), get("b", None, 2, 3)]
    assert check(history).verdict == "violation"


def test_a_read_cannot_go_back_in_time() -> None:
    # Two sequential reads of one client, concurrent with a put: new then old is impossible.
    history = [put("a", "1", 0, 1), put("b", "2", 2, 20), get("c", "2", 3, 4), get("c", "1", 5, 6)]
    assert check(history).verdict == "violation"


def test_an_unknown_write_may_have_taken_effect() -> None:
    # A timed-out write is seen by a later read: fine, it took effect.
    history = [put("a", "1", 0, 1), put("b", "2", 2, None, "unknown"), get("c", "2", 10, 11)]
    assert check(history).ok


def test_an_unknown_write_may_never_have_taken_effect() -> None:
    history = [put("a", "1", 0, 1), put("b", "2", 2, None, "unknown"), get("c", "1", 10, 11)]
    assert check(history).ok


def test_an_unknown_write_takes_effect_at_most_once_and_only_after_it_was_invoked() -> None:
    # Seen, then unseen: once it took effect it cannot be undone.
    seen_then_gone = [
        put("a", "1", 0, 1),
        put("b", "2", 2, None, "unknown"),
        get("c", "2", 3, 4),
        get("c", "1", 5, 6),
    ]
    assert check(seen_then_gone).verdict == "violation"
    # Seen by a read that finished before the write was even invoked.
    too_early = [put("a", "1", 0, 1), get("c", "2", 2, 3), put("b", "2", 4, None, "unknown")]
    assert check(too_early).verdict == "violation"


def test_a_failed_write_never_took_effect() -> None:
    history = [put("a", "1", 0, 1), put("b", "2", 2, 3, "fail"), get("c", "2", 4, 5)]
    assert check(history).verdict == "violation"
    assert check([put("a", "1", 0, 1), put("b", "2", 2, 3, "fail"), get("c", "1", 4, 5)]).ok


def test_append_delete_and_cas_follow_the_register_model() -> None:
    ops = [
        Op("a", "append", "log", 0, 1, value=b"a;"),
        Op("b", "append", "log", 2, 3, value=b"b;"),
        Op("c", "get", "log", 4, 5, output=b"a;b;"),
        Op("a", "cas", "log", 6, 7, value=b"z", expected=b"a;b;", output=b"1"),
        Op("b", "cas", "log", 8, 9, value=b"q", expected=b"a;", output=b"0"),
        Op("c", "delete", "log", 10, 11),
        Op("c", "get", "log", 12, 13, output=None),
    ]
    assert check(ops).ok
    duplicated = [*ops[:2], Op("c", "get", "log", 4, 5, output=b"a;b;b;")]
    assert check(duplicated).verdict == "violation"  # an append applied twice


def test_keys_are_checked_independently() -> None:
    history = [
        put("a", "1", 0, 1),
        Op("a", "put", "y", 0, 1, value=b"9"),
        get("b", "1", 2, 3),
        Op("b", "get", "y", 2, 3, output=b"8"),
    ]
    result = check(history)
    assert result.verdict == "violation" and result.key == "y"


def test_a_larger_concurrent_history_is_decided_quickly() -> None:
    # Many overlapping writes and reads: memoisation keeps the search small.
    history: list[Op] = []
    for i in range(60):
        history.append(put(f"w{i % 4}", str(i), i, i + 3.5))
        history.append(get(f"r{i % 3}", str(i), i + 3.6, i + 3.7))
    assert check(history).ok
