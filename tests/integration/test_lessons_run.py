"""Every built-in lesson, played to the end on real processes, with every check passing.

One ``run.py --nodes 3`` serves all the lessons, as it would in a lecture:
each is started through ``POST /api/scenarios/<name>/run`` with ``play``,
followed through ``GET /api/scenarios/current`` until it stops, and then
reset (which heals and restarts whatever the lesson left broken) before the
next one. A failure prints the lesson's record: each step's actions, wait
and checks with what the runner actually saw.

The files lessons need small chunks (so a 4 MiB file is 64 chunks and the
fraction that moves on a join is not a coin toss) and a short repair grace
period (so re-replication starts after 3 s, not 10); the config below sets
both. Every process is stopped by pid at the end, even after a failure
(``RunPy.stop``).
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from backend.lessons.scenario import load_all
from bench.run_process import RunPy
from cluster.client.api import ClusterClient
from cluster.client.cli import build_parser
from cluster.client.lesson_cli import run as run_lesson_cli

pytestmark = pytest.mark.integration

NODES = 3
START_TIMEOUT_S = 90.0
# The longest lesson (a node joining, chunks moving twice) takes ~20 s on an
# idle laptop; a busy 2-core machine can take several times that.
LESSON_TIMEOUT_S = 240.0
RESET_TIMEOUT_S = 90.0
POLL_S = 0.25
CONFIG = """
heartbeat_interval_ms = 100

[files]
chunk_bytes = 65536
repair_grace_s = 3
"""
LESSONS = [s.name for s in load_all()]


def running_lab(root: Path, nodes: int, config_toml: str) -> Iterator[RunPy]:
    """One ``run.py`` for a module's lessons; every process stopped by pid at the end."""
    config = root / "lessons.toml"
    config.write_text(config_toml)
    run = RunPy(nodes, root / "data", ("--config", str(config)))
    try:
        run.start()
        run.wait_all_up(START_TIMEOUT_S)
        yield run
    finally:
        survivors = run.stop()
        assert not survivors, f"node processes outlived run.py: {survivors}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunPy]:
    yield from running_lab(tmp_path_factory.mktemp("lessons"), NODES, CONFIG)


def current(run: RunPy) -> dict[str, Any]:
    state: dict[str, Any] = run.get("/api/scenarios/current")
    return state


def wait_while(run: RunPy, statuses: tuple[str, ...], timeout_s: float) -> dict[str, Any]:
    deadline_s = time.monotonic() + timeout_s
    state = current(run)
    while state["status"] in statuses:
        if time.monotonic() > deadline_s:
            raise AssertionError(f"still {state['status']} after {timeout_s} s:\n{report(state)}")
        time.sleep(POLL_S)
        run.cluster()  # keeps the node pids (restarts change them) for the final stop
        state = current(run)
    return state


def report(state: dict[str, Any]) -> str:
    """The lesson's record, readable in a failure message."""
    lines = [f"lesson {state.get('scenario')}: {state.get('status')}"]
    for step in state.get("steps", []):
        lines.append(f"  step {step['number']} {step['state']}: {step['title']}"
                     + (f" — {step['error']}" if step["error"] else ""))
        for action in step["actions"]:
            lines.append(f"    action {action['text']}: ok={action['ok']} "
                         f"({action['status']}) {action['error'] or ''}")
        for key in ("before", "wait"):
            if step.get(key):
                lines.append(f"    {key} {json.dumps(step[key])}")
        for check in step["checks"]:
            mark = "✓" if check["ok"] else "✗"
            lines.append(f"    {mark} {check['message']} | {check['detail']}")
    return "\n".join(lines)


def test_the_lessons_are_listed(lab: RunPy) -> None:
    listed = lab.get("/api/scenarios")
    assert [entry["name"] for entry in listed] == LESSONS
    assert all(entry["steps"] > 0 and "error" not in entry for entry in listed)


@pytest.mark.timeout(LESSON_TIMEOUT_S + RESET_TIMEOUT_S + 30)
@pytest.mark.parametrize("name", LESSONS)
def test_each_lesson_runs_to_completion_with_its_checks_passing(lab: RunPy, name: str) -> None:
    started = lab.post(f"/api/scenarios/{name}/run", {"play": True, "pause_s": 0})
    assert started["scenario"] == name
    try:
        assert started["status"] == "playing", report(started)
        state = wait_while(lab, ("playing", "running"), LESSON_TIMEOUT_S)
        assert state["status"] == "done", report(state)
        failed = [s for s in state["steps"] if s["state"] != "passed"]
        assert not failed, report(state)
        checks = [c for s in state["steps"] for c in s["checks"]]
        assert checks and all(c["ok"] for c in checks), report(state)
    finally:
        reset_and_settle(lab)


def reset_and_settle(lab: RunPy) -> None:
    try:
        lab.post("/api/scenarios/current/reset", {})
    except requests.HTTPError:
        return  # nothing loaded (the run itself was refused)
    state = wait_while(lab, ("resetting", "playing", "running"), RESET_TIMEOUT_S)
    assert state["status"] == "ready", report(state)
    assert any("every node is up" in line for line in state["reset"]), state["reset"]


def test_a_lesson_is_refused_without_the_token_and_by_unknown_name(lab: RunPy) -> None:
    anonymous = requests.post(f"{lab.url}api/scenarios/leader_crash/run", json={}, timeout=10)
    assert anonymous.status_code == 401
    unknown = requests.post(
        f"{lab.url}api/scenarios/no_such_lesson/run", json={},
        headers={"Authorization": f"Bearer {lab.token}"}, timeout=10,
    )
    assert unknown.status_code == 404
    assert "leader_crash" in unknown.json()["error"], "the refusal lists the lessons"


def test_chaos_runs_a_seeded_schedule_and_heals_everything(lab: RunPy) -> None:
    preview = lab.get("/api/chaos?seed=5&duration_s=8")
    again = lab.get("/api/chaos?seed=5&duration_s=8")
    assert preview["schedule"] == again["schedule"], "the same seed gives the same schedule"
    started = lab.post("/api/chaos", {"seed": 5, "duration_s": 8, "kinds": ["kill", "pause"]})
    assert started["on"] and started["schedule"]
    deadline_s = time.monotonic() + 60.0
    state = started
    while state["on"]:
        assert time.monotonic() < deadline_s, f"chaos still on after 60 s: {state}"
        time.sleep(POLL_S)
        lab.cluster()
        state = lab.get("/api/chaos")
    assert state["done"] == len(state["schedule"]), state
    assert state["failed"] == 0, [e for e in state["schedule"] if not e["ok"]]
    events = lab.get("/api/events?limit=20000")["events"]
    marks = [e for e in events if e["type"] == "ChaosAction" and e["seed"] == 5]
    assert [m["text"] for m in marks] == [e["text"] for e in state["schedule"]]
    # healed: every node up again, and a leader
    deadline_s = time.monotonic() + RESET_TIMEOUT_S
    while not (lab.cluster()["leader"] and all(n["state"] == "up"
                                                for n in lab.cluster()["nodes"])):
        assert time.monotonic() < deadline_s, lab.cluster()
        time.sleep(POLL_S)


def test_the_cli_lists_the_lessons(lab: RunPy) -> None:
    out = io.StringIO()
    client = ClusterClient(lab.url, lab.token)
    try:
        args = build_parser().parse_args(["lesson", "--list"])
        assert run_lesson_cli(client, args, out) == 0
    finally:
        client.close()
    listed = out.getvalue().splitlines()
    assert [line.split()[0] for line in listed] == LESSONS
