"""The dashboard's server: a Flask app with REST blueprints and Socket.IO.

``create_app(config)`` builds the app the way Flask's tutorial does
(application factory, blueprints registered inside, one module-level
``socketio`` bound with ``init_app``), so tests can build as many apps as they
like, each with its own hub and token.

Config keys (all optional; ``create_app()`` alone gives a watch-only app):

    CLUSTERLAB_HUB          a ``backend.hub.Hub`` (default: a new, unstarted one)
    CLUSTERLAB_LAUNCHER     the ``cluster.launcher.Launcher`` (default: None)
    CLUSTERLAB_TOKEN        the instructor token ("" refuses every token)
    CLUSTERLAB_CLUSTER      the run's ``ClusterConfig``
    CLUSTERLAB_ASYNC_MODE   "threading" (default) or "eventlet"
    CLUSTERLAB_FRONTEND_DIR where index.html and the modules are

The app does not start anything: whoever owns the hub calls ``hub.start()``
(telemetry TCP) and ``hub.start_fanout(socketio)`` (pushes to browsers) and
later ``hub.stop()`` (run.py does; so do the tests' fixtures).

Later issues add their REST API as new blueprint modules listed in
``BLUEPRINTS``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask_socketio import SocketIO

from backend import (
    api,
    chaos_api,
    control,
    faults,
    files_api,
    history_api,
    hold_api,
    kv_api,
    lessons_api,
    socket_events,
    static,
    topology_api,
)
from backend.errors import register_error_handlers
from backend.hub import Hub
from backend.packet import JsonOnlyPacket
from backend.services import EXTENSION_KEY, Services
from cluster.config import ClusterConfig

socketio = SocketIO()
socket_events.register(socketio)

BLUEPRINTS = (
    api.bp,
    faults.bp,
    control.bp,
    topology_api.bp,
    kv_api.bp,
    files_api.bp,  # after kv_api: it shares the KV gateway's node choice and connections
    hold_api.bp,
    lessons_api.bp,
    chaos_api.bp,
    history_api.bp,  # after the blueprints whose view decorators it may override
    static.bp,
)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__, static_folder=None)  # static.py serves the front end
    app.config.from_mapping(
        CLUSTERLAB_HUB=None,
        CLUSTERLAB_LAUNCHER=None,
        CLUSTERLAB_TOKEN="",
        CLUSTERLAB_CLUSTER=None,
        CLUSTERLAB_ASYNC_MODE="threading",
        CLUSTERLAB_FRONTEND_DIR=str(static.FRONTEND_DIR),
    )
    if config:
        app.config.update(config)

    cluster = app.config["CLUSTERLAB_CLUSTER"] or ClusterConfig()
    hub = app.config["CLUSTERLAB_HUB"] or Hub(
        secrets.token_bytes(32), time_scale=cluster.time_scale
    )
    app.extensions[EXTENSION_KEY] = Services(
        hub=hub,
        launcher=app.config["CLUSTERLAB_LAUNCHER"],
        token=app.config["CLUSTERLAB_TOKEN"],
        cluster=cluster,
    )

    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    register_error_handlers(app)

    # async_mode is explicit: auto-detection would pick eventlet whenever it
    # happens to be installed (DESIGN.md).
    socketio.init_app(
        app,
        async_mode=app.config["CLUSTERLAB_ASYNC_MODE"],
        serializer=JsonOnlyPacket,
        # Socket.IO handlers are quick and run on their connection's own
        # thread, not on a new one per message (backend/socket_events.py).
        async_handlers=False,
    )
    socket_events.register_acks(socketio, hub)
    return app
