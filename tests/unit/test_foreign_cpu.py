"""bench/foreign_cpu.py: CPU taken by processes outside a benchmark's run."""

from __future__ import annotations

import subprocess
import sys

from bench.foreign_cpu import MachineCpu, foreign_cpu_s, machine_cpu

BURN_S = 0.4


def test_foreign_is_busy_time_less_the_measured_processes_and_kernel_threads() -> None:
    before = MachineCpu(busy_s=100.0, kernel_threads_s=10.0)
    after = MachineCpu(busy_s=103.0, kernel_threads_s=10.5)
    assert foreign_cpu_s(before, after, measured_s=2.0) == 0.5
    # readings taken a moment apart can disagree by a tick: never negative
    assert foreign_cpu_s(before, after, measured_s=2.9) == 0.0


def test_a_process_outside_the_measured_set_is_counted_even_after_it_exited() -> None:
    before = machine_cpu()
    burn = (
        f"import time\nend = time.process_time() + {BURN_S}\n"
        "while time.process_time() < end: pass"
    )
    subprocess.run([sys.executable, "-c", burn], check=True)
    after = machine_cpu()
    # Other processes on the machine can only add to it.
    assert foreign_cpu_s(before, after, measured_s=0.0) >= 0.75 * BURN_S
