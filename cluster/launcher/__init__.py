"""Spawns, supervises, kills, pauses and restarts the node processes of a run.

The backend uses only what is re-exported here (docs/architecture.md, the
Launcher contract).
"""

from cluster.launcher.launcher import Launcher
from cluster.launcher.status import LauncherError, NodeStatus

__all__ = ["Launcher", "LauncherError", "NodeStatus"]
