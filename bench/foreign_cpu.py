"""How much CPU processes outside the benchmark took while it measured.

Why: the dashboard's cost is a difference of two throughputs on a 2-core
machine, a few percent wide, and the machines we measure on are shared. A
neighbour's test run that starts during the "page open" step and stops
before the "no page" step reads as a dashboard that costs 20 %; one the
other way round, as a dashboard that costs nothing. The load average cannot
tell which step a neighbour hit. So each step counts what the whole machine
was busy with (/proc/stat, every CPU, steal included), minus what the
measured processes used, minus the kernel's own threads (journal commits of
the nodes' fsyncs, loopback softirqs: work done for the cluster), and a
result can say which rounds were measured on a quiet machine.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
PF_KTHREAD = 0x00200000  # /proc/<pid>/stat flags: a kernel thread


@dataclass(frozen=True)
class MachineCpu:
    """CPU seconds since boot: the whole machine busy, and the kernel threads' share."""

    busy_s: float
    kernel_threads_s: float


def machine_cpu() -> MachineCpu:
    """A reading to subtract from a later one (``foreign_cpu_s``)."""
    return MachineCpu(_busy_s(), _kernel_threads_s())


def foreign_cpu_s(before: MachineCpu, after: MachineCpu, measured_s: float) -> float:
    """CPU seconds used between two readings by anything but the measured processes
    (which used ``measured_s``) and the kernel's threads; never below zero.

    Processes that started and ended in between are counted: the machine's
    busy time has them, whoever they were.
    """
    busy_s = after.busy_s - before.busy_s
    kernel_s = after.kernel_threads_s - before.kernel_threads_s
    return max(0.0, busy_s - kernel_s - measured_s)


def _busy_s() -> float:
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS_PER_S


def _kernel_threads_s() -> float:
    total_ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[6]) & PF_KTHREAD:  # field 9 of stat: flags
                total_ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return total_ticks / CLOCK_TICKS_PER_S
