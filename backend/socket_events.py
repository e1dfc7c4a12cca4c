"""What the server does when a browser's Socket.IO connection opens.

A browser that connects late (or reconnects after run.py restarted) must not
wait for the next change to see the cluster: it gets the whole view at once,
and only it does; everyone else already has it.
"""

from __future__ import annotations

from flask import request
from flask_socketio import SocketIO, emit

from backend.services import services


def register(socketio: SocketIO) -> None:
    def on_connect() -> None:
        hub = services().hub
        hub.browser_connected(_sid())
        emit("view", hub.view.to_dict())
        emit("stats", hub.stats())

    def on_disconnect(*_reason: object) -> None:
        services().hub.browser_disconnected(_sid())

    def on_events_ack(*_seq: object) -> None:
        # flow control: the hub sends a page no more than it has handled (hub.py)
        services().hub.browser_acked(_sid())

    # registered by call, not decorator: flask_socketio is untyped
    socketio.on_event("connect", on_connect)
    socketio.on_event("disconnect", on_disconnect)
    socketio.on_event("events_ack", on_events_ack)


def _sid() -> str:
    sid: str = request.sid  # type: ignore[attr-defined]  # set by Flask-SocketIO
    return sid
