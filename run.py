"""The one entry point: ``python run.py`` starts a real cluster and its dashboard.

It reads the settings (built-in defaults, then ``--config FILE``, then flags),
starts the hub that collects telemetry, spawns one process per node through
the launcher, and serves the dashboard until Ctrl-C or SIGTERM. Whatever way
it ends, no node process outlives it: a normal stop or a crash stops the
nodes here (signal handlers, ``finally``, ``atexit``), and if run.py itself is
SIGKILLed the kernel kills them (``PR_SET_PDEATHSIG``, set by the launcher).

Everything else lives in the packages; this file only parses and wires.
"""

from __future__ import annotations

import argparse
import atexit
import os
import secrets
import signal
import sys
import tempfile
import threading
import webbrowser
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from cluster.config import (
    ASYNC_MODES,
    MAX_NODES,
    ROUTING_PROTOCOLS,
    TOPOLOGY_NAMES,
    ClusterConfig,
    ConfigError,
    load_toml,
)

EXIT_USAGE = 2  # bad flags or settings, as argparse and most Unix tools do
EXIT_FAILURE = 1
HUB_HOST = "127.0.0.1"  # telemetry never leaves the machine


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # one line, not argparse's usage block: the message is the point
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def parse_flags(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = _Parser(
        prog="run.py",
        description="Start a clusterlab: real node processes and the dashboard.",
        epilog="Settings come from built-in defaults, then --config FILE, then these flags.",
    )
    # default=None everywhere: only flags actually given override the config file
    parser.add_argument("--nodes", type=int, help=f"number of nodes, 1..{MAX_NODES} (default 5)")
    parser.add_argument("--host", help="dashboard address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, help="dashboard port (default 5000; 0 picks a free port)"
    )
    parser.add_argument(
        "--no-browser", action="store_true", default=None, help="do not open a browser"
    )
    parser.add_argument("--token", help="instructor token (default: generated and printed)")
    parser.add_argument(
        "--data-dir", help="where the nodes keep their data (default: a new temp directory)"
    )
    parser.add_argument("--config", metavar="FILE", help="TOML file with settings")
    parser.add_argument(
        "--time-scale", type=float, metavar="X", help="stretch every timer by X (10 = 10x slower)"
    )
    parser.add_argument(
        "--async-mode", choices=ASYNC_MODES, help="Flask-SocketIO server mode (default threading)"
    )
    parser.add_argument(
        "--topology",
        choices=TOPOLOGY_NAMES,
        help="network preset (default mesh; custom = the config file's [[links]])",
    )
    parser.add_argument(
        "--seed", type=int, help="seed of the random topology and of link loss (default 0)"
    )
    parser.add_argument(
        "--routing", choices=ROUTING_PROTOCOLS, help="routing protocol (default link-state)"
    )
    return parser.parse_args(argv)


def build_config(flags: argparse.Namespace) -> ClusterConfig:
    """Defaults, then the TOML file, then flags; ConfigError names what is wrong."""
    config = ClusterConfig()
    if flags.config:
        config = config.merged(load_toml(flags.config))
    overrides: dict[str, Any] = {
        "nodes": flags.nodes,
        "host": flags.host,
        "port": flags.port,
        "token": flags.token,
        "data_dir": flags.data_dir,
        "time_scale": flags.time_scale,
        "async_mode": flags.async_mode,
        "topology": flags.topology,
        "seed": flags.seed,
        "routing": flags.routing,
        "open_browser": False if flags.no_browser else None,
    }
    return config.merged({k: v for k, v in overrides.items() if v is not None}).validate()


def prepare_data_dir(config: ClusterConfig) -> Path:
    if not config.data_dir:
        return Path(tempfile.mkdtemp(prefix="clusterlab-"))
    path = Path(config.data_dir).expanduser().resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"data_dir {path} cannot be created: {exc.strerror}") from exc
    return path


def has_display(env: Mapping[str, str], platform: str = sys.platform) -> bool:
    """Whether opening a browser can work here (not CI, not a headless server)."""
    if env.get("CI"):
        return False
    if platform in ("darwin", "win32"):
        return True  # their desktops do not announce themselves in DISPLAY
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def dashboard_url(host: str, port: int) -> str:
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"  # listening everywhere; this machine can use loopback
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


def network_summary(config: ClusterConfig) -> str:
    """One line: which topology and routing protocol the run uses."""
    kind = "directed " if config.directed else ""
    name = "custom" if config.links else config.topology
    return f"{kind}{name} topology, {config.routing} routing, seed {config.seed}"


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # The same path as Ctrl-C: unwind to main()'s finally, which stops the nodes.
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config = build_config(parse_flags(argv))
    except ConfigError as exc:
        print(f"run.py: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if config.async_mode == "eventlet":
        try:
            import eventlet
        except ImportError:
            print(
                "run.py: error: --async-mode eventlet needs eventlet; "
                "install it with: .venv/bin/pip install -e '.[eventlet]'",
                file=sys.stderr,
            )
            return EXIT_USAGE
        # before anything below imports socket or threading
        eventlet.monkey_patch()
    try:
        data_dir = prepare_data_dir(config)
    except ConfigError as exc:
        print(f"run.py: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return serve(config, data_dir)


def serve(config: ClusterConfig, data_dir: Path) -> int:
    # Imported here, not at the top, so that eventlet (when chosen) has
    # patched the standard library before these modules bind to it.
    import logging

    from backend import create_app, socketio
    from backend.hub import Hub
    from backend.server import BoundServer, bind
    from cluster.launcher import Launcher

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    run_id = secrets.token_hex(4)
    secret = secrets.token_bytes(32)
    token = config.token or secrets.token_urlsafe(18)
    hub = Hub(secret, run_id=run_id, time_scale=config.time_scale)
    launcher: Launcher | None = None
    server: BoundServer | None = None
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        hub.start()
        launcher = Launcher(config, data_dir, secret, run_id, HUB_HOST, hub.port)
        atexit.register(launcher.stop)  # also when something below raises
        app = create_app(
            {
                "CLUSTERLAB_HUB": hub,
                "CLUSTERLAB_LAUNCHER": launcher,
                "CLUSTERLAB_TOKEN": token,
                "CLUSTERLAB_CLUSTER": config,
                "CLUSTERLAB_ASYNC_MODE": config.async_mode,
            }
        )
        try:
            server = bind(app, config.host, config.port, config.async_mode)
        except OSError as exc:
            print(
                f"run.py: error: cannot listen on {config.host}:{config.port}: {exc.strerror}; "
                "choose another --port (0 picks a free one)",
                file=sys.stderr,
            )
            return EXIT_FAILURE
        launcher.subscribe(hub.on_status)
        launcher.start()
        for status in launcher.status():
            hub.on_status(status)
        hub.start_fanout(socketio)

        url = dashboard_url(config.host, server.port)
        print(f"clusterlab: {config.nodes} nodes, run {run_id}", flush=True)
        print(f"  Network:   {network_summary(config)}", flush=True)
        print(f"  Dashboard: {url}", flush=True)
        print(f"  Token:     {token}", flush=True)
        print(f"  Data dir:  {data_dir}", flush=True)
        print(f"  CLI:       export CLUSTERLAB_URL={url.rstrip('/')} CLUSTERLAB_TOKEN={token}")
        print("Ctrl-C to stop.", flush=True)
        if config.open_browser and has_display(os.environ):
            threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        # A second Ctrl-C must not cut the clean-up short and leave nodes behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("clusterlab: stopping the nodes...", flush=True)
        if launcher is not None:
            launcher.stop()
        hub.stop()
        if server is not None:
            server.close()
    print("clusterlab: stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
