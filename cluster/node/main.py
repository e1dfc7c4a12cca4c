"""Start one node process: read its config and secret, wire the parts, run.

Bad input (a missing or malformed config file, a missing or non-hex secret)
is the user's or the launcher's mistake, not a crash: it gets one line on
stderr and exit status 2, never a stack trace.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cluster.config import ROUTING_PROTOCOLS, SECRET_ENV, ConfigError, FilesConfig, NodeConfig
from cluster.node.clock import TIME_SCALE_MAX, TIME_SCALE_MIN
from cluster.node.fault_commands import FaultCommands
from cluster.node.heartbeat import Heartbeats
from cluster.node.hold import HoldDelivery
from cluster.node.http import HttpServer, Router
from cluster.node.lifecycle import stop_on_signals, watch_parent
from cluster.node.load import LoadGenerator
from cluster.node.memory import keep_freed_memory
from cluster.node.neighbours import NeighbourCommands, neighbour_problems
from cluster.node.node import Node
from cluster.node.raft_setup import raft_tasks, start_raft
from cluster.node.routing import Routing
from cluster.node.status import add_status_route
from cluster.node.trace import Tracer
from cluster.schema.control import SetTimeScale

log = logging.getLogger("cluster.node")

EXIT_BAD_INPUT = 2
EXIT_CANNOT_LISTEN = 1
# HMAC-SHA256 keys shorter than this are guessable; the launcher uses 32.
MIN_SECRET_BYTES = 16


def load_node_config(path: Path) -> NodeConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    try:
        config = NodeConfig.from_json(text)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ConfigError(f"config file {path} is not a valid node config: {exc}") from exc
    return validate_node_config(config)


def validate_node_config(config: NodeConfig) -> NodeConfig:
    def need(ok: bool, message: str) -> None:
        if not ok:
            raise ConfigError(message)

    need(isinstance(config.node, str) and bool(config.node), "node must be a non-empty string")
    need(isinstance(config.run_id, str), "run_id must be a string")
    for name in ("peer_port", "client_port", "hub_port"):
        value: Any = getattr(config, name)
        need(
            isinstance(value, int) and 0 <= value <= 65535,
            f"{name} must be a port number, got {value!r}",
        )
    need(
        isinstance(config.time_scale, int | float)
        and TIME_SCALE_MIN <= config.time_scale <= TIME_SCALE_MAX,
        f"time_scale must be between {TIME_SCALE_MIN} and {TIME_SCALE_MAX}",
    )
    need(
        isinstance(config.heartbeat_interval_ms, int) and config.heartbeat_interval_ms >= 10,
        "heartbeat_interval_ms must be an integer >= 10",
    )
    need(
        isinstance(config.telemetry_flush_ms, int) and 1 <= config.telemetry_flush_ms <= 1000,
        "telemetry_flush_ms must be an integer between 1 and 1000",
    )
    for peer in config.peers:
        need(peer.node != config.node, f"node {config.node} lists itself as a peer")
        need(isinstance(peer.port, int) and 0 < peer.port <= 65535, f"bad port for {peer.node}")
    need(
        isinstance(config.routing_tick_ms, int) and 1 <= config.routing_tick_ms <= 1000,
        "routing_tick_ms must be an integer between 1 and 1000",
    )
    need(
        config.routing in ROUTING_PROTOCOLS,
        f"routing must be one of {', '.join(ROUTING_PROTOCOLS)}, got {config.routing!r}",
    )
    need(isinstance(config.files, FilesConfig), "files must be a table of file settings")
    config.files.validate()
    book = {peer.node: peer for peer in config.peers}
    neighbours = config.neighbours()
    need(
        len({n.peer for n in neighbours}) == len(neighbours),
        "links: a neighbour is listed twice",
    )
    for neighbour in neighbours:
        problems = neighbour_problems(config.node, neighbour, book)
        need(not problems, f"links: {'; '.join(problems)}")
    return config


def load_secret(environ: Mapping[str, str]) -> bytes:
    text = environ.get(SECRET_ENV, "")
    if not text:
        raise ConfigError(f"{SECRET_ENV} is not set (the cluster secret, hex)")
    try:
        secret = bytes.fromhex(text)
    except ValueError as exc:
        raise ConfigError(f"{SECRET_ENV} is not hex") from exc
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(f"{SECRET_ENV} must be at least {MIN_SECRET_BYTES} bytes")
    return secret


async def serve(config: NodeConfig, secret: bytes) -> int:
    """Run the node until a signal, its parent's death or a fatal error."""
    # Shell randomness (reconnect jitter, which peer gets chatter) need not be
    # reproducible; core logic gets its own seeded Random when it arrives.
    node = Node(config, secret, random.Random())
    heartbeats = Heartbeats(node)
    routing = Routing(node)
    Tracer(node)
    NeighbourCommands(node)
    FaultCommands(node)
    load = LoadGenerator(node)
    HoldDelivery(node)
    node.on_command(SetTimeScale, lambda command: node.clock.set_time_scale(command.time_scale))
    router = Router()
    add_status_route(router, node, heartbeats, routing)
    raft = start_raft(node, config, router, heartbeats.last_heartbeat_ms)
    http = HttpServer(router)
    stop_on_signals(node.stopping)
    try:
        await node.start()
        await http.start(config.host, config.client_port)
        node.spawn(heartbeats.run(), "heartbeats")
        node.spawn(routing.run(), "routing")
        node.spawn(load.run(), "load")
        raft_tasks(node, raft)
        node.spawn(node.report_counters(), "counters")
        node.spawn(watch_parent(node.stopping), "parent")
        log.info(
            "%s up: pid %d, peers on %s:%d, clients on %s:%d",
            node.id,
            os.getpid(),
            config.host,
            config.peer_port,
            config.host,
            config.client_port,
        )
        await node.stopping.wait()
        log.info("%s stopping", node.id)
    finally:
        await http.close()
        await node.close()
        raft.close()
    return node.exit_code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cluster.node",
        description="Run one clusterlab node process (normally started by the launcher).",
        epilog=f"The cluster secret is read, as hex, from the environment variable {SECRET_ENV}.",
    )
    parser.add_argument(
        "--config", required=True, type=Path, help="the node's JSON config (<data_dir>/node.json)"
    )
    args = parser.parse_args(argv)
    try:
        config = load_node_config(args.config)
        secret = load_secret(os.environ)
    except ConfigError as exc:
        print(f"cluster.node: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s {config.node} %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    keep_freed_memory()  # before any chunk buffer exists (memory.py)
    try:
        Path(config.data_dir).mkdir(parents=True, exist_ok=True)
        return asyncio.run(serve(config, secret))
    except OSError as exc:
        print(f"cluster.node: {config.node} cannot start: {exc}", file=sys.stderr)
        return EXIT_CANNOT_LISTEN
    except KeyboardInterrupt:
        return 0


__all__ = ["load_node_config", "load_secret", "main", "serve", "validate_node_config"]
