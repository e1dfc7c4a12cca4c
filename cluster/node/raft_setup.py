"""Wires Raft and the key-value service into a node process.

Reads the node's Raft state back from its data directory (a restarted node
continues where it stopped: term, vote, log, snapshot), rebuilds the state
machine from the snapshot, and connects the pure core to the node's
network (``RaftDriver``) and to its client port (``KvService``), with the
file storage whose metadata lives in the same state machine (files_setup.py).
"""

from __future__ import annotations

import random
import sys
from collections.abc import Mapping
from pathlib import Path

from cluster.config import NodeConfig
from cluster.core.kv import KvStore
from cluster.core.raft import RaftConfig, RaftNode
from cluster.node.files_setup import start_files
from cluster.node.http import Router
from cluster.node.kv_routes import add_kv_routes
from cluster.node.kv_service import KvService
from cluster.node.members import PeerCommands
from cluster.node.node import Node
from cluster.node.raft_driver import RaftDriver
from cluster.node.raft_storage import RaftStorage

RAFT_DIR = "raft"
# The fsync runs in a worker thread, which needs the GIL for a moment before
# and after the system call. With CPython's default 5 ms switch interval, the
# busy event loop keeps the GIL that long each time, so a 3 ms fsync took up
# to 13 ms and every commit waited for it. 0.5 ms hands the GIL over promptly.
GIL_SWITCH_INTERVAL_S = 0.0005


def start_raft(
    node: Node, config: NodeConfig, router: Router, heard_ms: Mapping[str, float] | None = None
) -> RaftDriver:
    """Build the Raft driver and the KV service of ``node``; the caller runs its tasks."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    storage = RaftStorage(Path(config.data_dir) / RAFT_DIR, fsync=config.fsync == "always")
    persistent = storage.load()
    snapshot = persistent.snapshot if persistent is not None else None
    kv = KvStore.restore(snapshot.data) if snapshot is not None else KvStore()
    # Election timeouts only need to differ between nodes and between runs; a
    # real process has no replay to reproduce, so the seed comes from the OS.
    settings = RaftConfig(snapshot_threshold_entries=config.snapshot_threshold_entries)
    raft = RaftNode(config.node, list(config.raft_voters()), persistent, random.Random(), settings)
    driver = RaftDriver(node, raft, storage, kv, config.tick_ms, config.fsync)
    kv_service = KvService(node, driver, heard_ms)
    add_kv_routes(router, kv_service)
    start_files(config, router, kv_service, heard_ms)
    PeerCommands(node)
    return driver


def raft_tasks(node: Node, driver: RaftDriver) -> None:
    node.spawn(driver.run_ticks(), "raft-ticks")
    node.spawn(driver.run_ready(), "raft-ready")
    node.spawn(driver.run_reports(), "raft-reports")
    node.spawn(driver.run_deadlines(), "raft-deadlines")
