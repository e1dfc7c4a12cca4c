"""One node process seen from outside: its command line, its control commands,
its traffic generator and its parent-death check.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from launcher_testkit import TEST_SECRET, Cluster, kill_pids, pid_gone, try_status, wait_until

from cluster.config import SECRET_ENV, NodeConfig
from cluster.launcher.ports import reserve_loopback_ports
from cluster.schema.control import SetLoad, SetTimeScale

pytestmark = pytest.mark.integration

StartCluster = Callable[..., Cluster]


def run_node(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cluster.node", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def a_node_config(tmp_path: Path) -> Path:
    peer_port, client_port = reserve_loopback_ports(2)
    config = NodeConfig(
        node="n1",
        run_id="cli",
        host="127.0.0.1",
        peer_port=peer_port,
        client_port=client_port,
        data_dir=str(tmp_path / "n1"),
        hub_host="127.0.0.1",
        hub_port=9,  # nothing listens: the node must tolerate an absent hub
    )
    path = tmp_path / "node.json"
    path.write_text(config.to_json())
    return path


@pytest.mark.parametrize(
    ("secret", "config_text", "message"),
    [
        (None, None, f"{SECRET_ENV} is not set"),
        ("not-hex", None, "is not hex"),
        ("abcd", None, "at least 16 bytes"),
        (TEST_SECRET.hex(), "{not json", "not a valid node config"),
        (TEST_SECRET.hex(), '{"node": "n1"}', "not a valid node config"),
        (TEST_SECRET.hex(), "MISSING", "cannot read config file"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, secret: str | None, config_text: str | None, message: str
) -> None:
    path = a_node_config(tmp_path)
    if config_text == "MISSING":
        path = tmp_path / "missing.json"
    elif config_text is not None:
        path.write_text(config_text)
    env = {k: v for k, v in os.environ.items() if k != SECRET_ENV}
    if secret is not None:
        env[SECRET_ENV] = secret
    result = run_node(["--config", str(path)], env)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_help_names_the_flag_and_the_secret_variable() -> None:
    result = run_node(["--help"], dict(os.environ))
    assert result.returncode == 0
    assert "--config" in result.stdout
    assert SECRET_ENV in result.stdout


def test_set_time_scale_applies_at_once(start_cluster: StartCluster) -> None:
    cluster = start_cluster(nodes=2)
    wait_until(cluster.all_linked, timeout_s=20, what="cluster linked")
    wait_until(lambda: cluster.hub.connected("n1"), what="n1 connected to the hub")

    cluster.hub.send_command("n1", SetTimeScale(10.0))
    wait_until(lambda: cluster.status_of("n1")["time_scale"] == 10.0, what="time_scale 10")

    # Heartbeats now leave n1 every 1 s instead of every 0.1 s.
    cluster.hub.clear()
    time.sleep(3.5)
    heartbeats = [e for e in cluster.hub.events("MsgSent", node="n1") if e.kind == "Heartbeat"]
    assert 1 <= len(heartbeats) <= 5, heartbeats  # at time_scale 1 it would be ~35

    # A refused command (out of range) is counted and changes nothing.
    cluster.hub.send_command("n1", SetTimeScale(1000.0))
    wait_until(
        lambda: cluster.status_of("n1")["counters"].get("commands_refused") == 1,
        what="the refused command counted",
    )
    assert cluster.status_of("n1")["time_scale"] == 10.0


def test_set_load_generates_thousands_of_real_messages(start_cluster: StartCluster) -> None:
    cluster = start_cluster(nodes=3)
    wait_until(cluster.all_linked, timeout_s=20, what="cluster linked")
    wait_until(lambda: cluster.hub.connected("n1"), what="n1 connected to the hub")

    def frames_sent() -> int:
        value: int = cluster.status_of("n1")["counters"].get("frames_sent", 0)
        return value

    target_msgs_per_s = 2000
    cluster.hub.send_command("n1", SetLoad(target_msgs_per_s))
    wait_until(lambda: frames_sent() > 500, what="chatter starting")
    before, started_s = frames_sent(), time.monotonic()
    time.sleep(2.0)
    rate = (frames_sent() - before) / (time.monotonic() - started_s)
    print(f"n1 sent {rate:.0f} frames/s for a SetLoad of {target_msgs_per_s}")
    # How fast is for bench/ to measure; here: clearly a generator, not a trickle
    # (heartbeats alone are 40 frames/s). Generous for two busy shared cores.
    assert rate > 0.1 * target_msgs_per_s
    chatter = [e for e in cluster.hub.events("MsgSent", node="n1") if e.kind == "Chatter"]
    assert chatter and {e.to for e in chatter} == {"n2", "n3"}
    assert all(e.size_bytes > 64 for e in chatter)
    received = cluster.hub.events("MsgReceived", node="n2")
    assert any(e.kind == "Chatter" and e.src == "n1" for e in received)

    cluster.hub.send_command("n1", SetLoad(0))
    wait_until(
        lambda: cluster.status_of("n1")["counters"].get("commands", 0) >= 2,
        what="SetLoad(0) applied",
    )
    quiet_from_ms = time.time() * 1000 + 200  # frames already queued may still leave
    time.sleep(1.5)
    late = [
        e
        for e in cluster.hub.events("MsgSent", node="n1")
        if e.kind == "Chatter" and e.t_ms > quiet_from_ms
    ]
    assert late == []
    assert any(
        e.kind == "Heartbeat" and e.t_ms > quiet_from_ms
        for e in cluster.hub.events("MsgSent", node="n1")
    )


MIDDLE = textwrap.dedent(
    """
    import subprocess, sys, time
    node = subprocess.Popen([sys.executable, "-m", "cluster.node", "--config", sys.argv[1]])
    print(node.pid, flush=True)
    time.sleep(600)
    """
)


def test_node_exits_when_its_parent_is_gone(tmp_path: Path) -> None:
    """Without PR_SET_PDEATHSIG, the node's own parent polling must end it."""
    path = a_node_config(tmp_path)
    config = NodeConfig.from_json(path.read_text())
    log_path = tmp_path / "node.log"
    env = dict(os.environ, **{SECRET_ENV: TEST_SECRET.hex()})
    node_pid = 0
    with log_path.open("w") as log_file:
        middle = subprocess.Popen(
            [sys.executable, "-c", MIDDLE, str(path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
        )
    try:
        assert middle.stdout is not None
        node_pid = int(middle.stdout.readline())
        wait_until(
            lambda: (try_status(f"127.0.0.1:{config.client_port}") or {}).get("pid") == node_pid,
            timeout_s=20,
            what="the node serving",
        )
        middle.kill()
        middle.wait(timeout=5)
        wait_until(lambda: pid_gone(node_pid), timeout_s=5, what="the orphaned node exiting")
        assert "parent process" in log_path.read_text()
    finally:
        middle.kill()
        middle.wait(timeout=5)
        if node_pid:
            kill_pids([node_pid])


def test_status_of_peers_lists_every_configured_peer(start_cluster: StartCluster) -> None:
    cluster = start_cluster(nodes=2)
    wait_until(cluster.all_linked, timeout_s=20, what="cluster linked")
    status = cluster.status_of("n2")
    assert set(status) == {
        "node", "pid", "run_id", "peers", "counters", "time_scale", "routing",
    }
    assert set(status["peers"]) == {"n1"}
    assert set(status["peers"]["n1"]) == {"connected", "rtt_ms", "last_heartbeat_ms", "link"}
    assert set(status["routing"]) == {"algorithm", "converged", "table", "ticks"}
    assert abs(status["peers"]["n1"]["last_heartbeat_ms"] - time.time() * 1000) < 5000
    assert json.loads(json.dumps(status)) == status
