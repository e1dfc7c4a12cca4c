"""Takes docs/screenshot.png: the real dashboard of a real run, for the README.

The README's picture must be the product, not a mock-up, and must be easy
to retake when the page changes. This starts ``run.py``, adds a little
background traffic so messages are in flight, unlocks the instructor
controls with the token run.py printed, kills one node and pauses another
(so every node colour of the legend appears), opens a node's details card,
and saves a screenshot at projector size. It lives with the benchmarks
because, like them, it drives a real run from the outside and records what
came out.

Run: ``.venv/bin/python -m bench.screenshot [--nodes 5] [--out docs/screenshot.png]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from bench.browser import chromium, open_dashboard
from bench.run_process import ROOT, RunPy, progress

DEFAULT_OUT = ROOT / "docs" / "screenshot.png"
# A gentle load: enough dots to see traffic, few enough to follow them.
DEMO_LOAD_MSGS_PER_S = 15
# Time for link widths, RTTs and the status bar's once-a-second numbers to fill in.
SETTLE_S = 4.0
UI_TIMEOUT_MS = 30_000


def take(out: Path, nodes: int) -> None:
    with tempfile.TemporaryDirectory(prefix="clusterlab-shot-") as data_dir:
        run = RunPy(nodes, Path(data_dir))
        try:
            run.start()
            run.wait_all_up()
            run.post("/api/load", {"msgs_per_s": DEMO_LOAD_MSGS_PER_S})
            with chromium() as browser:
                page = open_dashboard(browser, run.url, nodes)
                page.get_by_test_id("token-input").fill(run.token)
                page.get_by_test_id("token-submit").click()
                page.get_by_test_id("kill-n2").click()
                page.locator('#topology [data-node="n2"][data-state="down"]').wait_for(
                    timeout=UI_TIMEOUT_MS
                )
                if nodes >= 4:
                    page.get_by_test_id("pause-n4").click()
                    page.locator('#topology [data-node="n4"][data-state="paused"]').wait_for(
                        timeout=UI_TIMEOUT_MS
                    )
                page.locator('#topology [data-node="n1"]').click()
                time.sleep(SETTLE_S)
                out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(out))
                progress(f"screenshot: saved {out}")
        finally:
            run.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.screenshot", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    take(args.out, args.nodes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
