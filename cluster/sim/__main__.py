"""Run seeded whole-cluster simulations from the command line.

    .venv/bin/python -m cluster.sim --seeds 2000              # seeds 0..1999
    .venv/bin/python -m cluster.sim --seeds 100000 --start 5000 --steps 600
    .venv/bin/python -m cluster.sim --seed 1234 --verbose     # replay one, with a trace

The first failing seed stops the run, prints its settings and the violated
invariant, and the exact command that reproduces it.
"""

from __future__ import annotations

import argparse
import sys
import time

from cluster.sim.run import DEFAULT_STEPS, reproduce_command, run_seed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cluster.sim", description=__doc__)
    parser.add_argument("--seeds", type=int, default=100, help="how many seeds to run")
    parser.add_argument("--start", type=int, default=0, help="first seed")
    parser.add_argument("--seed", type=int, help="run this one seed only")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="chaos ticks per seed")
    parser.add_argument("--verbose", action="store_true", help="print every message and event")
    args = parser.parse_args(argv)

    seeds = [args.seed] if args.seed is not None else range(args.start, args.start + args.seeds)
    first, count = seeds[0], len(seeds)
    print(
        f"cluster.sim: seeds {first}..{first + count - 1}, {args.steps} chaos steps per seed"
        " (each seed draws its own nodes, network faults and Raft timeouts)",
        flush=True,
    )
    started = time.perf_counter()
    for done, seed in enumerate(seeds, start=1):
        outcome = run_seed(seed, args.steps, verbose=args.verbose or args.seed is not None)
        if outcome.failure is not None:
            print("\n".join(outcome.settings_lines))
            print(f"FAILED seed {seed}: {outcome.failure}")
            print(f"reproduce: {reproduce_command(seed, args.steps)}")
            return 1
        if args.seed is not None:
            print(f"ok: {outcome.stats_text}")
        elif done % 500 == 0 or done == count:
            rate = done / (time.perf_counter() - started)
            print(f"{done}/{count} seeds ok ({rate:.0f} seeds/s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
