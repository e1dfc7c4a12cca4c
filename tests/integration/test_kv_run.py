"""The key-value store through the backend, on a real run.py with three node processes.

What only real processes show: a write through ``/api/kv`` is committed by
a real Raft majority (it has an index and a term, and every node's own
state machine then holds it); a write sent to a follower is forwarded; a
retried write with the same session applies once; killing the leader with
SIGKILL elects another and loses no acknowledged write; without a majority
the answer is a 503 that says why; and the ``clusterlab`` commands
(``kv put/get/del``, ``members add/remove``) do all of this from a shell.

One run.py serves the whole module (starting it costs seconds); a test that
breaks something repairs it before it ends. run.py and every node pid are
killed by pid in the fixture's ``finally``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from bench.run_process import pid_alive, wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NODES = 3
START_DEADLINE_S = 60.0  # three Python processes on two busy cores
LEADER_DEADLINE_S = 30.0
CONVERGE_DEADLINE_S = 30.0
EXIT_DEADLINE_S = 20.0
# A KV request waits for a commit; the node gives up after 5 s, the gateway after 7 s.
HTTP_TIMEOUT_S = 30.0
CLI_TIMEOUT_S = 90.0


@dataclass
class Lab:
    process: subprocess.Popen[str]
    data_dir: Path
    output: list[str] = field(default_factory=list)
    url: str = ""
    token: str = ""
    node_pids: set[int] = field(default_factory=set)

    def cluster(self) -> dict[str, Any]:
        reply = requests.get(f"{self.url}/api/cluster", timeout=HTTP_TIMEOUT_S)
        reply.raise_for_status()
        body: dict[str, Any] = reply.json()
        self.node_pids.update(n["pid"] for n in body["nodes"] if n["pid"])
        return body

    def leader(self, other_than: str | None = None) -> str:
        def elected() -> str | None:
            view = self.cluster()
            leader = view["leader"]
            if leader is None or leader == other_than:
                return None
            roles = [n["role"] for n in view["nodes"] if n["state"] == "up"]
            return leader if roles.count("leader") == 1 else None

        found: str = wait_for(elected, "one leader", LEADER_DEADLINE_S)
        return found

    def kv(self, method: str, key: str, **kwargs: Any) -> requests.Response:
        if method != "GET":  # writes need the instructor token; reads are open to all
            bearer = {"Authorization": f"Bearer {self.token}"}
            kwargs["headers"] = {**bearer, **kwargs.get("headers", {})}
        return requests.request(method, f"{self.url}/api/kv/{key}", timeout=HTTP_TIMEOUT_S,
                                **kwargs)

    def fault(self, action: str, node: str) -> None:
        reply = requests.post(
            f"{self.url}/api/faults", json={"action": action, "node": node},
            headers={"Authorization": f"Bearer {self.token}"}, timeout=HTTP_TIMEOUT_S,
        )
        assert reply.status_code == 200, reply.text

    def wait_state(self, node: str, state: str) -> None:
        wait_for(
            lambda: any(n["id"] == node and n["state"] == state for n in self.cluster()["nodes"]),
            f"{node} {state}", START_DEADLINE_S,
        )

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLUSTERLAB_")}
        env.update(CLUSTERLAB_URL=self.url, CLUSTERLAB_TOKEN=self.token)
        return subprocess.run(
            [sys.executable, "-m", "cluster.client.cli", *args], capture_output=True, text=True,
            timeout=CLI_TIMEOUT_S, env=env, cwd=ROOT,
        )


def _read_output(lab: Lab) -> None:
    assert lab.process.stdout is not None
    for line in lab.process.stdout:  # drained to the end so run.py never blocks on a pipe
        lab.output.append(line)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    data_dir = tmp_path_factory.mktemp("kv") / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLUSTERLAB_")}
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "run.py"), "--port", "0", "--no-browser",
         "--nodes", str(NODES), "--data-dir", str(data_dir)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    running = Lab(process, data_dir)
    threading.Thread(target=_read_output, args=(running,), daemon=True).start()
    try:
        def printed() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"run.py exited:\n{''.join(running.output)}")
            return "Token:" in "".join(running.output)

        wait_for(printed, "run.py to print its URL and token", START_DEADLINE_S)
        text = "".join(running.output)
        url = re.search(r"Dashboard:\s+(http://\S+)", text)
        token = re.search(r"Token:\s+(\S+)", text)
        assert url and token, text
        running.url, running.token = url.group(1).rstrip("/"), token.group(1)
        wait_for(
            lambda: [n["state"] for n in running.cluster()["nodes"]] == ["up"] * NODES,
            "every node up", START_DEADLINE_S,
        )
        yield running
    finally:
        with_children = set(running.node_pids)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=EXIT_DEADLINE_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=EXIT_DEADLINE_S)
        for pid in with_children:
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_put_commits_and_every_node_then_holds_it(lab: Lab) -> None:
    leader = lab.leader()
    reply = lab.kv("PUT", "colour", data=b"blue")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["key"] == "colour" and body["value"] == "blue"
    assert body["index"] > 0 and body["term"] > 0
    assert body["node"] == leader  # the gateway enters at the leader when it knows one

    for node in ("n1", "n2", "n3"):
        read = lab.kv("GET", "colour", params={"node": node})
        assert read.status_code == 200, read.text
        assert (read.json()["value"], read.json()["node"]) == ("blue", node)
        # a stale read is the node's own state machine: it catches up by itself
        wait_for(
            lambda n=node: lab.kv("GET", "colour", params={"node": n, "consistency": "stale"})
            .json().get("value") == "blue",
            f"{node}'s own copy", CONVERGE_DEADLINE_S,
        )

    gone = lab.kv("DELETE", "colour")
    assert gone.status_code == 200 and gone.json()["index"] > body["index"]
    missing = lab.kv("GET", "colour")
    assert missing.status_code == 404
    assert missing.json()["error"] == "no such key"


def test_a_write_to_a_follower_is_forwarded_and_a_retry_applies_once(lab: Lab) -> None:
    leader = lab.leader()
    follower = next(n for n in ("n1", "n2", "n3") if n != leader)
    session = {"X-Client-Id": "test-client-1", "X-Request-Seq": "1"}
    first = lab.kv("PUT", "counter", data=b"1", params={"node": follower}, headers=session)
    assert first.status_code == 200, first.text
    assert first.json()["node"] == follower
    # The same session and sequence number is a retry of that write, even with
    # another body: the state machine answers it from its memory (thesis §6.3)
    # and does not apply it a second time.
    again = lab.kv("PUT", "counter", data=b"2", params={"node": leader}, headers=session)
    assert again.status_code == 200, again.text
    assert lab.kv("GET", "counter").json()["value"] == "1"
    following = {"X-Client-Id": "test-client-1", "X-Request-Seq": "2"}
    assert lab.kv("PUT", "counter", data=b"2", headers=following).status_code == 200
    assert lab.kv("GET", "counter").json()["value"] == "2"


def test_killing_the_leader_elects_another_and_loses_no_acknowledged_write(lab: Lab) -> None:
    old = lab.leader()
    written = lab.kv("PUT", "before-failover", data=b"kept")
    assert written.status_code == 200, written.text
    lab.fault("kill", old)
    new = lab.leader(other_than=old)
    assert new != old
    after = lab.kv("PUT", "after-failover", data=b"new")
    assert after.status_code == 200, after.text
    assert after.json()["term"] > written.json()["term"]
    assert lab.kv("GET", "before-failover").json()["value"] == "kept"

    # the old leader comes back as a follower and catches up from the new leader
    lab.fault("restart", old)
    lab.wait_state(old, "up")
    wait_for(
        lambda: lab.kv("GET", "after-failover", params={"node": old, "consistency": "stale"})
        .json().get("value") == "new",
        f"{old} to catch up", CONVERGE_DEADLINE_S,
    )


def test_without_a_majority_a_write_is_a_503_that_says_why(lab: Lab) -> None:
    leader = lab.leader()
    others = [n for n in ("n1", "n2", "n3") if n != leader]
    for node in others:
        lab.fault("kill", node)
    try:
        reply = lab.kv("PUT", "lonely", data=b"x")
        assert reply.status_code == 503, reply.text
        error = reply.json()["error"]
        assert any(word in error for word in ("not enough nodes", "no leader", "timeout")), error
    finally:
        for node in others:
            lab.fault("restart", node)
        for node in others:
            lab.wait_state(node, "up")
    lab.leader()


def test_the_cli_reads_writes_and_changes_membership(lab: Lab) -> None:
    lab.leader()
    put = lab.cli("kv", "put", "greeting", "hello world")
    assert put.returncode == 0, put.stderr
    assert re.fullmatch(r"OK greeting: committed at index \d+, term \d+ \(via n\d\)\n", put.stdout)
    get = lab.cli("kv", "get", "greeting", "--stale", "--node", "n1")
    wait_for(
        lambda: lab.cli("kv", "get", "greeting", "--stale", "--node", "n1").stdout
        == "hello world\n", "n1's stale copy", CONVERGE_DEADLINE_S,
    )
    get = lab.cli("kv", "get", "greeting")
    assert (get.returncode, get.stdout) == (0, "hello world\n")
    deleted = lab.cli("kv", "del", "greeting")
    assert deleted.returncode == 0, deleted.stderr
    absent = lab.cli("kv", "get", "greeting")
    assert absent.returncode == 2
    assert absent.stderr == "clusterlab: greeting: no such key\n"
    bad = lab.cli("kv", "get", "greeting", "--node", "n9")
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1
    assert "unknown node 'n9'" in bad.stderr

    added = lab.cli("members", "add")
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("add n4: committed at index")
    assert "voters now n1, n2, n3, n4" in added.stdout
    assert lab.kv("PUT", "four", data=b"4").status_code == 200
    wait_for(
        lambda: lab.kv("GET", "four", params={"node": "n4", "consistency": "stale"})
        .json().get("value") == "4",
        "n4 to hold the replicated data", CONVERGE_DEADLINE_S,
    )
    removed = lab.cli("members", "remove", "n4")
    assert removed.returncode == 0, removed.stderr
    assert "voters now n1, n2, n3" in removed.stdout
    assert [n["id"] for n in lab.cluster()["nodes"]] == ["n1", "n2", "n3"]
