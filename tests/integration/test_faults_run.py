"""Every network fault on real processes, through the real REST API (docs/faults.md).

One ``run.py`` with five nodes serves the whole module (starting five
Python processes costs more than most of these tests); after each test an
autouse fixture heals everything, resumes and restarts nodes and waits for
one agreed leader, so the tests do not depend on each other's order. Every
node pid ever seen, and every process naming this module's data directory,
is SIGKILLed at the end, even when a test fails.

What each test shows is what docs/faults.md claims:

* partition 2|3 with the leader in the minority: the minority cannot commit,
  the majority elects a leader and commits, a node restarted during the
  partition gets the rules again, and after heal every node converges;
* one-way (the leader can send but not receive): followers keep getting
  its heartbeats, their answers are dropped; the leader steps down
  (check-quorum), the others elect a new one and commit, and pre-vote keeps
  the cut-off node from disturbing them (their term stays put);
* pause: the leader's heartbeats stop, a new leader is elected; resume: it
  follows and catches up;
* wipe: the node's data directory is emptied, it restarts, and Raft catches
  it up with a snapshot (the leader had compacted its log);
* link faults: loss, duplication, reordering and delay move their counters
  and the measured RTT; slow motion stretches the injected delay.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from bench.run_process import pid_alive, pids_mentioning
from bench.run_process import wait_for as poll_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NODES = [f"n{i}" for i in range(1, 6)]
START_DEADLINE_S = 60.0  # five Python processes on two busy cores
DEADLINE_S = 30.0  # elections, catch-up, counters moving: seconds, with slack
HTTP_TIMEOUT_S = 10.0
# A write the minority cannot commit: the node answers 503 within its own
# 5 s request timeout; the client waits a little longer.
MINORITY_WRITE_TIMEOUT_S = 12.0
# Small, so that a few dozen writes make the leader compact its log and a
# wiped node must be sent a snapshot.
SNAPSHOT_THRESHOLD_ENTRIES = 20
CONFIG = f"""
heartbeat_interval_ms = 100
snapshot_threshold_entries = {SNAPSHOT_THRESHOLD_ENTRIES}
"""


def wait_for(condition: Callable[[], Any], what: str, deadline_s: float = DEADLINE_S) -> Any:
    return poll_until(condition, what, deadline_s)


class Lab:
    """A running ``run.py``, driven over HTTP as a user's scripts would."""

    def __init__(self, url: str, token: str, data_dir: Path) -> None:
        self.url = url
        self.token = token
        self.data_dir = data_dir
        self.pids: set[int] = set()

    # -- the backend ---------------------------------------------------------

    def cluster(self) -> dict[str, Any]:
        reply = requests.get(f"{self.url}/api/cluster", timeout=HTTP_TIMEOUT_S)
        reply.raise_for_status()
        view: dict[str, Any] = reply.json()
        self.pids.update(n["pid"] for n in view["nodes"] if n["pid"])
        return view

    def node(self, node: str) -> dict[str, Any]:
        found: dict[str, Any] = next(n for n in self.cluster()["nodes"] if n["id"] == node)
        return found

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        reply = requests.post(
            f"{self.url}{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=HTTP_TIMEOUT_S,
        )
        assert reply.status_code == 200, (body, reply.text)
        answer: dict[str, Any] = reply.json()
        return answer

    def fault(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /api/faults; for a network fault, wait until every up node applies it."""
        answer = self.post("/api/faults", body)
        if body["action"] in ("partition", "oneway", "heal", "link"):
            self.wait_applied(answer["version"])
        return answer

    def wait_applied(self, version: int) -> None:
        def applied() -> bool:
            listed = requests.get(f"{self.url}/api/faults", timeout=HTTP_TIMEOUT_S).json()
            up = [n["id"] for n in self.cluster()["nodes"] if n["state"] == "up"]
            return all(listed["applied"].get(n, 0) >= version for n in up)

        wait_for(applied, f"every up node to apply fault rules version {version}")

    # -- the nodes' own client ports ----------------------------------------

    def node_get(self, node: str, path: str, **params: str) -> dict[str, Any] | None:
        addr = self.node(node)["client_addr"]
        try:
            reply = requests.get(f"http://{addr}{path}", params=params, timeout=3.0)
        except requests.RequestException:
            return None
        if reply.status_code != 200:
            return None
        answer: dict[str, Any] = reply.json()
        return answer

    def raft(self, node: str) -> dict[str, Any] | None:
        return self.node_get(node, "/raft")

    def counters(self, node: str) -> dict[str, int]:
        status = self.node_get(node, "/status")
        return status["counters"] if status else {}

    def value_at(self, node: str, key: str, consistency: str = "stale") -> str | None:
        answer = self.node_get(node, f"/kv/{key}", consistency=consistency)
        return answer["value"] if answer else None

    def put(self, node: str, key: str, value: str, timeout_s: float = 8.0) -> requests.Response:
        addr = self.node(node)["client_addr"]
        return requests.put(f"http://{addr}/kv/{key}", data=value.encode(), timeout=timeout_s)

    def put_ok(self, node: str, key: str, value: str) -> dict[str, Any]:
        def attempt() -> dict[str, Any] | None:
            try:
                reply = self.put(node, key, value)
            except requests.RequestException:
                return None
            return reply.json() if reply.status_code == 200 else None

        result: dict[str, Any] = wait_for(attempt, f"PUT {key} at {node} to commit")
        return result

    def leader(self, among: list[str], not_in: tuple[str, ...] = ()) -> str:
        """Wait until exactly one of ``among`` leads and all of them agree; return it."""

        def agreed() -> str | None:
            states = {n: self.raft(n) for n in among}
            leading = [n for n, s in states.items() if s and s["role"] == "leader"]
            if len(leading) != 1 or leading[0] in not_in:
                return None
            term = states[leading[0]]["term"]  # type: ignore[index]
            for state in states.values():
                if state is None or state["leader"] != leading[0] or state["term"] != term:
                    return None
            return leading[0]

        leader: str = wait_for(agreed, f"one agreed leader among {among}")
        return leader


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("faults")
    data_dir = root / "data"
    config = root / "lab.toml"
    config.write_text(CONFIG)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLUSTERLAB_")}
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "run.py"), "--port", "0", "--no-browser",
         "--nodes", str(len(NODES)), "--data-dir", str(data_dir), "--config", str(config)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    output: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        output.extend(process.stdout)

    threading.Thread(target=read, daemon=True).start()
    running: Lab | None = None
    try:

        def printed() -> str | None:
            text = "".join(output)
            if process.poll() is not None:
                raise AssertionError(f"run.py exited with {process.returncode}:\n{text}")
            return text if "Token:" in text else None

        text = wait_for(printed, "run.py to print its URL and token", START_DEADLINE_S)
        url = re.search(r"Dashboard:\s+(http://\S+)", text)
        token = re.search(r"Token:\s+(\S+)", text)
        assert url and token, text
        running = Lab(url.group(1).rstrip("/"), token.group(1), data_dir)
        yield running
    finally:
        if running is not None:
            with contextlib.suppress(requests.RequestException):
                running.cluster()  # the latest pids
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        pids = set(running.pids) if running is not None else set()
        for pid in pids | set(pids_mentioning(str(data_dir))):
            if pid_alive(pid):
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, signal.SIGKILL)


@pytest.fixture(autouse=True)
def healthy(lab: Lab) -> Iterator[None]:
    """Each test starts and leaves the cluster whole: no faults, every node up, a leader."""
    restore(lab)
    yield
    restore(lab)


def restore(lab: Lab) -> None:
    lab.post("/api/time-scale", {"time_scale": 1.0})
    lab.fault({"action": "heal", "links": True})
    for node in lab.cluster()["nodes"]:
        if node["state"] == "paused":
            lab.post("/api/faults", {"action": "resume", "node": node["id"]})
        elif node["state"] == "down":
            lab.post("/api/faults", {"action": "restart", "node": node["id"]})
    wait_for(
        lambda: all(n["state"] == "up" for n in lab.cluster()["nodes"]),
        "every node up",
        START_DEADLINE_S,
    )
    lab.leader(NODES)


# -- partition ------------------------------------------------------------------


def test_partition_minority_cannot_commit_majority_can_and_heal_converges(lab: Lab) -> None:
    old = lab.leader(NODES)
    minority = [old, next(n for n in NODES if n != old)]
    majority = [n for n in NODES if n not in minority]
    dropped_before = lab.counters(old).get("dropped_partition", 0)
    lab.fault({"action": "partition", "groups": [minority, majority]})

    # The leader of the minority takes the write but can never commit it (§5.4.2).
    try:
        reply = lab.put(old, "side", "minority", timeout_s=MINORITY_WRITE_TIMEOUT_S)
        assert reply.status_code != 200, reply.text
    except requests.Timeout:
        pass  # no answer at all is no commit either
    # The majority elects its own leader and commits.
    new = lab.leader(majority)
    committed = lab.put_ok(new, "side", "majority")
    assert wait_for(
        lambda: (lab.raft(old) or {}).get("role") != "leader",
        "the old leader to step down (check-quorum)",
    )
    assert lab.counters(old).get("dropped_partition", 0) > dropped_before

    # A node restarted during the partition gets the rules again from the hub.
    restarted = majority[-1]
    lab.post("/api/faults", {"action": "restart", "node": restarted})
    wait_for(lambda: lab.node(restarted)["state"] == "up", f"{restarted} up again")
    wait_for(
        lambda: lab.counters(restarted).get("dropped_partition", 0) > 0,
        f"the new {restarted} process to drop its messages to the minority",
    )

    lab.fault({"action": "heal"})
    leader = lab.leader(NODES)
    assert leader in majority  # the minority's log is behind: it cannot win (§5.4.1)

    def converged() -> bool:
        states = [lab.raft(n) for n in NODES]
        return all(s and s["commit_index"] >= committed["index"] for s in states) and all(
            lab.value_at(n, "side") == "majority" for n in NODES
        )

    wait_for(converged, "every node to have the majority's write")
    # The minority's entry was never committed: the new leader's log overwrote it.
    assert lab.value_at(leader, "side", "linearizable") == "majority"


# -- one-way --------------------------------------------------------------------


def test_oneway_a_leader_that_cannot_hear_steps_down_and_cannot_disturb(lab: Lab) -> None:
    old = lab.leader(NODES)
    old_term = lab.raft(old)["term"]  # type: ignore[index]
    others = [n for n in NODES if n != old]
    # Counters live as long as a process; earlier tests may have moved them.
    dropped = {n: lab.counters(n).get("dropped_partition", 0) for n in NODES}
    lab.fault({"action": "oneway", "from": [old], "to": others})

    # Its frames still reach the others (their heartbeat clocks keep advancing)...
    def heard_ms() -> dict[str, float]:
        result = {}
        for node in others:
            status = lab.node_get(node, "/status")
            result[node] = (status or {}).get("peers", {}).get(old, {}).get("last_heartbeat_ms")
        return result

    before = heard_ms()
    time.sleep(1.0)
    after = heard_ms()
    for node in others:
        assert after[node] is not None and after[node] > (before[node] or 0), (node, before, after)
    # ...while every answer to it is dropped at its sender, and it drops nothing itself.
    for node in others:
        wait_for(
            lambda n=node: lab.counters(n).get("dropped_partition", 0) > dropped[n],
            f"{node} to drop its answers",
        )
    assert lab.counters(old).get("dropped_partition", 0) == dropped[old]

    # Check-quorum: without answers it steps down; the others elect a leader.
    new = lab.leader(others)
    wait_for(lambda: (lab.raft(old) or {}).get("role") != "leader", f"{old} to step down")
    new_term = lab.raft(new)["term"]  # type: ignore[index]
    assert new_term > old_term
    committed = lab.put_ok(new, "oneway", "written")
    # Pre-vote: the cut-off node campaigns without raising terms, so the
    # majority's leader and term stay put.
    time.sleep(3.0)
    assert lab.leader(others) == new
    assert lab.raft(new)["term"] == new_term  # type: ignore[index]

    lab.fault({"action": "heal"})
    assert lab.leader(NODES) == new

    def caught_up() -> bool:
        state = lab.raft(old)
        # applied, not only known committed: the read below is local
        return bool(state) and state["last_applied"] >= committed["index"]  # type: ignore[index]

    wait_for(caught_up, f"{old} to catch up")
    assert lab.value_at(old, "oneway") == "written"


# -- pause ------------------------------------------------------------------------


def test_pause_stops_heartbeats_and_resume_catches_up(lab: Lab) -> None:
    old = lab.leader(NODES)
    others = [n for n in NODES if n != old]
    lab.post("/api/faults", {"action": "pause", "node": old})

    def last_heard() -> float | None:
        status = lab.node_get(others[0], "/status")
        heard = (status or {}).get("peers", {}).get(old, {}).get("last_heartbeat_ms")
        return float(heard) if heard is not None else None

    first = last_heard()
    time.sleep(1.5)
    assert last_heard() == first  # a stopped process sends nothing
    new = lab.leader(others)
    committed = lab.put_ok(new, "pause", "while-paused")
    listed = requests.get(f"{lab.url}/api/faults", timeout=HTTP_TIMEOUT_S).json()["faults"]
    assert [(f["kind"], f["node"]) for f in listed] == [("paused", old)]

    lab.post("/api/faults", {"action": "resume", "node": old})
    wait_for(lambda: (last_heard() or 0) > (first or 0), f"{old}'s heartbeats again")

    def follows() -> bool:
        state = lab.raft(old)
        return (
            bool(state)
            and state["role"] == "follower"  # type: ignore[index]
            and state["leader"] == new  # type: ignore[index]
            # applied, not only known committed: the read below is local
            and state["last_applied"] >= committed["index"]  # type: ignore[index]
        )

    wait_for(follows, f"{old} to follow {new} and catch up")
    assert lab.value_at(old, "pause") == "while-paused"


# -- wipe -----------------------------------------------------------------------------


def test_wipe_empties_the_data_directory_and_raft_catches_the_node_up(lab: Lab) -> None:
    leader = lab.leader(NODES)
    wiped = next(n for n in NODES if n != leader)
    last: dict[str, Any] = {}
    for i in range(SNAPSHOT_THRESHOLD_ENTRIES * 2):
        last = lab.put_ok(leader, f"w{i}", f"v{i}")
    wait_for(lambda: (lab.raft(leader) or {}).get("snapshot_index", 0) > 0, "leader to compact")
    node_dir = lab.data_dir / wiped
    (node_dir / "marker.txt").write_text("gone after a wipe")
    old_pid = lab.node(wiped)["pid"]

    answer = lab.post("/api/faults", {"action": "wipe", "node": wiped})
    assert answer["node"]["id"] == wiped
    assert not (node_dir / "marker.txt").exists()
    assert (node_dir / "node.json").exists()
    wait_for(lambda: lab.node(wiped)["state"] == "up", f"{wiped} up again")
    assert lab.node(wiped)["pid"] != old_pid

    def caught_up() -> bool:
        state = lab.raft(wiped)
        return bool(state) and state["last_applied"] >= last["index"]  # type: ignore[index]

    wait_for(caught_up, f"{wiped} to catch up")
    assert lab.value_at(wiped, "w0") == "v0"
    assert lab.value_at(wiped, f"w{SNAPSHOT_THRESHOLD_ENTRIES * 2 - 1}") is not None
    # Its log started empty and the leader's early entries are compacted
    # away, so it caught up from the leader's snapshot (§7).
    # The recorded history, filtered by type: the most recent events alone
    # can miss it once the catch-up's own traffic has followed. Polled: the
    # node's /raft answers at once, its telemetry reaches the hub a flush later.
    def installed() -> bool:
        lines = requests.get(
            f"{lab.url}/api/history", params={"types": "SnapshotSaved"}, timeout=HTTP_TIMEOUT_S
        ).text.splitlines()
        events = [json.loads(line) for line in lines if line.strip()]
        return any(e["node"] == wiped and e["source"] == "leader" for e in events)

    wait_for(installed, f"the leader's snapshot to reach {wiped} (SnapshotSaved in the history)")


# -- link faults ----------------------------------------------------------------------


def rtt_ms(lab: Lab, node: str, peer: str) -> float | None:
    status = lab.node_get(node, "/status")
    value = (status or {}).get("peers", {}).get(peer, {}).get("rtt_ms")
    return float(value) if value is not None else None


def test_link_faults_move_their_counters_and_the_rtt(lab: Lab) -> None:
    a, b = "n1", "n2"
    # Counters live as long as a process; earlier tests may have moved them.
    before = {n: lab.counters(n) for n in NODES}
    faulty = {"action": "link", "a": a, "b": b, "delay_ms": 40, "loss": 0.2,
              "duplicate": 0.2, "reorder": 0.2}  # fmt: skip
    lab.fault(faulty)
    for node in (a, b):  # both directions
        for counter in ("dropped_loss", "fault_duplicated", "fault_reordered", "fault_delayed"):
            wait_for(
                lambda n=node, c=counter: lab.counters(n).get(c, 0) > before[n].get(c, 0),
                f"{node} {counter}",
            )
    # 40 ms each way, on top of a fast loopback link
    wait_for(lambda: (rtt_ms(lab, a, b) or 0) >= 80, f"{a}→{b} RTT to include the delay")
    # a fault on n1–n2 only: n3 duplicates nothing
    assert lab.counters("n3").get("fault_duplicated", 0) == before["n3"].get("fault_duplicated", 0)

    # Slow motion stretches the injected delay like every timer.
    lab.post("/api/time-scale", {"time_scale": 3.0})
    wait_for(lambda: (rtt_ms(lab, a, b) or 0) >= 240, "the delay to stretch 3×")
    lab.post("/api/time-scale", {"time_scale": 1.0})

    lab.fault({"action": "link", "a": a, "b": b, "up": False, "oneway": True})
    wait_for(
        lambda: lab.counters(a).get("dropped_link_down", 0) > before[a].get("dropped_link_down", 0),
        f"{a}→{b} to drop as link_down",
    )

    lab.fault({"action": "heal", "links": True})
    wait_for(lambda: (rtt_ms(lab, a, b) or 1e9) < 40, "the RTT to fall back")
