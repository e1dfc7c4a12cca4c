"""Concurrent clients under random kills and pauses: is what they saw linearizable?

Clients (threads, each with keep-alive HTTP sessions) write unique values
and read with ``consistency=linearizable`` through random nodes while a
chaos thread kills (SIGKILL) and restarts, or pauses (SIGSTOP) and resumes,
random nodes. Every operation is recorded with its invocation and
completion times; a write that got no answer (503 or a client timeout) has
an *unknown* outcome: it may have taken effect, at any time after it was
invoked, or never. The history goes through the project's checker
(cluster/sim/linearizability.py, Wing & Gong search with Lowe's
memoisation), which must find one order of all operations that explains
every answer.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import pytest
import requests
from launcher_testkit import Cluster
from raft_testkit import put_ok, wait_leader

from cluster.sim.linearizability import Op, check

pytestmark = pytest.mark.integration

StartCluster = Callable[..., Cluster]
NODES = ["n1", "n2", "n3"]
KEYS = ["x", "y", "z"]
CLIENTS = 4
RUN_S = 16.0  # 8 faults; the seeded simulation covers thousands more
CHAOS_INTERVAL_S = 2.0
FAULT_S = 1.0
# Longer than a node's own 5 s deadline: the node answers 503 first.
CLIENT_TIMEOUT_S = 8.0
SEED = 20240611


class Recorder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.ops: list[Op] = []
        self.started_s = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.started_s

    def add(self, op: Op) -> None:
        with self._lock:
            self.ops.append(op)


def client(cluster: Cluster, name: str, rng: random.Random, rec: Recorder, stop_s: float) -> None:
    sessions = {node: requests.Session() for node in NODES}
    addrs = {node: cluster.client_addr(node) for node in NODES}
    count = 0
    while rec.now() < stop_s:
        node = rng.choice(NODES)
        key = rng.choice(KEYS)
        url = f"http://{addrs[node]}/kv/{key}"
        invoke = rec.now()
        if rng.random() < 0.6:
            count += 1
            value = f"{name}-{count}"
            try:
                response = sessions[node].put(url, data=value, timeout=CLIENT_TIMEOUT_S)
                outcome = "ok" if response.status_code == 200 else "unknown"
                assert response.status_code in (200, 503), response.text
            except requests.RequestException:
                outcome = "unknown"
            rec.add(Op(name, "put", key, invoke, rec.now(), outcome, value.encode()))
        else:
            try:
                response = sessions[node].get(
                    url, params={"consistency": "linearizable"}, timeout=CLIENT_TIMEOUT_S
                )
            except requests.RequestException:
                continue  # an unanswered read observed nothing
            if response.status_code == 200:
                output: bytes | None = response.json()["value"].encode()
            elif response.status_code == 404:
                output = None
            else:
                assert response.status_code == 503, response.text
                continue
            rec.add(Op(name, "get", key, invoke, rec.now(), "ok", output=output))


def chaos(
    cluster: Cluster, rng: random.Random, rec: Recorder, stop_s: float, log: list[str]
) -> None:
    launcher = cluster.launcher
    while rec.now() < stop_s - FAULT_S:
        time.sleep(CHAOS_INTERVAL_S)
        node = rng.choice(NODES)
        if rng.random() < 0.5:
            log.append(f"{rec.now():.1f}s kill {node}")
            launcher.kill(node)
            time.sleep(FAULT_S)
            launcher.restart(node)
        else:
            log.append(f"{rec.now():.1f}s pause {node}")
            launcher.pause(node)
            time.sleep(FAULT_S)
            launcher.resume(node)


def test_concurrent_clients_under_kills_and_pauses_see_a_linearizable_history(
    start_cluster: StartCluster,
) -> None:
    cluster = start_cluster(nodes=3)
    leader = wait_leader(cluster, NODES)
    for key in KEYS:  # the checker then knows every key's starting value
        put_ok(cluster, leader, key, "initial")
    rng = random.Random(SEED)
    rec = Recorder()
    faults: list[str] = []
    threads = [
        threading.Thread(
            target=client, args=(cluster, f"c{i}", random.Random(rng.random()), rec, RUN_S)
        )
        for i in range(CLIENTS)
    ]
    threads.append(
        threading.Thread(
            target=chaos, args=(cluster, random.Random(rng.random()), rec, RUN_S, faults)
        )
    )
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(RUN_S + 4 * CLIENT_TIMEOUT_S)
    assert not any(t.is_alive() for t in threads), "a client or the chaos thread hung"

    ops = rec.ops
    done = [op for op in ops if op.outcome == "ok"]
    unknown = [op for op in ops if op.outcome == "unknown"]
    print(f"faults: {faults}")
    print(f"{len(ops)} operations: {len(done)} ok, {len(unknown)} unknown")
    assert faults, "the chaos thread injected no fault"
    assert len([op for op in done if op.kind == "put"]) >= 20, "too little progress"
    assert len([op for op in done if op.kind == "get"]) >= 10, "too few reads"
    result = check(ops, initial=b"initial")
    assert result.ok, f"{result.verdict} on key {result.key}:\n{result.explanation}"
