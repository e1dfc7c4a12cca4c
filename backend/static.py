"""The dashboard's files: the page, its modules, and two npm libraries.

The front end has no build step: ``frontend/`` is served as it is. Libraries
come from ``frontend/node_modules``, but only the exact files the page loads
are reachable (``VENDOR_FILES``): node_modules holds thousands of files
nobody reviewed, and none of them should be one URL away.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, current_app, send_from_directory

bp = Blueprint("static_files", __name__)

FRONTEND_DIR = Path(__file__).resolve().parent.parent / "frontend"
VENDOR_FILES = frozenset(
    {
        "socket.io-client/dist/socket.io.esm.min.js",
        "d3/dist/d3.min.js",
    }
)


def _frontend_dir() -> Path:
    return Path(current_app.config["CLUSTERLAB_FRONTEND_DIR"])


@bp.get("/")
def index() -> Response:
    return send_from_directory(_frontend_dir(), "index.html", max_age=0)


@bp.get("/static/<path:path>")
def frontend_file(path: str) -> Response:
    if Path(path).parts[:1] == ("node_modules",):
        abort(404)
    # max_age=0: a student who edits a module sees it on the next reload
    return send_from_directory(_frontend_dir(), path, max_age=0)


@bp.get("/vendor/<path:path>")
def vendor_file(path: str) -> Response:
    if path not in VENDOR_FILES:
        abort(404)
    return send_from_directory(_frontend_dir() / "node_modules", path)
