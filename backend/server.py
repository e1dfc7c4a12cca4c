"""Serving the app on a socket we bind ourselves.

``socketio.run()`` would start the same Werkzeug server (threading mode) or
eventlet's WSGI server, but only after it had bound the port, so run.py could
neither print the real port chosen for ``--port 0`` nor refuse a busy port
before any node process exists. Binding first gives both.
"""

from __future__ import annotations

import logging
import socket
from typing import Any, Protocol

from flask import Flask
from werkzeug.serving import make_server

from backend.keepalive import KeepAliveRequestHandler

# Pending connections while every request thread is busy: a class of browsers
# reconnecting at once after run.py restarts.
LISTEN_BACKLOG = 128


class BoundServer(Protocol):
    port: int

    def serve_forever(self) -> None: ...
    def shutdown(self) -> None: ...  # from another thread: makes serve_forever return
    def close(self) -> None: ...


class _WerkzeugServer:
    """Werkzeug's threaded server: one thread per request or WebSocket."""

    def __init__(self, app: Flask, host: str, port: int) -> None:
        # We listen first: Werkzeug would print its own message and exit on a
        # busy port, and run.py wants to say it in one line and stop the nodes.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.create_server((host, port), family=family, backlog=LISTEN_BACKLOG)
        try:
            # Flask-SocketIO's threading mode is this server; its WebSocket
            # transport comes from simple-websocket through ``werkzeug.socket``.
            # HTTP/1.1 keep-alive: see backend/keepalive.py for why and when.
            self._server = make_server(
                host,
                port,
                app,
                threaded=True,
                request_handler=KeepAliveRequestHandler,
                fd=listener.fileno(),
            )
        finally:
            listener.close()  # Werkzeug holds its own duplicate of the socket
        self.port: int = self._server.port  # the real one when 0 was asked for

    def serve_forever(self) -> None:
        self._server.serve_forever()  # returns on KeyboardInterrupt

    def shutdown(self) -> None:
        self._server.shutdown()

    def close(self) -> None:
        self._server.server_close()


class _EventletServer:
    """eventlet's WSGI server, as ``socketio.run`` would start it."""

    def __init__(self, app: Flask, host: str, port: int) -> None:
        import eventlet  # only imported when asked for: see DESIGN.md

        self._app = app
        self._socket: Any = eventlet.listen((host, port))
        self.port = int(self._socket.getsockname()[1])

    def serve_forever(self) -> None:
        import eventlet.wsgi

        eventlet.wsgi.server(self._socket, self._app, log_output=False)

    def shutdown(self) -> None:
        self._socket.close()  # eventlet's server loop ends when its socket does

    def close(self) -> None:
        self._socket.close()


def bind(app: Flask, host: str, port: int, async_mode: str) -> BoundServer:
    """Bind host:port (0 = any free port) for the given async mode; OSError if busy."""
    # one line per HTTP request would bury what run.py prints
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    if async_mode == "eventlet":
        return _EventletServer(app, host, port)
    return _WerkzeugServer(app, host, port)
