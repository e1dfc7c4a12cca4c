"""Is a recorded history of a key-value store linearizable?

A history is a list of operations, each with the time its client invoked it
and the time it got the answer. Linearizable means (Herlihy & Wing): there is
one order of all the operations, consistent with real time (if A finished
before B started, A comes first), in which every operation, applied to a
single copy of the store, returns what it actually returned.

Search: Wing & Gong's backtracking over the operations that could take
effect next, with Lowe's memoisation (a set of (operations done, state)
configurations already explored), as in Knossos and Porcupine. Keys are
independent (P-compositionality, Horn & Kroening), so each key is checked
alone, which keeps the search small.

Outcomes: ``ok`` operations happened and returned ``output``; ``fail``
operations certainly did not take effect and are dropped; ``unknown`` ones
(a write whose client timed out) may or may not have taken effect, at any
time after their invocation. An unknown write is given an infinite
completion time: it may then be placed anywhere after its invocation,
including after everything else, where it changes nothing that was
observed — which is exactly "maybe never". An unknown read observed
nothing and is dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

KINDS = ("put", "get", "delete", "append", "cas")
OUTCOMES = ("ok", "fail", "unknown")
# Configurations the search may visit per key before it gives up with
# "undecided": the problem is NP-complete, and a checker must terminate.
MAX_SEARCH_STEPS = 2_000_000
INFINITY = float("inf")

Value = bytes | None


@dataclass(frozen=True, slots=True)
class Op:
    """One client operation on one key.

    ``value``: the argument (put: new value; append: suffix; cas: new value).
    ``expected``: for cas, the value the key must hold.
    ``output``: for get, the value read; for cas, ``b"1"`` if it swapped
    and ``b"0"`` if not; ignored for the others.
    """

    client: str
    kind: str
    key: str
    invoke: float
    complete: float | None
    outcome: str = "ok"
    value: Value = None
    expected: Value = None
    output: Value = None

    def text(self) -> str:
        end = "?" if self.complete is None or self.outcome == "unknown" else f"{self.complete:g}"
        if self.kind == "get":
            what = f"get → {_show(self.output)}"
        elif self.kind == "delete":
            what = "delete"
        elif self.kind == "cas":
            what = f"cas {_show(self.expected)}→{_show(self.value)} = {_show(self.output)}"
        else:
            what = f"{self.kind} {_show(self.value)}"
        tail = "" if self.outcome == "ok" else f" ({self.outcome})"
        return f"{self.client} {what} [{self.invoke:g}, {end}]{tail}"


def _show(value: Value) -> str:
    if value is None:
        return "∅"
    try:
        return repr(value.decode())
    except UnicodeDecodeError:
        return repr(value)


def step_model(state: Value, op: Op) -> tuple[bool, Value]:
    """Apply ``op`` to a register holding ``state``: (is its result possible?, new state)."""
    kind = op.kind
    if kind == "get":
        return op.output == state, state
    if kind == "put":
        return True, op.value
    if kind == "delete":
        return True, None
    if kind == "append":
        return True, (state or b"") + (op.value or b"")
    swapped = state == op.expected
    if op.outcome == "unknown":
        return True, op.value if swapped else state
    if op.output != (b"1" if swapped else b"0"):
        return False, state
    return True, op.value if swapped else state


@dataclass(frozen=True, slots=True)
class CheckResult:
    verdict: str  # "ok", "violation" or "undecided"
    key: str | None = None
    explanation: str = ""

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"


def check(history: Iterable[Op], initial: Value = None) -> CheckResult:
    """Check a whole history, key by key; the first key that fails is explained."""
    by_key: dict[str, list[Op]] = {}
    for op in history:
        if op.kind not in KINDS or op.outcome not in OUTCOMES:
            raise ValueError(f"bad operation {op}")
        by_key.setdefault(op.key, []).append(op)
    undecided: CheckResult | None = None
    for key in sorted(by_key):
        result = check_key(key, by_key[key], initial)
        if result.verdict == "violation":
            return result
        if result.verdict == "undecided":
            undecided = result
    return undecided or CheckResult("ok")


def check_key(key: str, ops: list[Op], initial: Value = None) -> CheckResult:
    """Wing & Gong / Lowe search for the operations on one key."""
    kept: list[Op] = []
    for op in ops:
        if op.outcome == "fail" or (op.outcome == "unknown" and op.kind == "get"):
            continue
        if op.outcome == "ok" and op.complete is None:
            raise ValueError(f"an ok operation needs a completion time: {op}")
        kept.append(op)
    count = len(kept)
    if count == 0:
        return CheckResult("ok", key)
    ends = [INFINITY if op.outcome == "unknown" else float(op.complete or 0) for op in kept]

    # Events in time order; at equal times calls come first (treated as concurrent).
    events = sorted(
        [(op.invoke, 0, i) for i, op in enumerate(kept)] + [(ends[i], 1, i) for i in range(count)]
    )
    # A doubly linked list over the events, so that lifting an operation's
    # call and return out of it (and putting them back) is O(1).
    size = len(events) + 1  # slot 0 is the head sentinel
    nxt = list(range(1, size + 1))
    prv = list(range(-1, size - 1))
    nxt[size - 1] = -1
    call_slot = [0] * count
    ret_slot = [0] * count
    for slot, (_, is_return, i) in enumerate(events, start=1):
        if is_return:
            ret_slot[i] = slot
        else:
            call_slot[i] = slot
    op_of_slot = [-1] + [i for _, _, i in events]
    is_ret = [False] + [bool(r) for _, r, _ in events]

    def lift(i: int) -> None:
        for slot in (call_slot[i], ret_slot[i]):
            nxt[prv[slot]] = nxt[slot]
            if nxt[slot] != -1:
                prv[nxt[slot]] = prv[slot]

    def unlift(i: int) -> None:
        for slot in (ret_slot[i], call_slot[i]):
            nxt[prv[slot]] = slot
            if nxt[slot] != -1:
                prv[nxt[slot]] = slot

    state: Value = initial
    done = 0  # bitset of linearized operations
    seen: set[tuple[int, Value]] = set()
    stack: list[tuple[int, Value]] = []  # (operation, state before it)
    best: list[int] = []  # the longest prefix of linearized operations found
    stuck_at = -1  # the operation that could not be placed after ``best``
    steps = 0
    entry = nxt[0]
    while True:
        steps += 1
        if steps > MAX_SEARCH_STEPS:
            return CheckResult(
                "undecided", key, f"gave up after {MAX_SEARCH_STEPS} steps on key {key!r}"
            )
        if entry == -1:
            return CheckResult("ok", key)  # every operation found its place
        i = op_of_slot[entry]
        if not is_ret[entry]:
            legal, new_state = step_model(state, kept[i])
            bit = 1 << i
            if legal and (done | bit, new_state) not in seen:
                seen.add((done | bit, new_state))
                stack.append((i, state))
                state = new_state
                done |= bit
                lift(i)
                if len(stack) > len(best):
                    best = [j for j, _ in stack]
                    stuck_at = -1
                entry = nxt[0]
                continue
            entry = nxt[entry]
            continue
        # A return whose operation was not placed yet: this order is a dead end.
        if len(stack) == len(best) and stuck_at == -1:
            stuck_at = i
        if not stack:
            return CheckResult("violation", key, _explain(key, kept, best, stuck_at, initial))
        j, state = stack.pop()
        done &= ~(1 << j)
        unlift(j)
        entry = nxt[call_slot[j]]


def _explain(key: str, ops: list[Op], best: list[int], stuck_at: int, initial: Value) -> str:
    """A short account: the longest consistent order found, and what could not follow it."""
    state = initial
    lines = [f"key {key!r} is not linearizable."]
    if best:
        lines.append("Longest order consistent with real time and the results:")
        for i in best:
            _, state = step_model(state, ops[i])
            lines.append(f"  {ops[i].text()}   (value now {_show(state)})")
    if stuck_at >= 0:
        op = ops[stuck_at]
        lines.append(f"then {op.text()} must take effect, but the value is {_show(state)}.")
    return "\n".join(lines)
