"""What happened in each step of a lesson, as the narration panel and the CLI show it.

The runner fills a ``StepRecord`` while the step runs (narration with its
placeholders filled in, each action's answer, the wait, each check's ✓/✗ and
what it saw) and the API hands out ``to_dict()`` — the panel re-renders from
it, the CLI prints it, and the integration test asserts on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backend.lessons.scenario import Step

PENDING, RUNNING, PASSED, FAILED = "pending", "running", "passed", "failed"


@dataclass
class ActionRecord:
    text: str
    expect: str
    ok: bool | None = None  # None while it runs
    status: int | None = None
    error: str | None = None
    elapsed_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "expect": self.expect,
            "ok": self.ok,
            "status": self.status,
            "error": self.error,
            "elapsed_ms": self.elapsed_ms,
        }


@dataclass
class CheckRecord:
    message: str
    condition: str
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "condition": self.condition,
            "ok": self.ok,
            "detail": self.detail,
        }


@dataclass
class WaitRecord:
    text: str  # the condition with its parameters, or "3 s" for a plain pause
    timeout_s: float = 0.0
    ok: bool | None = None
    elapsed_s: float = 0.0
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "timeout_s": self.timeout_s,
            "ok": self.ok,
            "elapsed_s": round(self.elapsed_s, 2),
            "detail": self.detail,
        }


@dataclass
class StepRecord:
    number: int
    title: str
    narration: str
    state: str = PENDING
    before: WaitRecord | None = None
    actions: list[ActionRecord] = field(default_factory=list)
    wait: WaitRecord | None = None
    checks: list[CheckRecord] = field(default_factory=list)
    error: str | None = None

    @staticmethod
    def pending(step: Step) -> StepRecord:
        return StepRecord(step.number, step.title, step.narration)

    def fail(self, error: str) -> None:
        self.error = self.error or error
        self.state = FAILED

    def finish(self) -> None:
        if self.state == RUNNING:
            failed = any(not c.ok for c in self.checks)
            self.state = FAILED if failed else PASSED

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "title": self.title,
            "narration": self.narration,
            "state": self.state,
            "before": self.before.to_dict() if self.before else None,
            "actions": [a.to_dict() for a in self.actions],
            "wait": self.wait.to_dict() if self.wait else None,
            "checks": [c.to_dict() for c in self.checks],
            "error": self.error,
        }
