"""Hold-and-step on a real cluster: a write waits, one chosen message moves it on.

``run.py --nodes 3`` for real. With delivery held, a KV write reaches the
leader's log but its AppendEntries wait in the leader's hold queue, so
nothing commits. Delivering exactly one of them moves exactly that message:
the chosen follower receives it (its log grows, the hub saw the frame
arrive) and the other follower receives nothing; the follower's reply is
then held in *its* queue, so the leader still cannot commit. Releasing
everything lets the leader commit; turning hold off lets every node apply.

Every process is stopped by pid in a ``finally`` (bench.run_process.RunPy).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from bench.run_process import RunPy
from bench.run_process import wait_for as poll_until
from cluster.schema.raft import RAFT_MESSAGE_TYPES

pytestmark = pytest.mark.integration

NODES = 3
START_DEADLINE_S = 90.0
STEP_DEADLINE_S = 20.0
HTTP_TIMEOUT_S = 15.0
# The client's write waits for its commit; held, it times out (503) first.
WRITE_TIMEOUT_S = 60.0
RAFT_KINDS = {t.__name__ for t in RAFT_MESSAGE_TYPES}


def wait_for(condition: Callable[[], Any], what: str, deadline_s: float = STEP_DEADLINE_S) -> Any:
    return poll_until(condition, what, deadline_s)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[RunPy]:
    run = RunPy(NODES, tmp_path / "data")
    try:
        run.start()
        run.wait_all_up(START_DEADLINE_S)
        yield run
    finally:
        survivors = run.stop()
        assert not survivors, f"node processes outlived run.py: {survivors}"


def post(run: RunPy, path: str, body: dict[str, Any], token: bool = True) -> requests.Response:
    headers = {"Authorization": f"Bearer {run.token}"} if token else {}
    return requests.post(
        run.url + path.lstrip("/"), json=body, headers=headers, timeout=HTTP_TIMEOUT_S
    )


def nodes(run: RunPy) -> dict[str, dict[str, Any]]:
    return {n["id"]: n for n in run.cluster()["nodes"]}


def held(run: RunPy) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = run.get("/api/held")["messages"]
    return messages


def received(run: RunPy, src: str, seq: int) -> list[str]:
    """The nodes at which the hub saw message ``src#seq`` arrive."""
    events = run.get("/api/events?limit=20000")["events"]
    return [
        e["node"]
        for e in events
        if e["type"] == "MsgReceived" and e["src"] == src and e["seq"] == seq
    ]


def test_hold_then_deliver_one_chosen_message_then_release(lab: RunPy) -> None:
    run = lab
    leader = wait_for(lambda: run.cluster()["leader"], "a leader")
    # A settled cluster: every follower knows the leader and matches its log.
    wait_for(
        lambda: len({(n["leader_hint"], n["log_length"]) for n in nodes(run).values()}) == 1,
        "every node to follow the leader with the same log",
    )
    first, second = sorted(n for n in nodes(run) if n != leader)

    # Holding needs the instructor token, and says what is wrong with a bad body.
    assert post(run, "/api/hold", {"on": True}, token=False).status_code == 401
    bad = post(run, "/api/hold", {"on": "yes"})
    assert bad.status_code == 400 and "on must be true or false" in bad.json()["error"]
    answer = post(run, "/api/hold", {"on": True})
    assert answer.status_code == 200, answer.text
    assert sorted(answer.json()["nodes"]) == sorted(nodes(run))
    wait_for(
        lambda: (
            all(n["on"] for n in run.get("/api/held")["nodes"].values())
            and len(run.get("/api/held")["nodes"]) == NODES
        ),
        "every node to report that it holds",
    )
    # Hold reaches the nodes one by one: a heartbeat sent just before (from
    # ticks the leader owed when its clock stopped), or a reply to one, may
    # have been caught. Release until nothing is held, so that the slate is
    # clean: a released heartbeat's replies are held in their turn.
    def released_all() -> bool:
        if held(run) == []:
            return True
        assert post(run, "/api/held/deliver", {"all": True}).status_code == 200
        return False

    wait_for(released_all, "nothing held before the write")
    before = nodes(run)
    commit_before = before[leader]["commit_index"]
    log_before = before[leader]["log_length"]

    # A write to the leader: it enters the leader's log, its AppendEntries are held.
    replies: list[requests.Response] = []
    writer = threading.Thread(
        target=lambda: replies.append(
            requests.put(
                f"{run.url}api/kv/held-key?node={leader}",
                data=b"stepped",
                headers={"Authorization": f"Bearer {run.token}"},
                timeout=WRITE_TIMEOUT_S,
            )
        ),
        daemon=True,
    )
    writer.start()
    try:
        appends = wait_for(
            lambda: (
                (
                    m := [
                        x for x in held(run) if x["node"] == leader and x["type"] == "AppendEntries"
                    ]
                )
                and len(m) == 2
                and m
            ),
            "the leader to hold one AppendEntries per follower",
        )
        assert sorted(m["dst"] for m in appends) == [first, second]
        # Raft's clock is stopped: the leader holds those two and no other Raft
        # message (no heartbeat rounds pile up), and no follower times out.
        time.sleep(1.0)
        raft_held = [(m["node"], m["type"]) for m in held(run) if m["type"] in RAFT_KINDS]
        assert raft_held == [(leader, "AppendEntries")] * 2
        assert all(m["text"].startswith(f"{leader}→") for m in appends)
        now = nodes(run)
        assert now[leader]["log_length"] == log_before + 1
        assert now[leader]["commit_index"] == commit_before, "committed while held"
        assert now[first]["log_length"] == log_before
        assert now[second]["log_length"] == log_before

        # Deliver exactly the AppendEntries for `first`.
        chosen = next(m for m in appends if m["dst"] == first)
        other = next(m for m in appends if m["dst"] == second)
        missing = post(run, "/api/held/deliver", {"node": leader, "id": 999_999})
        assert missing.status_code == 400 and "holds no message" in missing.json()["error"]
        assert (
            post(run, "/api/held/deliver", {"node": leader, "id": chosen["id"]}, False).status_code
            == 401
        )
        step = post(run, "/api/held/deliver", {"node": leader, "id": chosen["id"]})
        assert step.status_code == 200, step.text

        wait_for(lambda: nodes(run)[first]["log_length"] == log_before + 1, f"{first} to append")
        # Its reply is now held at `first`: the leader has not heard it, so no commit.
        reply = wait_for(
            lambda: [
                m for m in held(run) if m["node"] == first and m["type"] == "AppendEntriesReply"
            ],
            f"{first}'s reply to be held",
        )
        assert reply[0]["dst"] == leader
        wait_for(lambda: received(run, leader, chosen["id"]) == [first], "the hub to see it arrive")
        assert received(run, leader, other["id"]) == [], "the message not chosen arrived"
        now = nodes(run)
        assert now[second]["log_length"] == log_before, f"{second} got an entry it was not sent"
        assert now[leader]["commit_index"] == commit_before
        assert [m["id"] for m in held(run) if m["node"] == leader] == [other["id"]]

        # Release everything: the reply reaches the leader, which commits (2 of 3).
        release = post(run, "/api/held/deliver", {"all": True})
        assert release.status_code == 200, release.text
        wait_for(
            lambda: nodes(run)[leader]["commit_index"] >= log_before + 1, "the leader to commit"
        )
        wait_for(
            lambda: received(run, leader, other["id"]) == [second], f"{second} to get its copy"
        )
    finally:
        # Hold off releases whatever the commit produced (the followers learn it).
        assert post(run, "/api/hold", {"on": False}).status_code == 200
        writer.join(WRITE_TIMEOUT_S)

    wait_for(
        lambda: all(n["last_applied"] >= log_before + 1 for n in nodes(run).values()),
        "every node to apply the write",
    )
    wait_for(lambda: held(run) == [], "nothing held any more")
    assert not run.get("/api/held")["on"]
    for node in nodes(run):
        read = requests.get(
            f"{run.url}api/kv/held-key?node={node}&consistency=stale", timeout=HTTP_TIMEOUT_S
        )
        assert read.status_code == 200 and read.json()["value"] == "stepped", read.text
    assert len(replies) == 1  # 200 if the steps were quick, 503 (timeout) otherwise
