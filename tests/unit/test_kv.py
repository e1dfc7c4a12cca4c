"""The key-value state machine and its client sessions (thesis §6.3)."""

from __future__ import annotations

from cluster.core.kv import Command, KvResult, KvStore, decode_command


def put(key: str, value: bytes, client: str = "", seq: int = 0) -> bytes:
    return Command("put", key, value, None, client, seq).encode()


def test_commands_apply_in_order() -> None:
    kv = KvStore()
    assert kv.apply(1, put("a", b"1")) == KvResult(True, None)
    assert kv.apply(2, put("a", b"2")) == KvResult(True, b"1")
    assert kv.apply(3, Command("append", "a", b"3").encode()) == KvResult(True, b"23")
    assert kv.apply(4, Command("delete", "a").encode()) == KvResult(True, b"23")
    assert kv.get("a") is None
    assert kv.applied_index == 4


def test_compare_and_swap() -> None:
    kv = KvStore()
    assert kv.apply(1, Command("cas", "k", b"new", None).encode()).ok  # absent -> new
    miss = kv.apply(2, Command("cas", "k", b"x", b"old").encode())
    assert (miss.ok, miss.value, miss.error) == (False, b"new", "mismatch")
    assert kv.get("k") == b"new"


def test_a_retried_write_applies_exactly_once() -> None:
    # Reference: thesis §6.3 — the retry commits as a second entry; the
    # session answers it from memory instead of applying it again.
    kv = KvStore()
    first = kv.apply(1, Command("append", "log", b"a;", None, "c1", 1).encode())
    retry = kv.apply(2, Command("append", "log", b"a;", None, "c1", 1).encode())
    assert first == KvResult(True, b"a;")
    assert retry == KvResult(True, b"a;", duplicate=True)
    assert kv.get("log") == b"a;"
    kv.apply(3, Command("append", "log", b"b;", None, "c1", 2).encode())
    late = kv.apply(4, Command("append", "log", b"a;", None, "c1", 1).encode())
    assert late.error == "stale_request" and kv.get("log") == b"a;b;"


def test_an_unknown_session_must_start_at_one() -> None:
    # Reference: thesis §6.3 — a session the state machine does not know
    # (evicted) is refused rather than risk applying a retry twice.
    kv = KvStore(max_sessions=2)
    assert kv.apply(1, put("k", b"x", "c1", 2)).error == "session_expired"
    kv.apply(2, put("k", b"1", "c1", 1))
    kv.apply(3, put("k", b"2", "c2", 1))
    kv.apply(4, put("k", b"3", "c3", 1))  # evicts c1, the least recently used
    assert kv.session_count() == 2
    assert kv.apply(5, put("k", b"retry", "c1", 1)).ok  # seq 1 opens a new session
    assert kv.apply(6, put("k", b"4", "c2", 2)).error == "session_expired"  # c2 was evicted


def test_snapshot_restores_data_and_sessions() -> None:
    # Reference: thesis §6.3 and §7 — sessions are part of the snapshot, or a
    # node restored from it would apply a retry a second time.
    kv = KvStore()
    kv.apply(1, Command("append", "log", b"a;", None, "c1", 1).encode())
    kv.apply(2, put("k", b"v"))
    restored = KvStore.restore(kv.snapshot())
    assert restored.data == kv.data and restored.applied_index == 2
    retry = restored.apply(3, Command("append", "log", b"a;", None, "c1", 1).encode())
    assert retry.duplicate and restored.get("log") == b"a;"


def test_garbage_in_the_log_is_a_deterministic_error_not_a_crash() -> None:
    kv = KvStore()
    assert kv.apply(1, b"\xc1garbage").error == "bad_command"
    assert decode_command(Command("drop_table", "k").encode()) is None
    assert kv.applied_index == 1


def test_applying_an_index_twice_is_refused() -> None:
    kv = KvStore()
    kv.apply(1, put("k", b"v"))
    try:
        kv.apply(1, put("k", b"w"))
    except ValueError:
        return
    raise AssertionError("index 1 applied twice")
