"""Runs a seeded chaos schedule against the live cluster, one fault at a time.

The schedule is a pure function of the seed (cluster/core/nemesis.py); this
module only keeps time. A thread sends each fault at its moment through
``POST /api/faults`` (the same route as the instructor's buttons), records
what the route answered, and puts a ``ChaosAction`` event into the event
stream, so the timeline marks each fault where it happened. The whole
schedule goes out first as one ``ChaosSchedule`` event, with each fault's
planned wall-clock time.

Slow motion stretches the schedule: at time scale 10 a fault planned at
3 s happens 30 s in, so a nemesis run can be followed as slowly as an
election. Stopping early (or the end of the schedule) heals everything:
network faults, killed and paused nodes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from backend.lessons.lab import Lab
from cluster.core.nemesis import KINDS, ChaosAction, NemesisError, schedule

log = logging.getLogger(__name__)


class ChaosError(Exception):
    """A request the chaos runner refuses; ``status`` is the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class _Entry:
    action: ChaosAction
    t_ms: float  # when it is due, wall clock
    done: bool = False
    ok: bool | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.action.to_dict(),
            "t_ms": round(self.t_ms, 1),
            "done": self.done,
            "ok": self.ok,
            "error": self.error,
        }


@dataclass
class _Run:
    seed: int
    duration_s: float
    time_scale: float
    started_ms: float
    entries: list[_Entry]
    kinds: tuple[str, ...]
    stop: threading.Event = field(default_factory=threading.Event)
    finished_ms: float | None = None
    heal_report: list[str] = field(default_factory=list)


def preview(lab: Lab, seed: int, duration_s: float,
            kinds: Sequence[str] = KINDS) -> tuple[ChaosAction, ...]:
    """The schedule this cluster would get for ``seed`` (nodes and links as they are now)."""
    nodes = lab.node_ids()
    topology = lab.call("GET", "/api/topology")
    links = None
    if topology.ok:
        links = [(x["a"], x["b"]) for x in topology.body["links"] if x.get("up", True)]
        links = [(a, b) for a, b in links if a in nodes and b in nodes] or None
    try:
        return schedule(seed, duration_s, nodes, links, kinds)
    except NemesisError as exc:
        raise ChaosError(400, str(exc)) from exc


class ChaosRunner:
    def __init__(self, lab: Lab, is_busy_elsewhere: Callable[[], str | None] | None = None) -> None:
        self._lab = lab
        self._busy_elsewhere = is_busy_elsewhere or (lambda: None)
        self._lock = threading.Lock()
        self._run: _Run | None = None
        self._thread: threading.Thread | None = None

    def running(self) -> bool:
        with self._lock:
            return self._thread is not None and self._thread.is_alive()

    def start(self, seed: int, duration_s: float, kinds: Sequence[str] = KINDS) -> dict[str, Any]:
        if self.running():
            raise ChaosError(409, "chaos is already running; stop it first")
        other = self._busy_elsewhere()
        if other:
            raise ChaosError(409, other)
        actions = preview(self._lab, seed, duration_s, kinds)
        scale = max(1.0, float(self._lab.view().get("time_scale") or 1.0))
        started_ms = time.time() * 1000.0
        entries = [_Entry(a, started_ms + a.at_s * scale * 1000.0) for a in actions]
        run = _Run(seed, duration_s, scale, started_ms, entries, tuple(kinds))
        with self._lock:
            self._run = run
            self._thread = threading.Thread(target=self._play, args=(run,), name="chaos",
                                            daemon=True)
            self._thread.start()
        self._lab.publish({"type": "ChaosSchedule", "seed": seed, "duration_s": duration_s,
                           "time_scale": scale, "actions": [e.to_dict() for e in entries],
                           "text": f"chaos seed {seed}: {len(entries)} actions planned"})
        return self.state()

    def stop(self) -> dict[str, Any]:
        with self._lock:
            run, thread = self._run, self._thread
        if run is None or thread is None or not thread.is_alive():
            raise ChaosError(409, "chaos is not running")
        run.stop.set()
        return self.state()

    def close(self) -> None:
        with self._lock:
            run, thread = self._run, self._thread
        if run is not None:
            run.stop.set()
        if thread is not None:
            thread.join(timeout=10.0)

    def state(self) -> dict[str, Any]:
        with self._lock:
            run = self._run
            on = self._thread is not None and self._thread.is_alive()
            if run is None:
                return {"on": False, "seed": None, "schedule": []}
            return {
                "on": on,
                "seed": run.seed,
                "duration_s": run.duration_s,
                "time_scale": run.time_scale,
                "kinds": list(run.kinds),
                "started_ms": run.started_ms,
                "finished_ms": run.finished_ms,
                "schedule": [e.to_dict() for e in run.entries],
                "done": sum(1 for e in run.entries if e.done),
                "failed": sum(1 for e in run.entries if e.done and not e.ok),
                "healed": list(run.heal_report),
            }

    def _play(self, run: _Run) -> None:
        try:
            for entry in run.entries:
                wait_s = (entry.t_ms - time.time() * 1000.0) / 1000.0
                if wait_s > 0 and run.stop.wait(wait_s):
                    break
                answer = self._lab.call("POST", "/api/faults", dict(entry.action.fault))
                with self._lock:
                    entry.done, entry.ok, entry.error = True, answer.ok, answer.error
                self._lab.publish({"type": "ChaosAction", "seed": run.seed,
                                   "text": entry.action.text, "fault": dict(entry.action.fault),
                                   "undo": entry.action.undo, "ok": answer.ok,
                                   "error": answer.error})
        except Exception:  # the cluster must still be healed below
            log.exception("chaos: the run failed")
        finally:
            # Whatever happened, leave nothing broken behind.
            report = self._lab.heal_everything()
            with self._lock:
                run.heal_report = report
                run.finished_ms = time.time() * 1000.0
            stopped = run.stop.is_set()
            self._lab.publish({"type": "ChaosDone", "seed": run.seed, "stopped": stopped,
                               "text": f"chaos {'stopped' if stopped else 'over'}: healed"})
