"""JSON errors for the REST API.

A browser page and the ``clusterlab`` command line both show the backend's
answer to a person, so every failure under ``/api/`` is a small JSON object
``{"error": "<one sentence>"}`` with the right status code, never an HTML
error page or a stack trace. Route code raises ``ApiError``; the handlers
registered here turn it (and Flask's own 404/405) into that shape.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException


class ApiError(Exception):
    """A request the API refuses; ``message`` is shown to the user as is."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def json_object() -> dict[str, Any]:
    """The request body as a JSON object, or a 400 saying what was wrong with it."""
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "expected a JSON object body with Content-Type: application/json")
    if not isinstance(body, dict):
        raise ApiError(400, f"expected a JSON object body, got {type(body).__name__}")
    return body


def _api_error(exc: ApiError) -> tuple[Response, int]:
    response = jsonify({"error": exc.message})
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response, exc.status


def _http_error(exc: HTTPException) -> Response | HTTPException:
    # Only the API speaks JSON; static pages keep Flask's plain errors.
    if not request.path.startswith("/api/"):
        return exc
    response = jsonify({"error": exc.description or exc.name})
    response.status_code = exc.code or 500
    return response


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
