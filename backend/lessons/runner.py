"""Plays one lesson at a time against the live cluster, in one backend thread.

The instructor drives it like a slide deck: ``start`` loads a lesson,
``next`` runs one step, ``play`` runs the rest (a short pause between steps
to read the narration), ``reset`` stops and puts the cluster back. Requests
return at once; the work happens on the runner's own thread, so a step that
waits 10 s for an election never holds an HTTP request (or a browser) for
that long, and every change is pushed to the pages as it happens.

One step, in order:

1. fill the built-in placeholders from the view, then ``remember`` values;
2. fill the narration and show it;
3. perform the actions, in order, through the REST routes; an answer that is
   not what the step expected (``expect = "ok"`` by default) ends the step;
4. wait for the condition, polling the view, up to its timeout;
5. evaluate every check on the live view and record ✓/✗ with what it saw.

Play stops at a step that failed, so the class can look at what went wrong.
Reset heals every network fault, restarts killed nodes, resumes paused
ones, turns hold-and-step off, and restores the topology and time scale the
lesson started with.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from backend.lessons.actions import describe, perform
from backend.lessons.conditions import Baseline, Outcome, Probe, baseline_of, evaluate
from backend.lessons.lab import Lab
from backend.lessons.placeholders import (
    Binding,
    PlaceholderError,
    Scope,
    builtins,
    fill_text,
    resolve,
    resolve_params,
)
from backend.lessons.record import (
    FAILED,
    RUNNING,
    ActionRecord,
    CheckRecord,
    StepRecord,
    WaitRecord,
)
from backend.lessons.scenario import (
    SCENARIO_DIR,
    Scenario,
    ScenarioError,
    Step,
    Wait,
    load_all,
    load_scenario,
)

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.1  # a wait looks at the view ten times a second
# Between steps when playing: long enough to read the next narration's start.
DEFAULT_PLAY_PAUSE_S = 2.0
MAX_PLAY_PAUSE_S = 60.0
# Commands waiting for the runner's thread: next/play/reset are refused while
# one runs, so more than a couple queued means a client is hammering.
COMMAND_QUEUE_LIMIT = 4

PLACEMENT_FIELDS = ("strategy", "hash", "rf", "vnodes")

IDLE, READY, STEPPING, PLAYING, RESETTING, DONE = (
    "idle", "ready", "running", "playing", "resetting", "done",
)
BUSY = (STEPPING, PLAYING, RESETTING)

Emit = Callable[[dict[str, Any]], None]


class LessonError(Exception):
    """A command the runner refuses now; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class _Restore:
    """What the cluster looked like when the lesson started: reset puts it back."""

    topology: dict[str, Any] | None = None
    time_scale: float | None = None
    placement: dict[str, Any] | None = None  # strategy, hash, rf, vnodes of the files


@dataclass
class _Run:
    scenario: Scenario
    records: list[StepRecord]
    restore: _Restore
    position: int = 0  # steps done
    bindings: dict[str, Binding] = field(default_factory=dict)  # remembered values
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    started_ms: float = field(default_factory=lambda: time.time() * 1000.0)
    reset_report: list[str] = field(default_factory=list)


class LessonRunner:
    def __init__(
        self,
        lab: Lab,
        directory: Path = SCENARIO_DIR,
        on_change: Emit | None = None,
        is_busy_elsewhere: Callable[[], str | None] | None = None,
    ) -> None:
        self._lab = lab
        self._directory = directory
        self._on_change = on_change
        # Another driver of faults (the chaos nemesis) that must not run at once.
        self._busy_elsewhere = is_busy_elsewhere or (lambda: None)
        self._lock = threading.Lock()
        self._run: _Run | None = None
        self._status = IDLE
        self._version = 0  # bumped on every change; a page ignores older states
        self._stop = threading.Event()
        self._commands: queue.Queue[tuple[str, float]] = queue.Queue(COMMAND_QUEUE_LIMIT)
        self._thread: threading.Thread | None = None

    # -- the catalogue ---------------------------------------------------------

    def catalogue(self) -> list[dict[str, Any]]:
        """Every lesson file; a broken one is listed with its error instead of hidden."""
        entries = []
        for path in sorted(self._directory.glob("*.toml")):
            try:
                scenario = load_scenario(path)
            except ScenarioError as exc:
                entries.append({"name": path.stem, "title": path.stem, "summary": "",
                                "concepts": [], "steps": 0, "order": 10_000, "error": str(exc)})
                continue
            entries.append({**scenario.summary_dict(), "order": scenario.order})
        entries.sort(key=lambda e: (e["order"], e["name"]))
        for entry in entries:
            entry.pop("order")
        return entries

    def scenarios(self) -> list[Scenario]:
        return load_all(self._directory)

    # -- commands ----------------------------------------------------------------

    def busy(self) -> bool:
        with self._lock:
            return self._status in BUSY

    def start(self, name: str, play: bool = False,
              pause_s: float = DEFAULT_PLAY_PAUSE_S) -> dict[str, Any]:
        path = self._directory / f"{name}.toml"
        if not path.is_file() or not name.replace("_", "").isalnum():
            known = ", ".join(e["name"] for e in self.catalogue())
            raise LessonError(404, f"no lesson called {name!r}; lessons: {known}")
        try:
            scenario = load_scenario(path)
        except ScenarioError as exc:
            raise LessonError(400, str(exc)) from exc
        other = self._busy_elsewhere()
        if other:
            raise LessonError(409, other)
        self._check_requirements(scenario)
        restore = _Restore(self._topology(), self._lab.view().get("time_scale"),
                           self._placement())
        with self._lock:
            if self._status in BUSY:
                raise LessonError(409, self._busy_message())
            records = [StepRecord.pending(s) for s in scenario.steps]
            self._run = _Run(scenario, records, restore)
            self._status = READY
        self._lab.publish({"type": "LessonStarted", "lesson": name, "title": scenario.title,
                           "text": f"lesson: {scenario.title}"})
        self._changed()
        if play:
            return self.play(pause_s)
        return self.state()

    def next(self) -> dict[str, Any]:
        self._enqueue("next", STEPPING)
        return self.state()

    def play(self, pause_s: float = DEFAULT_PLAY_PAUSE_S) -> dict[str, Any]:
        if not 0 <= pause_s <= MAX_PLAY_PAUSE_S:
            raise LessonError(400, f"pause_s must be from 0 to {MAX_PLAY_PAUSE_S:g}")
        self._enqueue("play", PLAYING, pause_s)
        return self.state()

    def reset(self) -> dict[str, Any]:
        with self._lock:
            if self._run is None:
                raise LessonError(409, "no lesson is loaded; start one first")
            if self._status == RESETTING:
                raise LessonError(409, "already resetting")
            self._stop.set()  # a wait or a play loop in progress ends at its next look
            self._status = RESETTING
            self._version += 1
        self._put("reset", 0.0)
        self._changed()
        return self.state()

    def close(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            self._commands.put(("quit", 0.0))
            thread.join(timeout=5.0)

    def _enqueue(self, command: str, status: str, pause_s: float = 0.0) -> None:
        with self._lock:
            run = self._run
            if run is None:
                raise LessonError(409, "no lesson is loaded; start one with "
                                  "POST /api/scenarios/<name>/run")
            if self._status in BUSY:
                raise LessonError(409, self._busy_message())
            if run.position >= len(run.scenario.steps):
                raise LessonError(409, "the lesson is over; reset it to run it again")
            self._status = status
            self._stop.clear()
            self._version += 1
        self._put(command, pause_s)
        self._changed()

    def _put(self, command: str, pause_s: float) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._work, name="lesson-runner", daemon=True)
            self._thread.start()
        try:
            self._commands.put_nowait((command, pause_s))
        except queue.Full:
            raise LessonError(429, "too many lesson commands queued; wait a moment") from None

    def _busy_message(self) -> str:
        doing = {STEPPING: "running a step", PLAYING: "playing", RESETTING: "resetting"}
        return f"the lesson is {doing.get(self._status, self._status)}; wait or reset it"

    def _check_requirements(self, scenario: Scenario) -> None:
        needs = scenario.requires
        count = len(self._lab.node_ids())
        hint = f"start a cluster with: python run.py --nodes {needs.nodes}"
        if count < needs.nodes:
            raise LessonError(409, f"{scenario.name} needs at least {needs.nodes} nodes; this "
                              f"cluster has {count} ({hint})")
        if needs.max_nodes is not None and count > needs.max_nodes:
            raise LessonError(409, f"{scenario.name} needs at most {needs.max_nodes} nodes; "
                              f"this cluster has {count}")
        protocol = (self._lab.view().get("routing") or {}).get("protocol")
        if needs.routing and protocol and protocol != needs.routing:
            raise LessonError(409, f"{scenario.name} needs {needs.routing} routing; this "
                              f"cluster runs {protocol} (start it with --routing {needs.routing})")
        if needs.files and not self._lab.has_route("/api/files"):
            raise LessonError(409, f"{scenario.name} needs the files API, which this backend "
                              "does not have yet")

    # -- reading -------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        with self._lock:
            run = self._run
            if run is None:
                return {"status": IDLE, "scenario": None, "step": 0, "steps": [],
                        "narration": None, "checks": [], "version": self._version}
            current = run.records[run.position - 1] if run.position else None
            running = next((r for r in run.records if r.state == RUNNING), None)
            shown = running or current
            return {
                "status": self._status,
                "scenario": run.scenario.name,
                "title": run.scenario.title,
                "summary": run.scenario.summary,
                "concepts": list(run.scenario.concepts),
                "step": shown.number if shown else 0,
                "steps_total": len(run.records),
                "narration": shown.narration if shown else run.scenario.summary,
                "checks": [c.to_dict() for c in shown.checks] if shown else [],
                "steps": [r.to_dict() for r in run.records],
                "passed": all(r.state == "passed" for r in run.records),
                "remembered": {k: v for k, v in run.bindings.items()},
                "reset": list(run.reset_report),
                "started_ms": run.started_ms,
                "version": self._version,
            }

    def _changed(self) -> None:
        with self._lock:
            self._version += 1
        if self._on_change is not None:
            try:
                self._on_change(self.state())
            except Exception:  # a page that cannot be told must not stop the lesson
                log.exception("lessons: could not push the state")

    # -- the runner's thread ---------------------------------------------------------

    def _work(self) -> None:
        while True:
            command, pause_s = self._commands.get()
            if command == "quit":
                return
            try:
                if command == "next":
                    self._step_once()
                elif command == "play":
                    self._play(pause_s)
                elif command == "reset":
                    self._reset()
            except Exception as exc:  # the thread must survive a bug in one step
                log.exception("lessons: %s failed", command)
                with self._lock:
                    if self._run is not None and self._run.position:
                        record = self._run.records[self._run.position - 1]
                        record.fail(f"internal error: {exc!r}")
            finally:
                with self._lock:
                    # A reset queued behind this command owns the status now.
                    if self._status in (STEPPING, PLAYING):
                        run = self._run
                        done = run is not None and run.position >= len(run.scenario.steps)
                        self._status = DONE if done else READY
                    elif command == "reset" and self._status == RESETTING:
                        self._status = READY  # the reset failed half-way; say so, stay usable
                self._changed()

    def _play(self, pause_s: float) -> None:
        while not self._stop.is_set():
            record = self._step_once()
            if record is None or record.state == FAILED:
                return
            with self._lock:
                run = self._run
                if run is None or run.position >= len(run.scenario.steps):
                    return
            if self._stop.wait(pause_s):
                return

    def _step_once(self) -> StepRecord | None:
        with self._lock:
            run = self._run
            if run is None or run.position >= len(run.scenario.steps):
                return None
            step = run.scenario.steps[run.position]
            record = run.records[run.position]
            run.position += 1
            record.state = RUNNING
        if step.before is not None:
            self._changed()
            early = Scope({**builtins(self._lab.view()), **run.bindings}, run.results)
            record.before = self._wait(run, step.before, record, early, baseline_of({}))
        view = self._lab.view()
        baseline = baseline_of(view)
        bindings: dict[str, Binding] = {**builtins(view), **run.bindings}
        scope = Scope(bindings, run.results)  # reads answers saved as the step goes on
        try:
            for name, template in step.remember.items():
                value = resolve(template, scope)
                bindings[name] = value
                run.bindings[name] = value
        except PlaceholderError as exc:
            record.fail(str(exc))
        record.narration = fill_text(step.narration, scope)
        record.title = fill_text(step.title, scope)
        title = record.title or record.narration[:80]
        self._lab.publish({"type": "LessonStep", "lesson": run.scenario.name,
                           "step": step.number, "title": title,
                           "text": f"step {step.number}: {title}"})
        self._changed()
        if record.state == RUNNING:
            self._act(run, step, record, scope)
        if record.state == RUNNING and step.wait is not None:
            record.wait = self._wait(run, step.wait, record, scope, baseline)
        if record.state == RUNNING:
            self._check(run, step, record, scope, baseline)
        record.finish()
        ok = record.state != FAILED
        self._lab.publish({"type": "LessonStepDone", "lesson": run.scenario.name,
                           "step": step.number, "ok": ok,
                           "text": f"step {step.number} {'✓' if ok else '✗'}"})
        return record

    def _act(self, run: _Run, step: Step, record: StepRecord,
             bindings: Scope) -> None:
        nodes = self._lab.node_ids()
        for action in step.actions:
            try:
                params = resolve_params(action.params, bindings, nodes)
            except PlaceholderError as exc:
                record.fail(str(exc))
                return
            entry = ActionRecord(describe(action.name, params), action.expect)
            record.actions.append(entry)
            self._changed()
            answer = perform(self._lab, action.name, params)
            entry.ok, entry.status, entry.error = answer.ok, answer.status, answer.error
            entry.elapsed_ms = round(answer.elapsed_ms, 1)
            run.results[action.save_as] = answer.to_dict()
            run.results["last"] = answer.to_dict()
            self._lab.publish({"type": "LessonAction", "lesson": run.scenario.name,
                               "step": step.number, "text": entry.text, "ok": answer.ok,
                               "error": answer.error})
            self._changed()
            if action.expect == "ok" and not answer.ok:
                record.fail(f"{entry.text}: {answer.error}")
                return
            if action.expect == "fail" and answer.ok:
                record.fail(f"{entry.text} succeeded, but the lesson expected it to be refused")
                return

    def _wait(self, run: _Run, wait: Wait, record: StepRecord, bindings: Scope,
              baseline: Baseline) -> WaitRecord:
        """Wait for ``wait``; a timeout fails the step. Returns what was seen."""
        entry = WaitRecord(wait.describe(), wait.timeout_s)
        started_s = time.monotonic()
        if wait.condition is None:
            self._stop.wait(wait.seconds)
            entry.ok, entry.elapsed_s = True, time.monotonic() - started_s
            return entry
        condition = wait.condition
        try:
            params = resolve_params(condition.params, bindings, self._lab.node_ids())
        except PlaceholderError as exc:
            record.fail(str(exc))
            entry.ok, entry.detail = False, str(exc)
            return entry
        shown = entry.text = replace(condition, params=params).describe()
        outcome = Outcome(False, "")
        while True:
            probe = Probe(self._lab, baseline, run.results)
            outcome = evaluate(probe, condition.name, params, condition.negate)
            entry.elapsed_s = time.monotonic() - started_s
            if outcome.ok or entry.elapsed_s >= wait.timeout_s or self._stop.is_set():
                break
            self._stop.wait(POLL_INTERVAL_S)
        entry.ok, entry.detail = outcome.ok, outcome.detail
        if not outcome.ok:
            why = "stopped" if self._stop.is_set() else f"timed out after {wait.timeout_s:g} s"
            record.fail(condition.message or f"waiting for {shown}: {why} ({outcome.detail})")
        return entry

    def _check(self, run: _Run, step: Step, record: StepRecord, bindings: Scope,
               baseline: Baseline) -> None:
        probe = Probe(self._lab, baseline, run.results)
        for check in step.checks:
            try:
                params = resolve_params(check.params, bindings, self._lab.node_ids())
                outcome = evaluate(probe, check.name, params, check.negate)
                shown = replace(check, params=params).describe()
            except PlaceholderError as exc:
                outcome, shown = Outcome(False, str(exc)), check.describe()
            record.checks.append(CheckRecord(check.message, shown, outcome.ok, outcome.detail))
        self._changed()

    # -- reset -------------------------------------------------------------------------

    def _topology(self) -> dict[str, Any] | None:
        answer = self._lab.call("GET", "/api/topology")
        return answer.body if answer.ok else None

    def _placement(self) -> dict[str, Any] | None:
        if not self._lab.has_route("/api/placement"):
            return None
        answer = self._lab.call("GET", "/api/placement")
        if not answer.ok:
            return None
        return {k: answer.body.get(k) for k in PLACEMENT_FIELDS}

    def _reset(self) -> None:
        with self._lock:
            run = self._run
        if run is None:
            return
        report = self._lab.heal_everything()

        def do(text: str, method: str, path: str, body: Any) -> None:
            answer = self._lab.call(method, path, body)
            report.append(text if answer.ok else f"{text}: {answer.error}")

        saved = run.restore.topology
        if saved is not None and self._topology() != saved:
            links = [dict(x) for x in saved["links"]]
            do("restore the topology", "PUT", "/api/topology",
               {"links": links, "directed": saved["directed"], "allow_disconnected": True})
        placement = run.restore.placement
        if placement is not None and self._placement() not in (None, placement):
            do("restore the file placement settings", "PUT", "/api/placement", placement)
        scale = run.restore.time_scale
        if scale is not None and self._lab.view().get("time_scale") != scale:
            do(f"time scale back to {scale:g}", "POST", "/api/time-scale", {"time_scale": scale})
        report.append(self._lab.settle())
        with self._lock:
            run.position = 0
            run.bindings.clear()
            run.results.clear()
            run.records = [StepRecord.pending(s) for s in run.scenario.steps]
            run.reset_report = report
            self._status = READY
        self._stop.clear()
        self._lab.publish({"type": "LessonReset", "lesson": run.scenario.name,
                           "text": "lesson reset: cluster healed"})
