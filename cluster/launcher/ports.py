"""Free loopback ports for the nodes, chosen once per run.

The launcher picks every port before spawning anything, so each node's config
can list all its peers' addresses, and a restarted node gets its old ports
back (its neighbours keep dialling them).

Ports come from *below* the kernel's ephemeral range: a port there is never
handed out as the local port of an outgoing connection. A port taken from the
ephemeral range (the classic "bind port 0, read, close") stays free only by
luck: any connection opened meanwhile, say a node's telemetry connection, may
get it as its local port and hold it, and the node that owns it then cannot
listen. Each candidate is checked by binding it, and all sockets are held
until every number is chosen, so no two nodes get the same port. Where no
such band exists, the OS picks (port 0).
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

LOOPBACK = "127.0.0.1"
EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
# Below this are well-known and registered services; a band of thousands of
# ports above it is enough for many concurrent runs of 2 × MAX_NODES ports.
BAND_LOW = 20_000
MIN_BAND_PORTS = 1_000
# Candidates tried per port before falling back to the OS's choice.
MAX_TRIES_PER_PORT = 50


def reserve_loopback_ports(count: int, rng: random.Random | None = None) -> list[int]:
    rng = rng or random.Random()
    band = _band_below_ephemeral()
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sockets.append(_bind_free(band, rng))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _band_below_ephemeral() -> tuple[int, int] | None:
    try:
        low = int(EPHEMERAL_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    if low - BAND_LOW < MIN_BAND_PORTS:
        return None
    return BAND_LOW, low - 1


def _bind_free(band: tuple[int, int] | None, rng: random.Random) -> socket.socket:
    if band is not None:
        for _ in range(MAX_TRIES_PER_PORT):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.bind((LOOPBACK, rng.randint(*band)))
            except OSError:
                sock.close()
                continue
            return sock
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((LOOPBACK, 0))
    return sock
