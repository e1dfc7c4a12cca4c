"""Read-only viewers: without the instructor token nothing under /api/ changes anything.

The dashboard is watched by a room of students on the same network as the
instructor. Hiding the buttons is not enough (anyone can send a request), so
every state-changing route must refuse a request without the token. These
tests do not list the routes: they walk ``app.url_map``, so a route added
tomorrow by anyone is checked too, and a forgotten ``@require_token`` fails
here before it reaches a classroom.
"""

from __future__ import annotations

import re
from typing import Any

from backend_testkit import StandInLauncher, auth
from flask import Flask
from werkzeug.routing import Rule

from backend.hub import Hub

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The one GET that exists to answer 401: the page's token check.
TOKEN_CHECK = "/api/auth/check"
# Enough routes that a walk finding none (a broken url_map) cannot pass.
MIN_CHANGING_ROUTES = 8


def _url(rule: Rule) -> str:
    """The rule with every <argument> filled in by a plausible value."""
    def value(match: re.Match[str]) -> str:
        return "k" if match.group(1) == "key" else "n1"

    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", value, rule.rule)


def _api_rules(app: Flask) -> list[Rule]:
    return [r for r in app.url_map.iter_rules() if r.rule.startswith("/api/")]


def _changing(app: Flask) -> list[tuple[str, str]]:
    found = []
    for rule in _api_rules(app):
        for method in sorted((rule.methods or set()) - READ_METHODS):
            found.append((method, _url(rule)))
    return found


def _send(app: Flask, method: str, url: str, **kwargs: Any) -> Any:
    return app.test_client().open(url, method=method, json={"node": "n1"}, **kwargs)


def test_every_state_changing_api_route_refuses_a_request_without_the_token(
    app: Flask, launcher: StandInLauncher, hub: Hub
) -> None:
    routes = _changing(app)
    assert len(routes) >= MIN_CHANGING_ROUTES, f"only found {routes}"
    marks_before = hub.history.summary()["events"]
    open_routes = []
    for method, url in routes:
        reply = _send(app, method, url)
        if reply.status_code != 401:
            open_routes.append(f"{method} {url} → {reply.status_code}")
        else:
            assert "token" in reply.get_json()["error"]
    assert not open_routes, "state-changing routes that answer without the token:\n" + "\n".join(
        open_routes
    )
    # refused before doing anything: no process touched, nothing marked on the timeline
    assert launcher.calls == []
    assert hub.history.summary()["events"] == marks_before


def test_a_wrong_token_is_refused_by_every_state_changing_route(app: Flask) -> None:
    for method, url in _changing(app):
        reply = _send(app, method, url, headers=auth("not-the-token"))
        assert reply.status_code == 401, f"{method} {url} accepted a wrong token"


def test_reading_stays_open_to_everyone(app: Flask) -> None:
    refused = []
    for rule in _api_rules(app):
        if "GET" not in (rule.methods or set()) or rule.rule == TOKEN_CHECK:
            continue
        reply = app.test_client().get(_url(rule))
        if reply.status_code == 401:
            refused.append(rule.rule)
    assert not refused, f"GET routes that ask for the token: {refused}"


def test_the_walk_covers_the_routes_the_issue_names(app: Flask) -> None:
    # If one of these disappeared from the url_map, the walk above would
    # silently check less than it claims.
    routes = {(m, u) for m, u in _changing(app)}
    for expected in [
        ("POST", "/api/faults"),
        ("POST", "/api/time-scale"),
        ("POST", "/api/members"),
        ("PUT", "/api/kv/k"),
        ("DELETE", "/api/kv/k"),
        ("PUT", "/api/topology"),
        ("POST", "/api/trace"),
        ("POST", "/api/history/import"),
    ]:
        assert expected in routes, f"{expected} is not in the url_map"
