"""Replay a saved history in the dashboard, without a cluster.

    .venv/bin/python -m backend.replay lecture3.jsonl [--port 5000]

A student who missed the lecture, or who wants to look at the election
again at their own pace, needs the recording, not the cluster: this starts
only the dashboard (no node process, no launcher), imports the file exactly
as ``POST /api/history/import`` would, and prints the address. The page
says it is a replay; the timeline plays it back at 1× or slower, and the
other panels follow the playhead. The file is what
``GET /api/history?format=jsonl`` exported.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from backend import create_app, socketio
from backend.history_api import EXTENSION, ReplayShape, replay_shape
from backend.history_import import ImportRefused, read_jsonl
from backend.hub import Hub
from backend.server import bind

EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m backend.replay", description="Replay a saved clusterlab history."
    )
    parser.add_argument("file", help="a JSON-lines history (GET /api/history?format=jsonl)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=5000, help="port (0 picks a free one)")
    parser.add_argument("--token", help="instructor token (default: generated and printed)")
    flags = parser.parse_args(argv)
    path = Path(flags.file)
    try:
        with path.open("rb") as stream:
            records = read_jsonl(stream, path.stat().st_size)
    except OSError as exc:
        print(f"replay: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    except ImportRefused as exc:
        print(f"replay: {path}: {exc.message}", file=sys.stderr)
        return EXIT_USAGE

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    token = flags.token or secrets.token_urlsafe(18)
    hub = Hub(secrets.token_bytes(32), run_id=f"replay of {path.name}")
    app = create_app({"CLUSTERLAB_HUB": hub, "CLUSTERLAB_TOKEN": token})
    hub.history.start_replay(path.name, records, time.time() * 1000.0)
    shape: ReplayShape = app.extensions[EXTENSION]
    shape.nodes, shape.links = replay_shape(records)
    try:
        server = bind(app, flags.host, flags.port, "threading")
    except OSError as exc:
        where = f"{flags.host}:{flags.port}"
        print(f"replay: cannot listen on {where}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    hub.start_fanout(socketio)
    print(f"clusterlab replay: {len(records)} events from {path}", flush=True)
    print(f"  Dashboard: http://{flags.host}:{server.port}/", flush=True)
    print(f"  Token:     {token}", flush=True)
    print("Ctrl-C to stop.", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        hub.stop()
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
