"""Settings of a run, with embedded defaults, TOML loading and validation.

``make run`` needs no configuration: every field has a default that gives a
5-node cluster on loopback. A TOML file (``--config``) and then command-line
flags override them. Validation turns bad input into ``ConfigError`` with a
message that names the setting, which run.py prints without a stack trace.

``NodeConfig`` is what the launcher hands one node process (as a JSON file in
its data directory); the cluster secret is *not* in it: it travels in the
``CLUSTERLAB_SECRET`` environment variable, never on a command line.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_NODES = 50  # the dashboard stays legible and a 2-core laptop copes
SECRET_ENV = "CLUSTERLAB_SECRET"
ASYNC_MODES = ("threading", "eventlet")
FSYNC_MODES = ("always", "off")


class ConfigError(ValueError):
    """A setting is invalid; the message names it and says what is allowed."""


@dataclass
class ClusterConfig:
    nodes: int = 5
    host: str = "127.0.0.1"
    port: int = 5000
    data_dir: str = ""  # empty: a fresh temporary directory per run
    time_scale: float = 1.0
    tick_ms: int = 10
    heartbeat_interval_ms: int = 500
    fsync: str = "always"
    async_mode: str = "threading"
    token: str = ""  # empty: generated and printed at start
    open_browser: bool = True
    telemetry_flush_ms: int = 30

    def validate(self) -> ClusterConfig:
        if not 1 <= self.nodes <= MAX_NODES:
            raise ConfigError(f"nodes must be between 1 and {MAX_NODES}, got {self.nodes}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be between 0 and 65535, got {self.port}")
        if not 0.1 <= self.time_scale <= 100:
            raise ConfigError(f"time_scale must be between 0.1 and 100, got {self.time_scale}")
        if not 1 <= self.tick_ms <= 1000:
            raise ConfigError(f"tick_ms must be between 1 and 1000, got {self.tick_ms}")
        if not 10 <= self.heartbeat_interval_ms <= 60_000:
            raise ConfigError(
                "heartbeat_interval_ms must be between 10 and 60000, "
                f"got {self.heartbeat_interval_ms}"
            )
        if not 1 <= self.telemetry_flush_ms <= 1000:
            raise ConfigError(
                f"telemetry_flush_ms must be between 1 and 1000, got {self.telemetry_flush_ms}"
            )
        if self.fsync not in FSYNC_MODES:
            raise ConfigError(f"fsync must be one of {', '.join(FSYNC_MODES)}, got {self.fsync!r}")
        if self.async_mode not in ASYNC_MODES:
            raise ConfigError(
                f"async_mode must be one of {', '.join(ASYNC_MODES)}, got {self.async_mode!r}"
            )
        if not self.host:
            raise ConfigError("host must not be empty")
        return self

    def merged(self, overrides: dict[str, Any]) -> ClusterConfig:
        """A copy with the given settings replaced; unknown names are refused."""
        known = {f.name: f for f in dataclasses.fields(self)}
        values = dataclasses.asdict(self)
        for name, value in overrides.items():
            if name not in known:
                raise ConfigError(f"unknown setting {name!r}; known: {', '.join(sorted(known))}")
            values[name] = _coerce(name, value, getattr(self, name))
        return ClusterConfig(**values)


def _coerce(name: str, value: Any, default: Any) -> Any:
    expected = type(default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigError(
            f"{name} must be a {expected.__name__}, got {type(value).__name__} {value!r}"
        )
    return value


def load_toml(path: str | Path) -> dict[str, Any]:
    """Flatten a TOML file into settings: top-level keys and the ``[cluster]`` table."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {p} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {p} is not valid TOML: {exc}") from exc
    settings = {k: v for k, v in data.items() if not isinstance(v, dict)}
    cluster = data.get("cluster", {})
    if not isinstance(cluster, dict):
        raise ConfigError(f"config file {p}: [cluster] must be a table")
    settings.update(cluster)
    return settings


@dataclass(frozen=True)
class PeerAddr:
    node: str
    host: str
    port: int

    @property
    def addr(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class NodeConfig:
    """Everything one node process needs to start, except the secret."""

    node: str
    run_id: str
    host: str
    peer_port: int
    client_port: int
    data_dir: str
    hub_host: str
    hub_port: int
    peers: tuple[PeerAddr, ...] = field(default_factory=tuple)
    tick_ms: int = 10
    time_scale: float = 1.0
    heartbeat_interval_ms: int = 500
    telemetry_flush_ms: int = 30
    fsync: str = "always"

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)

    @staticmethod
    def from_json(text: str) -> NodeConfig:
        raw = json.loads(text)
        raw["peers"] = tuple(PeerAddr(**p) for p in raw.get("peers", []))
        return NodeConfig(**raw)
