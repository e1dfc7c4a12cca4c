"""What the numbers were measured on, printed with every result.

A benchmark result without its machine is unreadable: the same code gives
very different numbers on a 2-core laptop shared with a test run and on an
idle workstation, so the load average at the start goes in too.
"""

from __future__ import annotations

import os
import platform
from typing import Any


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_1m_at_start": round(os.getloadavg()[0], 2),
    }
