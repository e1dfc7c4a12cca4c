"""The launcher and the node processes it runs, as real processes on loopback.

What only real processes show: ports actually served, TCP links actually
connected, heartbeats actually flowing, a SIGKILL actually noticed, SIGSTOP
actually freezing a node, and no process outliving its launcher.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from launcher_testkit import (
    TEST_SECRET,
    Cluster,
    kill_pids,
    node_status,
    pid_gone,
    try_status,
    wait_until,
)

from cluster.launcher import LauncherError
from cluster.schema.codec import HEADER_BYTES, BulkFrame, encode_frame
from cluster.schema.files import ChunkPut
from cluster.schema.messages import Envelope, Heartbeat, Hello, encode_envelope, frame_envelope

pytestmark = pytest.mark.integration

StartCluster = Callable[..., Cluster]


def test_five_nodes_come_up_linked_and_report_telemetry(start_cluster: StartCluster) -> None:
    cluster = start_cluster(nodes=5)
    launcher, hub = cluster.launcher, cluster.hub
    assert launcher.node_ids() == ["n1", "n2", "n3", "n4", "n5"]
    for status in launcher.status():
        assert status.process == "running"
        assert status.pid is not None and not pid_gone(status.pid)
        assert (cluster.data_dir / status.id / "node.json").is_file()

    wait_until(cluster.all_linked, timeout_s=20, what="every pair connected with an RTT")
    for status in launcher.status():
        seen = node_status(status.client_addr)
        assert seen["node"] == status.id
        assert seen["pid"] == status.pid
        assert seen["run_id"] == "test-run-0"
        assert seen["time_scale"] == 1.0
        for view in seen["peers"].values():
            assert 0 <= view["rtt_ms"] < 1000

    # The stand-in hub decoded real batches: NodeUp first, then traffic.
    wait_until(lambda: len({e.node for e in hub.events("NodeUp")}) == 5, what="5 NodeUp")
    ups = {e.node: e for e in hub.events("NodeUp")}
    assert ups["n3"].pid == launcher.node("n3").pid
    assert ups["n3"].client_addr == launcher.node("n3").client_addr
    wait_until(lambda: hub.events("LinkRtt", node="n1"), what="LinkRtt from n1")
    wait_until(lambda: hub.events("Counters", node="n5"), what="Counters from n5")
    sent = wait_until(lambda: hub.events("MsgSent", node="n2"), what="MsgSent from n2")
    assert {e.kind for e in sent} & {"Heartbeat", "HeartbeatAck"}
    # Messages about a link go one hop (others may be forwarded while routes form).
    one_hop = {"Heartbeat", "HeartbeatAck", "RoutingHello", "LinkStateAdvert"}
    assert all(e.src == "n2" and e.to == e.dst != "n2" for e in sent if e.kind in one_hop)
    received = wait_until(lambda: hub.events("MsgReceived", node="n2"), what="MsgReceived")
    assert all(e.dst == "n2" and e.frm == e.src != "n2" for e in received if e.kind in one_hop)
    links = wait_until(lambda: hub.events("LinkUp", node="n4"), what="LinkUp from n4")
    assert {e.peer for e in links if e.up} == {"n1", "n2", "n3", "n5"}


def test_a_node_killed_from_outside_is_reported_down(start_cluster: StartCluster) -> None:
    cluster = start_cluster(nodes=3)
    launcher = cluster.launcher
    wait_until(cluster.all_linked, timeout_s=20, what="cluster linked")
    pid = launcher.node("n2").pid
    assert pid is not None

    os.kill(pid, signal.SIGKILL)
    killed_at_s = time.monotonic()
    down = wait_until(
        lambda: [s for s in cluster.changes_of("n2") if s.process == "down"],
        timeout_s=2.0,
        interval_s=0.01,
        what="the subscribe callback reporting n2 down",
    )
    assert time.monotonic() - killed_at_s < 2.0
    assert down[-1].pid is None
    assert down[-1].exit_code == -signal.SIGKILL
    assert launcher.node("n2").process == "down"
    assert pid_gone(pid)
    # The survivors notice the lost link.
    wait_until(
        lambda: not node_status(cluster.client_addr("n1"))["peers"]["n2"]["connected"],
        what="n1 seeing its link to n2 lost",
    )


def test_kill_then_restart_reuses_the_same_ports(start_cluster: StartCluster) -> None:
    cluster = start_cluster(nodes=3)
    launcher, hub = cluster.launcher, cluster.hub
    wait_until(cluster.all_linked, timeout_s=20, what="cluster linked")
    before = launcher.node("n3")
    assert before.pid is not None

    killed = launcher.kill("n3")
    assert killed.process == "down" and killed.pid is None
    assert killed.exit_code == -signal.SIGKILL
    with pytest.raises(ProcessLookupError):
        os.kill(before.pid, 0)  # reaped by kill(), not just dead
    assert launcher.kill("n3") == killed  # no-op on a down node
    with pytest.raises(LauncherError):
        launcher.pause("n3")
    with pytest.raises(LauncherError):
        launcher.resume("n3")

    restarted = launcher.restart("n3")
    assert restarted.process == "running"
    assert restarted.restarts == 1
    assert restarted.pid not in (None, before.pid)
    assert (restarted.addr, restarted.client_addr) == (before.addr, before.client_addr)
    assert restarted.spawned_at_ms > before.spawned_at_ms
    wait_until(cluster.all_linked, timeout_s=20, what="n3 linked again after restart")
    assert node_status(restarted.client_addr)["pid"] == restarted.pid
    wait_until(
        lambda: any(e.pid == restarted.pid for e in hub.events("NodeUp", node="n3")),
        what="NodeUp from the new n3",
    )

    # Restart of a running node kills and respawns it.
    again = launcher.restart("n3")
    assert again.restarts == 2 and again.pid != restarted.pid
    assert restarted.pid is not None and pid_gone(restarted.pid)
    wait_until(
        lambda: [s.process for s in cluster.changes_of("n3")]
        == ["running", "down", "running", "down", "running"],
        what="a callback for every change of n3, in order",
    )


def test_unknown_node_is_a_launcher_error(start_cluster: StartCluster) -> None:
    cluster = start_cluster(nodes=1)
    for action in ("node", "kill", "restart", "pause", "resume"):
        with pytest.raises(LauncherError, match="unknown node 'n9'"):
            getattr(cluster.launcher, action)("n9")


def test_pause_stops_heartbeats_and_resume_restarts_them(start_cluster: StartCluster) -> None:
    cluster = start_cluster(nodes=3)
    launcher = cluster.launcher
    wait_until(cluster.all_linked, timeout_s=20, what="cluster linked")

    def last_heartbeat_from_n2() -> float:
        value: float = node_status(cluster.client_addr("n1"))["peers"]["n2"]["last_heartbeat_ms"]
        return value

    paused = launcher.pause("n2")
    assert paused.process == "paused" and paused.pid is not None
    assert launcher.pause("n2") == paused  # no-op
    # Let any heartbeat already in flight land: wait until two readings agree...
    readings = [last_heartbeat_from_n2()]

    def settled() -> bool:
        time.sleep(0.3)
        readings.append(last_heartbeat_from_n2())
        return readings[-1] == readings[-2]

    wait_until(settled, what="heartbeats in flight from n2 to land")
    frozen_ms = readings[-1]
    # ...then it must stay frozen for ten heartbeat intervals.
    time.sleep(1.0)
    assert last_heartbeat_from_n2() == frozen_ms
    assert try_status(cluster.client_addr("n2"), timeout_s=0.5) is None  # it cannot answer

    resumed = launcher.resume("n2")
    assert resumed.process == "running" and resumed.pid == paused.pid
    assert launcher.resume("n2") == resumed  # no-op
    wait_until(lambda: last_heartbeat_from_n2() > frozen_ms, what="heartbeats from n2 again")
    assert node_status(cluster.client_addr("n2"))["pid"] == paused.pid
    assert [s.process for s in cluster.changes_of("n2")][-2:] == ["paused", "running"]


def _raw_frame(secret: bytes, env: Envelope) -> bytes:
    return encode_frame(secret, encode_envelope(env))


def _altered_chunk_frame() -> bytes:
    """An authentic bulk frame (a ChunkPut) with one payload bit flipped after signing."""
    data = bytearray(os.urandom(100_000))
    put = ChunkPut(1, hashlib.sha256(data).hexdigest(), bytes(data))
    frame = frame_envelope(TEST_SECRET, Envelope("n2", "n1", 1, put))
    assert isinstance(frame, BulkFrame)
    data[50_000] ^= 0x01
    return frame.prefix + bytes(data)


def test_bad_frames_are_counted_and_the_node_keeps_serving(start_cluster: StartCluster) -> None:
    cluster = start_cluster(nodes=2)
    wait_until(cluster.all_linked, timeout_s=20, what="cluster linked")
    target = cluster.launcher.node("n1")
    host, port_text = target.addr.split(":")
    hello = _raw_frame(TEST_SECRET, Envelope("n2", "n1", 0, Hello("n2", "test-run-0")))
    wrong_key = os.urandom(32)
    attacks = {
        # random bytes whose length field happens to be small: the tag fails
        "bad_tag": struct.pack(">I", 40) + os.urandom(HEADER_BYTES - 4 + 40),
        # a hostile length: refused from the header, the body is never sent
        "oversize": struct.pack(">I32s", 2**31, bytes(32)),
        # authentic frame whose body is not msgpack
        "undecodable": encode_frame(TEST_SECRET, b"\xc1\xc1\xc1"),
        # an authentic first frame from another run
        "wrong_run": _raw_frame(TEST_SECRET, Envelope("n2", "n1", 0, Hello("n2", "old-run"))),
        # a correct Hello, then a frame signed with the wrong key
        "bad_tag_after_hello": hello
        + _raw_frame(wrong_key, Envelope("n2", "n1", 1, Heartbeat(1.0))),
        # a correct Hello, then the connection ends in the middle of a frame
        "truncated": hello + _raw_frame(TEST_SECRET, Envelope("n2", "n1", 1, Heartbeat(1.0)))[:-5],
        # a correct Hello, then a file chunk whose bytes were changed on the way
        "bad_digest": hello + _altered_chunk_frame(),
    }
    for payload in attacks.values():
        with socket.create_connection((host, int(port_text)), timeout=5) as sock:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(5)
            # The node closes the connection: recv sees the end, or a reset.
            with contextlib.suppress(ConnectionResetError):
                assert sock.recv(1024) == b""

    def counters() -> dict[str, int]:
        result: dict[str, int] = node_status(target.client_addr)["counters"]
        return result

    wait_until(
        lambda: counters().get("bad_frame_bad_tag", 0) >= 2
        and counters().get("bad_frame_oversize", 0) >= 1
        and counters().get("bad_frame_undecodable", 0) >= 1
        and counters().get("bad_frame_wrong_run", 0) >= 1
        and counters().get("bad_frame_truncated", 0) >= 1
        and counters().get("bad_frame_bad_digest", 0) >= 1,
        what=f"every bad frame counted, have {counters()}",
    )
    assert counters().get("chunks_stored_upload", 0) == 0  # the altered chunk went nowhere
    reasons = {e.reason for e in cluster.hub.events("BadFrame", node="n1")}
    wait_until(
        lambda: {e.reason for e in cluster.hub.events("BadFrame", node="n1")}
        >= {"bad_tag", "oversize", "undecodable", "wrong_run", "truncated", "bad_digest"},
        what=f"BadFrame events at the hub, have {reasons}",
    )
    # Still alive, still serving, still linked with its real peer.
    assert cluster.launcher.node("n1").process == "running"
    wait_until(cluster.all_linked, what="n1 still linked to n2")


def test_stop_leaves_no_process_and_is_idempotent(start_cluster: StartCluster) -> None:
    cluster = start_cluster(nodes=3)
    launcher = cluster.launcher
    wait_until(cluster.all_linked, timeout_s=20, what="cluster linked")
    launcher.pause("n1")  # a stopped process ignores SIGTERM until continued
    pids = [s.pid for s in launcher.status() if s.pid is not None]
    assert len(pids) == 3

    # Generous: on a loaded machine a node may take seconds to be scheduled.
    launcher.stop(timeout_s=20.0)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    statuses = launcher.status()
    assert all(s.process == "down" and s.pid is None for s in statuses)
    # SIGTERM sufficed (no SIGKILL, which would give -9), even for the paused
    # node: the node closed its sockets and returned 0.
    assert [s.exit_code for s in statuses] == [0, 0, 0]
    launcher.stop()  # idempotent
    with pytest.raises(LauncherError):
        launcher.restart("n1")


DRIVER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from cluster.config import ClusterConfig
    from cluster.launcher import Launcher

    launcher = Launcher(ClusterConfig(nodes=3), Path(sys.argv[1]), bytes.fromhex(sys.argv[2]),
                        "driver-run", "127.0.0.1", 9)
    launcher.start()
    print(json.dumps([s.pid for s in launcher.status()]), flush=True)
    time.sleep(600)
    """
)


def test_nodes_die_with_a_sigkilled_launcher_parent(tmp_path: Path) -> None:
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(tmp_path), TEST_SECRET.hex()],
        stdout=subprocess.PIPE,
        text=True,
    )
    pids: list[int] = []
    try:
        assert driver.stdout is not None
        pids = json.loads(driver.stdout.readline())
        assert len(pids) == 3
        wait_until(
            lambda: all(try_status_of_node(tmp_path, n) for n in ("n1", "n2", "n3")),
            timeout_s=20,
            what="the driver's nodes serving",
        )
        driver.kill()  # SIGKILL: the launcher gets no chance to clean up
        driver.wait(timeout=5)
        wait_until(
            lambda: all(pid_gone(pid) for pid in pids),
            timeout_s=5,
            what="every node killed by PR_SET_PDEATHSIG",
        )
        # The kernel's SIGKILL, not the node's own parent polling (which
        # would have logged why it exits), ended every node.
        for node_id in ("n1", "n2", "n3"):
            assert "parent process" not in (tmp_path / node_id / "node.log").read_text()
    finally:
        driver.kill()
        driver.wait(timeout=5)
        kill_pids(pids)


def try_status_of_node(data_dir: Path, node_id: str) -> bool:
    config = json.loads((data_dir / node_id / "node.json").read_text())
    return try_status(f"127.0.0.1:{config['client_port']}") is not None
