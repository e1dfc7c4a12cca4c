"""``clusterlab lesson`` and ``clusterlab chaos``: lessons and the nemesis from a terminal.

A student repeats the instructor's lesson on a laptop, or a script runs it in
CI, with the narration and every check printed as the backend's runner
produces them::

    clusterlab lesson --list
    clusterlab lesson leader_crash            # plays it, prints each step
    clusterlab lesson leader_crash --step     # Enter for each next step
    clusterlab lesson --reset                 # heal and put the cluster back

    clusterlab chaos --seed 7 --duration 60   # follows the faults as they happen
    clusterlab chaos --seed 7 --dry-run       # the schedule only
    clusterlab chaos --stop

The lesson exits 0 when every check passed and 1 otherwise; Ctrl-C stops a
lesson (reset) or a chaos run (everything is healed).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import time
from collections.abc import Callable
from typing import Any, TextIO

from cluster.client.api import ClientError, ClusterClient

LESSON_COMMANDS = ("lesson", "chaos")
POLL_S = 0.3  # how often the state is asked for while a step runs
# A step's wait is at most 10 minutes (the loader's limit); a run that says
# nothing for longer than this has lost its backend.
SILENCE_LIMIT_S = 900.0
WRAP = 78

ConnectionOptions = Callable[[argparse.ArgumentParser, object], None]


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    connection_options: ConnectionOptions,
) -> None:
    lesson = commands.add_parser(
        "lesson",
        help="run a ready-made lesson against the cluster, with narration and checks",
        description="Run a lesson (scenarios/*.toml) on the running cluster: each step's "
        "narration, the actions it performs, what it waits for, and whether the class saw "
        "what it should have. Needs the instructor token (lessons break things).",
    )
    connection_options(lesson, argparse.SUPPRESS)
    lesson.add_argument("name", nargs="?", help="the lesson, e.g. leader_crash")
    lesson.add_argument("--list", action="store_true", help="list the lessons")
    lesson.add_argument("--step", action="store_true",
                        help="wait for Enter before each step (default: play through)")
    lesson.add_argument("--pause", type=float, default=1.0, metavar="S",
                        help="seconds between steps when playing (default 1)")
    lesson.add_argument("--reset", action="store_true",
                        help="afterwards (or alone: now) heal every fault and restore the "
                        "topology, time scale and placement the lesson started with")

    chaos = commands.add_parser(
        "chaos",
        help="a seeded random fault schedule (Jepsen's nemesis) on the running cluster",
        description="Kill, pause, partition and degrade links at random, reproducibly: the "
        "same seed gives the same schedule. Everything is healed at the end.",
    )
    connection_options(chaos, argparse.SUPPRESS)
    chaos.add_argument("--seed", type=int, help="the schedule's seed")
    chaos.add_argument("--duration", type=float, default=60.0, metavar="S",
                       help="seconds of chaos (default 60; stretched by slow motion)")
    chaos.add_argument("--kinds", help="only these faults, e.g. kill,partition "
                       "(kill, pause, partition, oneway, delay, loss)")
    chaos.add_argument("--dry-run", action="store_true", help="print the schedule, run nothing")
    chaos.add_argument("--stop", action="store_true", help="stop the running chaos (heals)")
    chaos.add_argument("--show", action="store_true", help="print the current or last run")


def run(client: ClusterClient, args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    if args.command == "lesson":
        return _lesson(client, args, out)
    return _chaos(client, args, out)


# -- lessons ----------------------------------------------------------------------------


def _lesson(client: ClusterClient, args: argparse.Namespace, out: TextIO) -> int:
    if args.list:
        _print_list(client.scenarios(), out)
        return 0
    if not args.name:
        if args.reset:
            return _reset(client, out)
        raise ClientError("name a lesson (clusterlab lesson --list shows them)")
    state = client.lesson_run(args.name, play=not args.step, pause_s=args.pause)
    print(f"Lesson: {state['title']} ({state['steps_total']} steps)", file=out)
    print(_wrap(state["summary"], "  "), file=out)
    printer = _StepPrinter(out)
    try:
        follow = _step_by_step if args.step else _follow_from
        state = follow(client, state, printer)
    except KeyboardInterrupt:
        print("\nstopped; resetting the cluster", file=out)
        return _reset(client, out) or 130
    passed = sum(1 for s in state["steps"] if s["state"] == "passed")
    total = len(state["steps"])
    print(f"\n{passed} of {total} steps passed.", file=out)
    if args.reset:
        _reset(client, out)
    return 0 if passed == total else 1


def _print_list(lessons: list[dict[str, Any]], out: TextIO) -> None:
    width = max((len(x["name"]) for x in lessons), default=4)
    for lesson in lessons:
        if lesson.get("error"):
            print(f"{lesson['name']:<{width}}  BROKEN: {lesson['error']}", file=out)
            continue
        print(f"{lesson['name']:<{width}}  {lesson['steps']:>2} steps  {lesson['title']}", file=out)


def _follow(client: ClusterClient, printer: _StepPrinter) -> dict[str, Any]:
    """Print each step as the runner reports it, until the lesson stops playing."""
    last_change_s = time.monotonic()
    version = -1
    while True:
        state = client.lesson()
        if state.get("version") != version:
            version, last_change_s = state.get("version", 0), time.monotonic()
            printer.show(state)
        if state["status"] not in ("playing", "running"):
            printer.show(state)
            return state
        if time.monotonic() - last_change_s > SILENCE_LIMIT_S:
            raise ClientError("the lesson has reported nothing for too long; is run.py alive?")
        time.sleep(POLL_S)


def _follow_from(
    client: ClusterClient, state: dict[str, Any], printer: _StepPrinter
) -> dict[str, Any]:
    return _follow(client, printer)


def _step_by_step(
    client: ClusterClient, state: dict[str, Any], printer: _StepPrinter
) -> dict[str, Any]:
    while state["status"] not in ("done",):
        input("\n[Enter] for the next step (Ctrl-C to stop) ")
        client.lesson_command("next")
        state = _follow(client, printer)
        if state["step"] >= state["steps_total"]:
            break
    return state


def _reset(client: ClusterClient, out: TextIO) -> int:
    client.lesson_command("reset")
    state = client.lesson()
    while state["status"] == "resetting":
        time.sleep(POLL_S)
        state = client.lesson()
    for line in state.get("reset") or []:
        print(f"  reset: {line}", file=out)
    return 0


class _StepPrinter:
    """Prints each step once, then its actions, wait and checks as they arrive."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._printed: dict[int, int] = {}  # step number -> lines of it printed

    def show(self, state: dict[str, Any]) -> None:
        for step in state["steps"]:
            if step["state"] == "pending":
                continue
            lines = self._lines(step, state["steps_total"])
            done = self._printed.get(step["number"], 0)
            # Actions and checks appear as the step runs; print only what is new,
            # and an action's answer once it is in.
            complete = [ln for ln in lines if not ln.endswith("…")]
            new = complete[done:] if len(complete) >= done else []
            for line in new:
                print(line, file=self._out)
            self._printed[step["number"]] = done + len(new)

    @staticmethod
    def _lines(step: dict[str, Any], total: int) -> list[str]:
        title = f" — {step['title']}" if step["title"] else ""
        lines = ["", f"Step {step['number']}/{total}{title}", _wrap(step["narration"], "  ")]
        if step.get("before") and step["before"].get("ok") is not None:
            lines.append(_wait_line(step["before"]))
        for action in step["actions"]:
            if action["ok"] is None:
                lines.append(f"  → {action['text']}…")
                break
            answer = "ok" if action["ok"] else f"refused: {action['error']}"
            expected = "" if (action["ok"] == (action["expect"] != "fail")
                              or action["expect"] == "any") else "  (unexpected)"
            lines.append(f"  → {action['text']}: {answer} "
                         f"({action['elapsed_ms']:.0f} ms){expected}")
        if step["wait"] and step["wait"].get("ok") is not None:
            lines.append(_wait_line(step["wait"]))
        for check in step["checks"]:
            mark = "✓" if check["ok"] else "✗"
            lines.append(f"  {mark} {check['message']} — {check['detail']}")
        if step["state"] == "failed" and step["error"]:
            lines.append(f"  ✗ step failed: {step['error']}")
        elif step["state"] == "running":
            lines.append("  …")
        return lines


def _wait_line(wait: dict[str, Any]) -> str:
    how = "after" if wait["ok"] else f"NOT MET (limit {wait['timeout_s']:g} s), gave up after"
    return f"  ⏳ {wait['text']}: {how} {wait['elapsed_s']:g} s" + (
        f" ({wait['detail']})" if wait.get("detail") else ""
    )


def _wrap(text: str, indent: str) -> str:
    paragraphs = " ".join(text.split())
    return textwrap.fill(paragraphs, WRAP, initial_indent=indent, subsequent_indent=indent)


# -- chaos ------------------------------------------------------------------------------


def _chaos(client: ClusterClient, args: argparse.Namespace, out: TextIO) -> int:
    if args.stop:
        state = client.chaos_stop()
        print(f"stopping chaos (seed {state['seed']}); everything will be healed", file=out)
        return 0
    if args.show:
        _print_schedule(client.chaos(), out)
        return 0
    if args.seed is None:
        raise ClientError("give a --seed (the same seed replays the same faults)")
    if args.dry_run:
        _print_schedule(client.chaos(args.seed, args.duration), out)
        return 0
    kinds = args.kinds.split(",") if args.kinds else None
    state = client.chaos_start(args.seed, args.duration, kinds)
    planned = len(state["schedule"])
    print(f"chaos: seed {args.seed}, {args.duration:g} s, {planned} actions "
          f"(time scale {state['time_scale']:g}); Ctrl-C stops and heals", file=out)
    shown = 0
    try:
        while True:
            state = client.chaos()
            done = [e for e in state["schedule"] if e["done"]]
            for entry in done[shown:]:
                print(_entry_line(entry, state["started_ms"]), file=out)
            shown = len(done)
            if not state["on"]:
                break
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        client.chaos_stop()
        print("\nstopping; healing the cluster", file=out)
        while client.chaos()["on"]:
            time.sleep(POLL_S)
        state = client.chaos()
    for line in state.get("healed") or []:
        print(f"  healed: {line}", file=out)
    failed = state.get("failed", 0)
    print(f"chaos over: {state.get('done', 0)} actions, {failed} refused", file=out)
    return 0


def _entry_line(entry: dict[str, Any], started_ms: float) -> str:
    at_s = (entry["t_ms"] - started_ms) / 1000.0 if started_ms else entry["at_s"]
    result = "" if entry.get("ok") in (None, True) else f"  refused: {entry.get('error')}"
    return f"  {at_s:7.2f} s  {entry['text']}{result}"


def _print_schedule(state: dict[str, Any], out: TextIO) -> None:
    if not state.get("schedule"):
        print("no chaos has run yet", file=out)
        return
    kind = "preview" if state.get("preview") else ("running" if state.get("on") else "last run")
    print(f"chaos {kind}: seed {state['seed']}, {state['duration_s']:g} s", file=out)
    for entry in state["schedule"]:
        mark = "" if state.get("preview") else ("✓ " if entry.get("done") else "  ")
        print(f"  {mark}{entry['at_s']:7.2f} s  {entry['text']}", file=out)
