"""``python -m bench``: every benchmark, one JSON object on stdout.

Runs them one after another (never in parallel: they would measure each
other), and with ``--save`` also writes the object to
``bench/results/<UTC time>.json`` (git-ignored) for comparing runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench import files, raft, routing, startup, telemetry, viewers

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--save", action="store_true", help="also write bench/results/*.json")
    args = parser.parse_args(argv)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    result: dict[str, Any] = {
        "started_utc": started,
        "telemetry": telemetry.run_bench(),
        "startup": startup.run_bench(),
        "raft": raft.run_bench(),
        "routing": routing.run_bench(),
        "files": files.run_bench(),
        "viewers": viewers.run_bench(),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.save:
        RESULTS_DIR.mkdir(exist_ok=True)
        path = RESULTS_DIR / f"{started.replace(':', '')}.json"
        path.write_text(text + "\n", encoding="utf-8")
        print(f"[bench] saved {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
