"""The instructor token: who may break the cluster.

Anyone on the network may watch the dashboard; only someone holding the token
printed by run.py may kill, pause or slow nodes. The token travels in an
``Authorization: Bearer <token>`` header (never in a URL, where it would land
in logs and browser history) and is compared in constant time so its bytes
cannot be guessed one by one from response times.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from flask import request

from backend.errors import ApiError
from backend.services import services

P = ParamSpec("P")
R = TypeVar("R")

BEARER_PREFIX = "Bearer "


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if there is one."""
    if not header or not header.startswith(BEARER_PREFIX):
        return None
    token = header[len(BEARER_PREFIX) :].strip()
    return token or None


def token_matches(presented: str | None, expected: str) -> bool:
    # An empty expected token would let an empty header in; refuse instead.
    if not presented or not expected:
        return False
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


def check_token() -> None:
    """Raise a 401 unless the current request carries the instructor token."""
    presented = bearer_token(request.headers.get("Authorization"))
    if presented is None:
        raise ApiError(401, "this action needs the instructor token (Authorization: Bearer ...)")
    if not token_matches(presented, services().token):
        raise ApiError(401, "wrong instructor token")


def require_token(view: Callable[P, R]) -> Callable[P, R]:
    """Decorator for routes that change the cluster."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        check_token()
        return view(*args, **kwargs)

    return wrapper
