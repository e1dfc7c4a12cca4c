"""Run one seed and turn whatever happens into a printable outcome.

Shared by the command line (``python -m cluster.sim``) and the test suite,
so a failing seed in CI prints the same reproduce line a developer types.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass

from cluster.sim.cluster import Simulation

DEFAULT_STEPS = 300


@dataclass(frozen=True)
class Outcome:
    seed: int
    failure: str | None
    settings_lines: list[str]
    stats_text: str


def reproduce_command(seed: int, steps: int = DEFAULT_STEPS) -> str:
    extra = "" if steps == DEFAULT_STEPS else f" --steps {steps}"
    return f".venv/bin/python -m cluster.sim --seed {seed}{extra} --verbose"


def run_seed(seed: int, steps: int = DEFAULT_STEPS, verbose: bool = False) -> Outcome:
    sim = Simulation(seed, steps, log=print if verbose else None)
    lines = sim.settings.lines()
    if verbose:
        print("\n".join(lines), flush=True)
    try:
        stats = sim.run()
    except AssertionError as exc:  # InvariantViolation, RaftInvariantError
        return Outcome(seed, f"{type(exc).__name__}: {exc} (at tick {sim.tick})", lines, "")
    except Exception as exc:  # a crash in the core is a failure too, with its stack
        trace = "".join(traceback.format_exception(exc, limit=-4))
        return Outcome(seed, f"{type(exc).__name__} at tick {sim.tick}: {exc}\n{trace}", lines, "")
    return Outcome(seed, None, lines, stats.text())
