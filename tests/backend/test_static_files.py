"""The page, its modules, and only the two whitelisted npm files."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from backend import create_app
from backend.static import FRONTEND_DIR, VENDOR_FILES


def make_app(frontend_dir: Path) -> Flask:
    return create_app({"CLUSTERLAB_FRONTEND_DIR": str(frontend_dir)})


def test_the_page_and_its_modules_are_served(frontend_dir: Path) -> None:
    client = make_app(frontend_dir).test_client()
    page = client.get("/")
    assert page.status_code == 200
    assert b"<title>clusterlab</title>" in page.data
    module = client.get("/static/js/main.js")
    assert module.status_code == 200
    assert "javascript" in module.content_type


def test_only_whitelisted_vendor_files_are_served(frontend_dir: Path) -> None:
    client = make_app(frontend_dir).test_client()
    for rel in sorted(VENDOR_FILES):
        reply = client.get(f"/vendor/{rel}")
        assert reply.status_code == 200, rel
        assert reply.data == f"// {rel}\n".encode()
    for rel in ("d3/package.json", "socket.io-client/dist/socket.io.js", "../index.html"):
        assert client.get(f"/vendor/{rel}").status_code == 404, rel


def test_node_modules_and_files_outside_the_front_end_are_not_reachable(
    frontend_dir: Path,
) -> None:
    client = make_app(frontend_dir).test_client()
    assert client.get("/static/node_modules/d3/package.json").status_code == 404
    assert client.get("/static/../secret.txt").status_code == 404
    assert client.get("/static/%2e%2e/secret.txt").status_code == 404
    assert client.get("/static/js/missing.js").status_code == 404


def test_the_real_vendor_files_exist_when_npm_has_run() -> None:
    # The whitelist must name files the real page loads; a typo would 404 in class.
    modules = FRONTEND_DIR / "node_modules"
    if not modules.is_dir():
        pytest.skip("frontend/node_modules is not installed (make run installs it)")
    for rel in VENDOR_FILES:
        assert (modules / rel).is_file(), rel
