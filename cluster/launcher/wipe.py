"""Emptying a node's data directory for the wipe-restart fault, and nothing else.

A wipe is the "disk replaced" fault: the node comes back with no Raft log,
no vote, no snapshot and no chunks, and must be caught up by the others.
Deleting files on a user's machine from a button is dangerous, so this
module refuses anything but a real directory that sits directly inside the
run's data directory, and it never follows a symbolic link: a link inside
the node's directory is removed as a link, and what it points to survives.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Collection
from pathlib import Path

from cluster.launcher.status import LauncherError

# Kept across a wipe: the config the launcher wrote (the node cannot start
# without it) and the process's own output, so what happened before the
# wipe can still be read.
KEEP_ON_WIPE = ("node.json", "node.log")


class WipeRefused(LauncherError):
    """The directory is not one this run owns; nothing was deleted."""


def empty_node_dir(
    node_dir: Path, run_dir: Path, keep: Collection[str] = KEEP_ON_WIPE
) -> list[str]:
    """Delete everything in ``node_dir`` except ``keep``; return the names removed.

    ``node_dir`` must be a directory (not a link to one) directly inside
    ``run_dir``.
    """
    if node_dir.is_symlink() or not node_dir.is_dir():
        raise WipeRefused(f"{node_dir} is not a directory of its own; nothing was deleted")
    if node_dir.resolve().parent != run_dir.resolve():
        raise WipeRefused(f"{node_dir} is not inside the run's data directory {run_dir}")
    removed = []
    with os.scandir(node_dir) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name in keep:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:  # a file, or a link (to anything): remove the name only
                os.unlink(entry.path)
            removed.append(entry.name)
    return removed
