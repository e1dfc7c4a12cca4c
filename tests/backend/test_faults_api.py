"""POST /api/faults: who may break the cluster, and what a bad request gets.

The launcher here is the validation-only stand-in (conftest.StandInLauncher):
these tests check the gate in front of it. What a real kill does to a real
process is checked in tests/integration/test_run.py.
"""

from __future__ import annotations

from backend_testkit import TOKEN, StandInLauncher, auth
from flask import Flask


def test_a_fault_without_a_token_is_refused(app: Flask, launcher: StandInLauncher) -> None:
    reply = app.test_client().post("/api/faults", json={"action": "kill", "node": "n2"})
    assert reply.status_code == 401
    assert "token" in reply.get_json()["error"]
    assert reply.headers["WWW-Authenticate"] == "Bearer"
    assert launcher.calls == []


def test_a_fault_with_a_wrong_token_is_refused(app: Flask, launcher: StandInLauncher) -> None:
    client = app.test_client()
    for header in (auth(TOKEN + "x"), auth(TOKEN[:-1]), {"Authorization": TOKEN},
                   {"Authorization": "Bearer "}):
        reply = client.post("/api/faults", json={"action": "kill", "node": "n2"}, headers=header)
        assert reply.status_code == 401, header
        assert reply.get_json()["error"]
    assert launcher.calls == []


def test_the_token_is_checked_before_the_body(app: Flask) -> None:
    reply = app.test_client().post("/api/faults", data="not json")
    assert reply.status_code == 401


def test_an_unknown_node_is_a_400_that_names_the_nodes(
    app: Flask, launcher: StandInLauncher
) -> None:
    reply = app.test_client().post(
        "/api/faults", json={"action": "kill", "node": "n9"}, headers=auth()
    )
    assert reply.status_code == 400
    error = reply.get_json()["error"]
    assert "n9" in error and "n1, n2, n3" in error
    assert launcher.calls == []


def test_an_unknown_action_is_a_400_that_lists_the_actions(
    app: Flask, launcher: StandInLauncher
) -> None:
    reply = app.test_client().post(
        "/api/faults", json={"action": "explode", "node": "n2"}, headers=auth()
    )
    assert reply.status_code == 400
    error = reply.get_json()["error"]
    assert "explode" in error and "kill, restart, pause, resume" in error
    assert launcher.calls == []


def test_malformed_bodies_are_400s(app: Flask, launcher: StandInLauncher) -> None:
    client = app.test_client()
    bad = [
        {"data": "{not json", "content_type": "application/json"},
        {"data": "kill n2", "content_type": "text/plain"},
        {"json": ["kill", "n2"]},
        {"json": {"action": "kill"}},
        {"json": {"action": "kill", "node": 2}},
    ]
    for kwargs in bad:
        reply = client.post("/api/faults", headers=auth(), **kwargs)  # type: ignore[arg-type]
        assert reply.status_code == 400, kwargs
        assert reply.is_json and reply.get_json()["error"], kwargs
    assert launcher.calls == []


def test_a_launcher_refusal_is_a_400_with_its_message(
    app: Flask, launcher: StandInLauncher
) -> None:
    launcher.down.add("n3")
    reply = app.test_client().post(
        "/api/faults", json={"action": "pause", "node": "n3"}, headers=auth()
    )
    assert reply.status_code == 400
    assert reply.get_json() == {"error": "n3 is down; restart it instead of pausing it"}


def test_a_valid_fault_passes_the_gate_and_reaches_the_launcher(
    app: Flask, launcher: StandInLauncher
) -> None:
    reply = app.test_client().post(
        "/api/faults", json={"action": "kill", "node": "n2"}, headers=auth()
    )
    assert reply.status_code == 200
    body = reply.get_json()
    assert body["ok"] is True
    assert launcher.calls == [("kill", "n2")]
    # the reply shows the node as the launcher reported it, in the view's shape
    assert body["node"]["id"] == "n2"
    assert body["node"]["state"] == "down"
    assert set(body["node"]) >= {"id", "state", "pid", "addr", "client_addr", "rtt_ms", "counters"}


def test_auth_check(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/api/auth/check", headers=auth()).status_code == 200
    assert client.get("/api/auth/check", headers=auth("guess")).status_code == 401
    assert client.get("/api/auth/check").status_code == 401


def test_unknown_api_paths_answer_json(app: Flask) -> None:
    reply = app.test_client().get("/api/nothing-here")
    assert reply.status_code == 404
    assert reply.get_json()["error"]
    reply = app.test_client().get("/api/faults")
    assert reply.status_code == 405
    assert reply.get_json()["error"]
