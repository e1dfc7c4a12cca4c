"""What the server does when a browser's Socket.IO connection opens, and what it says.

A browser that connects late (or reconnects after run.py restarted) must not
wait for the next change to see the cluster: it gets the whole view at once,
and only it does; everyone else already has it.

A page is a read-only viewer until it presents the instructor token, either
in the Socket.IO handshake (``auth: {"token": ...}``) or later with an
``instructor`` event (the page's *Unlock controls*). The token decides only
which stream the page gets (backend/hub.py: the full one, or the viewers'
sample); every action still checks it on its own REST request.

Acknowledgements (``events_ack``) are the one message that comes often: every
page acknowledges every batch, 1,250 a second from fifty viewers. They are
handled on python-socketio's server directly (``register_acks``), without a
Flask request context, and every handler here runs on its connection's own
thread (``async_handlers=False`` in ``create_app``), not on a new thread per
message: measured with fifty viewers, a thread and a request context per
acknowledgement were most of the backend's CPU per viewer, for decrementing
one counter.
"""

from __future__ import annotations

from flask import request
from flask_socketio import SocketIO, emit

from backend.auth import token_matches
from backend.hub import Hub
from backend.services import services


def register(socketio: SocketIO) -> None:
    def on_connect(auth: object = None) -> None:
        hub = services().hub

        def greet() -> None:
            emit("view", hub.view.to_dict())
            emit("stats", hub.stats())

        # the view is sent before the page joins a stream, so no batch overtakes it
        hub.browser_connected(_sid(), instructor=_presents_token(auth), greet=greet)

    def on_disconnect(*_reason: object) -> None:
        services().hub.browser_disconnected(_sid())

    def on_instructor(token: object = None) -> dict[str, bool]:
        # A wrong or empty token makes the page a viewer again (the page's *Lock*).
        instructor = _presents_token(token)
        services().hub.set_instructor(_sid(), instructor)
        return {"instructor": instructor}  # the Socket.IO acknowledgement, if asked for

    # registered by call, not decorator: flask_socketio is untyped
    socketio.on_event("connect", on_connect)
    socketio.on_event("disconnect", on_disconnect)
    socketio.on_event("instructor", on_instructor)


def register_acks(socketio: SocketIO, hub: Hub) -> None:
    """Count ``events_ack`` for ``hub``; after ``socketio.init_app`` (which makes the server)."""

    def on_events_ack(sid: str, *_seq: object) -> None:
        # flow control: the hub sends a page no more than it has handled (backend/audience.py)
        hub.browser_acked(sid)

    socketio.server.on("events_ack", on_events_ack, namespace="/")


def _presents_token(credentials: object) -> bool:
    """Whether ``credentials`` (the token, or ``{"token": ...}``) is the instructor token."""
    if isinstance(credentials, dict):
        credentials = credentials.get("token")
    presented = credentials if isinstance(credentials, str) else None
    return token_matches(presented, services().token)


def _sid() -> str:
    sid: str = request.sid  # type: ignore[attr-defined]  # set by Flask-SocketIO
    return sid
