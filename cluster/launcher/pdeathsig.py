"""Make a child process die when its parent does (Linux ``PR_SET_PDEATHSIG``).

If the backend is killed with SIGKILL it cannot stop its nodes; the kernel
does it instead: a child that asked for PR_SET_PDEATHSIG=SIGKILL receives
SIGKILL when its parent goes. Linux tracks the parent *thread* that forked,
which is why the launcher forks from one long-lived thread (spawner.py).

The call runs in the child between fork and exec (``preexec_fn``), where only
simple code is safe, so libc and its ``prctl`` are looked up beforehand.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
from collections.abc import Callable

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_prctl = _libc.prctl
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_prctl.restype = ctypes.c_int
_SIGKILL = int(signal.SIGKILL)


def die_with_parent(parent_pid: int, sig: int = _SIGKILL) -> Callable[[], None]:
    """A ``preexec_fn`` that arms ``sig``-on-parent-death (SIGKILL unless told) in the child."""

    def preexec() -> None:
        if _prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
            os._exit(127)
        # The parent may have died between fork and prctl, before the signal
        # was armed; then it would never come.
        if os.getppid() != parent_pid:
            os._exit(127)

    return preexec
