"""Spawns, supervises, kills, pauses and restarts the node processes of a run.

The backend drives the user's fault buttons through this class; each method
returns only when the change really happened (a killed node is reaped, a
paused node is stopped), so the dashboard never shows a state the processes
are not in. One lock serialises all changes, and a process is only ever
reaped with that lock held: a pid we signal is therefore always still our
child, never a recycled pid of some other process.

Threads: the spawner forks every node (spawner.py explains why one thread),
the supervisor polls for nodes that died on their own, the notifier calls
subscribers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cluster.config import (
    MAX_NODES,
    SECRET_ENV,
    ClusterConfig,
    NeighbourLink,
    NodeConfig,
    PeerAddr,
    neighbour_links,
)
from cluster.launcher.notifier import Notifier
from cluster.launcher.ports import LOOPBACK, reserve_loopback_ports
from cluster.launcher.spawner import Spawner, SpawnRequest
from cluster.launcher.status import DOWN, PAUSED, RUNNING, LauncherError, NodeStatus
from cluster.launcher.wipe import empty_node_dir
from cluster.schema.control import AddPeer, RemovePeer

log = logging.getLogger(__name__)

# A node dying on its own is reported within about twice this.
SUPERVISOR_POLL_S = 0.1
# A SIGKILLed process is gone in milliseconds; longer means it is stuck in the
# kernel (e.g. on a dead disk) and waiting forever would hang the backend.
KILL_REAP_TIMEOUT_S = 5.0
# How long to wait for SIGSTOP / SIGCONT to show in /proc before returning.
SIGNAL_SETTLE_TIMEOUT_S = 1.0
SIGNAL_SETTLE_POLL_S = 0.005
# A removed node gets this long to stop on SIGTERM before SIGKILL.
REMOVE_STOP_TIMEOUT_S = 3.0
# (node id, control command): how add_node / remove_node tell the running nodes
# about a new or departed member (the backend passes its hub's send_command).
CommandSender = Callable[[str, Any], object]
# The directory that holds the ``cluster`` package, so ``-m cluster.node``
# works whatever the current directory is.
SOURCE_ROOT = Path(__file__).resolve().parents[2]

_NEW, _STARTED, _STOPPED = "new", "started", "stopped"


@dataclass
class _Process:
    """One node's process record; only read or changed with the launcher's lock held."""

    id: str
    dir: Path
    peer_port: int = 0
    client_port: int = 0
    popen: subprocess.Popen[bytes] | None = None
    process: str = DOWN
    restarts: int = 0
    exit_code: int | None = None
    spawned_at_ms: float = 0.0

    def snapshot(self) -> NodeStatus:
        return NodeStatus(
            id=self.id,
            process=self.process,
            pid=self.popen.pid if self.popen is not None else None,
            addr=f"{LOOPBACK}:{self.peer_port}",
            client_addr=f"{LOOPBACK}:{self.client_port}",
            restarts=self.restarts,
            exit_code=self.exit_code,
            spawned_at_ms=self.spawned_at_ms,
        )


class Launcher:
    def __init__(
        self,
        config: ClusterConfig,
        data_dir: Path,
        secret: bytes,
        run_id: str,
        hub_host: str,
        hub_port: int,
        python: str = sys.executable,
    ) -> None:
        self._config = config
        # Checked here too, so a bad topology fails before any process starts;
        # each node's config lists only its own neighbours.
        self._topology = config.build_topology()
        self._routing_tick_ms = config.routing_tick_for(self._topology)
        self._data_dir = Path(data_dir)
        self._secret = secret
        self._run_id = run_id
        self._hub_host = hub_host
        self._hub_port = hub_port
        self._python = python
        self._lock = threading.RLock()
        self._state = _NEW
        self._nodes = {
            f"n{i}": _Process(f"n{i}", self._data_dir / f"n{i}")
            for i in range(1, config.nodes + 1)
        }
        # Raft's first configuration (thesis §4); nodes added later join it.
        self._initial_voters = tuple(self._nodes)
        self._joined: set[str] = set()
        self._next_number = config.nodes + 1  # ids are never reused within a run
        self._notifier = Notifier()
        self._spawner: Spawner | None = None
        self._supervisor: threading.Thread | None = None
        self._supervisor_stop = threading.Event()

    # -- the contract -------------------------------------------------------

    def start(self) -> None:
        """Reserve ports, write each node's config, spawn all; return once spawned."""
        with self._lock:
            if self._state != _NEW:
                raise LauncherError("a launcher starts its cluster only once")
            self._state = _STARTED
            ports = reserve_loopback_ports(2 * len(self._nodes))
            for i, rec in enumerate(self._nodes.values()):
                rec.peer_port, rec.client_port = ports[2 * i], ports[2 * i + 1]
            for rec in self._nodes.values():
                rec.dir.mkdir(parents=True, exist_ok=True)
            self._write_configs()
            self._spawner = Spawner()
            self._supervisor = threading.Thread(
                target=self._supervise, name="launcher-supervisor", daemon=True
            )
            self._supervisor.start()
            for rec in self._nodes.values():
                self._spawn(rec)

    def node_ids(self) -> list[str]:
        return list(self._nodes)

    def status(self) -> list[NodeStatus]:
        with self._lock:
            return [rec.snapshot() for rec in self._nodes.values()]

    def node(self, node_id: str) -> NodeStatus:
        with self._lock:
            return self._get(node_id).snapshot()

    def kill(self, node_id: str) -> NodeStatus:
        """SIGKILL, and return once the process is reaped; no-op on a down node."""
        with self._lock:
            rec = self._get(node_id)
            if rec.popen is not None:
                self._kill_and_reap(rec)
            return rec.snapshot()

    def restart(self, node_id: str) -> NodeStatus:
        """Kill if alive, then spawn again with the same data dir and ports."""
        with self._lock:
            rec = self._get(node_id)
            self._require_started()
            if rec.popen is not None:
                self._kill_and_reap(rec)
            rec.restarts += 1
            self._spawn(rec)
            return rec.snapshot()

    def wipe(self, node_id: str) -> NodeStatus:
        """Kill if alive, empty its data directory (wipe.py), spawn again on the same ports.

        The node comes back with no Raft state and no chunks, like a server
        whose disk was replaced, and must be caught up by the others.
        """
        with self._lock:
            rec = self._get(node_id)
            self._require_started()
            if rec.popen is not None:
                self._kill_and_reap(rec)
            removed = empty_node_dir(rec.dir, self._data_dir)
            log.info("launcher: wiped %s (removed %s)", rec.id, ", ".join(removed) or "nothing")
            rec.restarts += 1
            self._spawn(rec)
            return rec.snapshot()

    def pause(self, node_id: str) -> NodeStatus:
        """SIGSTOP: the process freezes with its sockets open, like a long GC pause."""
        with self._lock:
            rec = self._get(node_id)
            popen = self._require_alive(rec, "pause")
            if rec.process != PAUSED:
                _signal(popen, signal.SIGSTOP)
                _wait_stopped(popen.pid, stopped=True)
                rec.process = PAUSED
                self._notifier.publish(rec.snapshot())
            return rec.snapshot()

    def resume(self, node_id: str) -> NodeStatus:
        """SIGCONT; a no-op on a running node."""
        with self._lock:
            rec = self._get(node_id)
            popen = self._require_alive(rec, "resume")
            if rec.process == PAUSED:
                _signal(popen, signal.SIGCONT)
                _wait_stopped(popen.pid, stopped=False)
                rec.process = RUNNING
                self._notifier.publish(rec.snapshot())
            return rec.snapshot()

    def stop(self, timeout_s: float = 5.0) -> None:
        """SIGTERM every node, SIGKILL those still alive after ``timeout_s``, reap all."""
        with self._lock:
            if self._state == _STOPPED:
                return
            was_started = self._state == _STARTED
            self._state = _STOPPED
            self._supervisor_stop.set()
            alive = [rec for rec in self._nodes.values() if rec.popen is not None]
            for rec in alive:
                assert rec.popen is not None
                # A stopped process ignores SIGTERM until it is continued.
                if rec.process == PAUSED:
                    _signal(rec.popen, signal.SIGCONT)
                _signal(rec.popen, signal.SIGTERM)
            deadline_s = time.monotonic() + timeout_s
            for rec in alive:
                assert rec.popen is not None
                try:
                    code = rec.popen.wait(max(0.0, deadline_s - time.monotonic()))
                except subprocess.TimeoutExpired:
                    log.warning("launcher: %s ignored SIGTERM; killing it", rec.id)
                    self._kill_and_reap(rec)
                else:
                    self._mark_down(rec, code)
        if self._supervisor is not None:
            self._supervisor.join()
        # Only now, with every child reaped: the spawner thread's exit would
        # SIGKILL any child it forked (PR_SET_PDEATHSIG).
        if was_started and self._spawner is not None:
            self._spawner.close()
        self._notifier.close()

    def add_node(self, send_command: CommandSender | None = None) -> NodeStatus:
        """Start a new node (``n6`` after n1..n5) with fresh ports and data directory.

        It starts with no Raft configuration and waits to be added (``POST
        /members`` on a node: thesis §4, one server at a time). Every other
        node's config now lists it, so a restarted node finds it too, and
        ``send_command`` (the hub's) tells the running nodes with ``AddPeer``.
        """
        with self._lock:
            self._require_started()
            if len(self._nodes) >= MAX_NODES:
                raise LauncherError(f"a cluster has at most {MAX_NODES} nodes")
            node_id = f"n{self._next_number}"
            self._next_number += 1
            rec = _Process(node_id, self._data_dir / node_id)
            rec.peer_port, rec.client_port = reserve_loopback_ports(2)
            rec.dir.mkdir(parents=True, exist_ok=True)
            self._nodes[node_id] = rec
            self._joined.add(node_id)
            self._write_configs()
            self._spawn(rec)
            others = [other.id for other in self._nodes.values() if other.id != node_id]
            status = rec.snapshot()
        if send_command is not None:
            for other in others:
                send_command(other, AddPeer(node_id, LOOPBACK, rec.peer_port))
        return status

    def remove_node(self, node_id: str, send_command: CommandSender | None = None) -> NodeStatus:
        """Stop ``node_id`` for good and forget it; call once Raft committed its removal.

        SIGTERM, SIGKILL after REMOVE_STOP_TIMEOUT_S, reaped; the other nodes'
        configs no longer list it and ``send_command`` sends them ``RemovePeer``.
        """
        with self._lock:
            self._require_started()
            rec = self._get(node_id)
            if len(self._nodes) == 1:
                raise LauncherError("cannot remove the last node")
            if rec.popen is not None:
                if rec.process == PAUSED:
                    _signal(rec.popen, signal.SIGCONT)
                _signal(rec.popen, signal.SIGTERM)
                try:
                    self._mark_down(rec, rec.popen.wait(REMOVE_STOP_TIMEOUT_S))
                except subprocess.TimeoutExpired:
                    self._kill_and_reap(rec)
            del self._nodes[node_id]
            self._joined.discard(node_id)
            self._write_configs()
            others = list(self._nodes)
            status = rec.snapshot()
        if send_command is not None:
            for other in others:
                send_command(other, RemovePeer(node_id))
        return status

    def subscribe(self, callback: Callable[[NodeStatus], None]) -> None:
        """Call ``callback`` (from a launcher thread) on every process-state change."""
        self._notifier.subscribe(callback)

    # -- internals ----------------------------------------------------------

    def _get(self, node_id: str) -> _Process:
        rec = self._nodes.get(node_id)
        if rec is None:
            raise LauncherError(f"unknown node {node_id!r}; nodes are {', '.join(self._nodes)}")
        return rec

    def _require_started(self) -> None:
        if self._state == _NEW:
            raise LauncherError("the cluster is not started yet")
        if self._state == _STOPPED:
            raise LauncherError("the cluster is stopped")

    def _require_alive(self, rec: _Process, action: str) -> subprocess.Popen[bytes]:
        if rec.popen is None:
            raise LauncherError(f"cannot {action} {rec.id}: it is down (restart it first)")
        return rec.popen

    def _config_path(self, rec: _Process) -> Path:
        return rec.dir / "node.json"

    def _write_configs(self) -> None:
        for rec in self._nodes.values():
            self._config_path(rec).write_text(self._node_config(rec).to_json(), "utf-8")

    def _links(self, rec: _Process) -> tuple[NeighbourLink, ...] | None:
        """The topology's links, plus plain links to nodes added later (None: to every peer)."""
        if rec.id in self._joined:
            return None
        added = tuple(NeighbourLink(j) for j in sorted(self._joined) if j in self._nodes)
        # A removed node is gone from the address book; so are its links.
        kept = tuple(n for n in neighbour_links(self._topology, rec.id) if n.peer in self._nodes)
        return kept + added

    def _node_config(self, rec: _Process) -> NodeConfig:
        config = self._config
        return NodeConfig(
            node=rec.id,
            run_id=self._run_id,
            host=LOOPBACK,
            peer_port=rec.peer_port,
            client_port=rec.client_port,
            data_dir=str(rec.dir),
            hub_host=self._hub_host,
            hub_port=self._hub_port,
            peers=tuple(
                PeerAddr(other.id, LOOPBACK, other.peer_port)
                for other in self._nodes.values()
                if other.id != rec.id
            ),
            tick_ms=config.tick_ms,
            time_scale=config.time_scale,
            heartbeat_interval_ms=config.heartbeat_interval_ms,
            telemetry_flush_ms=config.telemetry_flush_ms,
            fsync=config.fsync,
            links=self._links(rec),
            routing=config.routing,
            split_horizon=config.split_horizon,
            poison_reverse=config.poison_reverse,
            seed=config.seed,
            routing_tick_ms=self._routing_tick_ms,
            initial_voters=() if rec.id in self._joined else self._initial_voters,
            snapshot_threshold_entries=config.snapshot_threshold_entries,
            files=config.files(),
        )

    def _spawn(self, rec: _Process) -> None:
        assert self._spawner is not None
        env = dict(os.environ)
        env[SECRET_ENV] = self._secret.hex()
        env["PYTHONUNBUFFERED"] = "1"  # node.log shows lines as they happen
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(SOURCE_ROOT), env.get("PYTHONPATH", "")) if p
        )
        argv = [self._python, "-m", "cluster.node", "--config", str(self._config_path(rec))]
        try:
            rec.popen = self._spawner.spawn(SpawnRequest(argv, env, rec.dir / "node.log"))
        except OSError as exc:  # e.g. the python executable is missing
            raise LauncherError(f"cannot start {rec.id}: {exc}") from exc
        rec.process = RUNNING
        rec.exit_code = None
        rec.spawned_at_ms = time.time() * 1000.0
        self._notifier.publish(rec.snapshot())

    def _kill_and_reap(self, rec: _Process) -> None:
        assert rec.popen is not None
        _signal(rec.popen, signal.SIGKILL)
        try:
            code = rec.popen.wait(KILL_REAP_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise LauncherError(f"{rec.id} (pid {rec.popen.pid}) did not die on SIGKILL") from exc
        self._mark_down(rec, code)

    def _mark_down(self, rec: _Process, exit_code: int) -> None:
        rec.popen = None
        rec.process = DOWN
        rec.exit_code = exit_code
        self._notifier.publish(rec.snapshot())

    def _supervise(self) -> None:
        while not self._supervisor_stop.wait(SUPERVISOR_POLL_S):
            with self._lock:
                if self._state != _STARTED:
                    return
                for rec in self._nodes.values():
                    if rec.popen is None:
                        continue
                    code = rec.popen.poll()
                    if code is not None:
                        log.warning("launcher: %s exited on its own with %d", rec.id, code)
                        self._mark_down(rec, code)


def _signal(popen: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    # send_signal does nothing for a process already reaped; a zombie that is
    # not reaped yet accepts the signal and ignores it.
    with contextlib.suppress(ProcessLookupError):
        popen.send_signal(sig)


def _wait_stopped(pid: int, stopped: bool) -> None:
    """Wait until /proc shows the process stopped (or running again)."""
    deadline_s = time.monotonic() + SIGNAL_SETTLE_TIMEOUT_S
    while time.monotonic() < deadline_s:
        state = _proc_state(pid)
        if state is None or state in "ZX" or (state in "Tt") == stopped:
            return
        time.sleep(SIGNAL_SETTLE_POLL_S)


def _proc_state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name in parentheses may contain spaces; the state follows it.
    return stat.rpartition(")")[2].split()[0]
