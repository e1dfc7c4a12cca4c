"""The lessons and chaos REST API: who may drive it, and what it refuses.

No node process here (tests/integration/test_lessons_run.py plays every
lesson on real ones): these check the listing, the token, the refusals a
client meets (unknown lesson, no lesson loaded, bad seed) and that a chaos
preview is a pure function of its seed on the app's real routes.
"""

from __future__ import annotations

from backend_testkit import auth
from flask import Flask

from backend.lessons.scenario import load_all


def test_the_lessons_are_listed_in_course_order(app: Flask) -> None:
    listed = app.test_client().get("/api/scenarios").get_json()
    assert [entry["name"] for entry in listed] == [s.name for s in load_all()]
    first = listed[0]
    assert {"name", "title", "summary", "concepts", "steps", "requires"} <= set(first)


def test_nothing_is_loaded_at_first(app: Flask) -> None:
    state = app.test_client().get("/api/scenarios/current").get_json()
    assert state["status"] == "idle"
    assert state["scenario"] is None


def test_every_lesson_command_needs_the_token(app: Flask) -> None:
    client = app.test_client()
    for path in ("/api/scenarios/leader_crash/run", "/api/scenarios/current/next",
                 "/api/scenarios/current/play", "/api/scenarios/current/reset", "/api/chaos"):
        answer = client.post(path, json={})
        assert answer.status_code == 401, path
        answer = client.post(path, json={}, headers=auth("wrong"))
        assert answer.status_code == 401, path


def test_an_unknown_lesson_is_refused_with_the_list(app: Flask) -> None:
    answer = app.test_client().post("/api/scenarios/leader_crsh/run", json={}, headers=auth())
    assert answer.status_code == 404
    assert "leader_crash" in answer.get_json()["error"]


def test_steps_need_a_loaded_lesson(app: Flask) -> None:
    client = app.test_client()
    for command in ("next", "play", "reset"):
        answer = client.post(f"/api/scenarios/current/{command}", json={}, headers=auth())
        assert answer.status_code == 409
        assert "no lesson is loaded" in answer.get_json()["error"]


def test_bad_run_options_are_refused(app: Flask) -> None:
    answer = app.test_client().post(
        "/api/scenarios/leader_crash/run", json={"play": "yes"}, headers=auth()
    )
    assert answer.status_code == 400
    assert "play must be true or false" in answer.get_json()["error"]


def test_a_chaos_preview_depends_only_on_the_seed(app: Flask) -> None:
    client = app.test_client()
    first = client.get("/api/chaos?seed=9&duration_s=30").get_json()
    again = client.get("/api/chaos?seed=9&duration_s=30").get_json()
    other = client.get("/api/chaos?seed=10&duration_s=30").get_json()
    assert first["preview"] is True
    assert first["schedule"] == again["schedule"]
    assert first["schedule"] != other["schedule"]
    nodes = {n for e in first["schedule"] for n in e["targets"]}
    assert nodes <= {"n1", "n2", "n3"}, "the schedule uses this cluster's nodes"
    assert first["schedule"][-1]["fault"] == {"action": "heal", "links": True}
    # nothing ran
    assert client.get("/api/chaos").get_json()["on"] is False


def test_bad_chaos_requests_are_refused_with_a_reason(app: Flask) -> None:
    client = app.test_client()
    answer = client.post("/api/chaos", json={"seed": -1}, headers=auth())
    assert answer.status_code == 400
    assert "seed" in answer.get_json()["error"]
    answer = client.post("/api/chaos", json={"seed": 1, "duration_s": 0}, headers=auth())
    assert answer.status_code == 400
    assert "duration_s" in answer.get_json()["error"]
    answer = client.post("/api/chaos", json={"seed": 1, "kinds": ["meteor"]}, headers=auth())
    assert answer.status_code == 400
    assert "kinds" in answer.get_json()["error"]
    answer = client.post("/api/chaos", json={"on": False}, headers=auth())
    assert answer.status_code == 409
    assert "not running" in answer.get_json()["error"]
    assert client.get("/api/chaos?seed=abc").status_code == 400
