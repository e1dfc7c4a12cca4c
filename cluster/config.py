"""Settings of a run, with embedded defaults, TOML loading and validation.

``make run`` needs no configuration: every field has a default that gives a
5-node cluster on loopback. A TOML file (``--config``) and then command-line
flags override them. Validation turns bad input into ``ConfigError`` with a
message that names the setting, which run.py prints without a stack trace.

``NodeConfig`` is what the launcher hands one node process (as a JSON file in
its data directory); the cluster secret is *not* in it: it travels in the
``CLUSTERLAB_SECRET`` environment variable, never on a command line.

The network a run is built on is part of the settings too: a preset name
(``topology``) or an explicit ``[[links]]`` table, checked once here with
cluster.core.topology so that a bad link is refused before any process starts
(docs/topology-config.md). Each node then gets only its own neighbours.

File storage settings (chunk size, replication, placement) are a ``[files]``
table in TOML and ``files_*`` fields here; each node gets them as
``FilesConfig``. The placement part is only the starting point: a running
cluster keeps its placement settings in Raft and may change them.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cluster.core.files.meta import (
    DEFAULT_CHUNK_BYTES,
    DEFAULT_RF,
    HASHES,
    MAX_CHUNK_BYTES,
    MAX_RF,
    MIN_CHUNK_BYTES,
    STRATEGIES,
    PlacementSettings,
)
from cluster.core.placement.consistent import DEFAULT_VNODES, MAX_VNODES
from cluster.core.routing.linkstate import LinkStateConfig
from cluster.core.topology import (
    LINK_FIELDS,
    PRESETS,
    Link,
    Topology,
    TopologyError,
    node_ids,
    preset,
)

MAX_NODES = 50  # the dashboard stays legible and a 2-core laptop copes
SECRET_ENV = "CLUSTERLAB_SECRET"
ASYNC_MODES = ("threading", "eventlet")
FSYNC_MODES = ("always", "off")
ROUTING_PROTOCOLS = ("link-state", "distance-vector")
# "custom": the network is the explicit [[links]] table, not a preset.
CUSTOM_TOPOLOGY = "custom"
TOPOLOGY_NAMES = (*PRESETS, CUSTOM_TOPOLOGY)
MAX_SEED = 2**63 - 1  # random.Random accepts any int; this keeps it a TOML/JSON integer
# Every node says a routing hello to each neighbour once per hello interval
# (LinkStateConfig.hello_interval_ticks routing ticks). With many neighbours
# that adds up, so the automatic routing tick keeps a node near this many
# hellos a second: a 5-node mesh says hello every 100 ms, a 50-node mesh
# (49 neighbours each) every 1.2 s, and the 2-core laptop copes.
HELLOS_PER_S_PER_NODE = 40
MAX_ROUTING_TICK_MS = 1000


class ConfigError(ValueError):
    """A setting is invalid; the message names it and says what is allowed."""


# A node the leader has not heard from this long (× time scale) is treated as
# lost: its chunks are copied elsewhere. Long enough to ride out a restart.
DEFAULT_REPAIR_GRACE_S = 10.0
# A chunk no committed file lists (a cut-off upload) is deleted after this long.
DEFAULT_ORPHAN_GRACE_S = 3600.0
# The scrubber re-reads and re-hashes stored chunks at most this fast, so it
# never competes with clients for the disk.
DEFAULT_SCRUB_MB_PER_S = 4.0
MAX_GRACE_S = 7 * 24 * 3600.0  # a week: anything longer is "never", which is not a setting
MAX_SCRUB_MB_PER_S = 10_000.0


@dataclass(frozen=True)
class FilesConfig:
    """How files are stored (docs: the files chapter): ``[files]`` in TOML."""

    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    rf: int = DEFAULT_RF
    strategy: str = "consistent"
    hash: str = "sha256"
    vnodes: int = DEFAULT_VNODES
    repair_grace_s: float = DEFAULT_REPAIR_GRACE_S
    orphan_grace_s: float = DEFAULT_ORPHAN_GRACE_S
    scrub_mb_per_s: float = DEFAULT_SCRUB_MB_PER_S

    def validate(self) -> FilesConfig:
        if not MIN_CHUNK_BYTES <= self.chunk_bytes <= MAX_CHUNK_BYTES:
            raise ConfigError(
                f"files.chunk_bytes must be between {MIN_CHUNK_BYTES} (64 KiB) and "
                f"{MAX_CHUNK_BYTES} (4 MiB), got {self.chunk_bytes}"
            )
        if not 1 <= self.rf <= MAX_RF:
            raise ConfigError(f"files.rf must be between 1 and {MAX_RF}, got {self.rf}")
        if self.strategy not in STRATEGIES:
            raise ConfigError(
                f"files.strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}"
            )
        if self.hash not in HASHES:
            raise ConfigError(f"files.hash must be one of {', '.join(HASHES)}, got {self.hash!r}")
        if not 1 <= self.vnodes <= MAX_VNODES:
            raise ConfigError(f"files.vnodes must be between 1 and {MAX_VNODES}, got {self.vnodes}")
        for name in ("repair_grace_s", "orphan_grace_s"):
            value = getattr(self, name)
            if not 0 < value <= MAX_GRACE_S:
                raise ConfigError(f"files.{name} must be above 0 and at most {MAX_GRACE_S:.0f}")
        if not 0 < self.scrub_mb_per_s <= MAX_SCRUB_MB_PER_S:
            raise ConfigError(
                f"files.scrub_mb_per_s must be above 0 and at most {MAX_SCRUB_MB_PER_S:.0f}"
            )
        return self

    def placement(self) -> PlacementSettings:
        """The placement a new cluster starts with (version 0: never changed)."""
        return PlacementSettings(self.strategy, self.hash, self.rf, self.vnodes, 0)


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
    # The network (docs/topology-config.md). Defaults: a full mesh whose links
    # add nothing to loopback (no delay, no loss): nothing is simulated unless
    # the user asks for it (DESIGN.md).
    topology: str = "mesh"
    seed: int = 0  # for the random preset and for each node's loss draws
    directed: bool = False
    routing: str = "link-state"
    split_horizon: bool = True  # distance-vector only
    poison_reverse: bool = True  # distance-vector only
    link_cost: int = 1
    link_latency_ms: float = 0.0
    link_jitter_ms: float = 0.0
    link_loss: float = 0.0
    link_bandwidth_mbps: float = 1000.0
    links: list[dict[str, Any]] = field(default_factory=list)  # explicit [[links]] table
    routing_tick_ms: int = 0  # 0: automatic, from the busiest node's neighbour count
    # Raft compacts its log into a snapshot after this many applied entries (§7).
    snapshot_threshold_entries: int = 10_000
    # File storage ([files] in TOML; FilesConfig says what each one means).
    files_chunk_bytes: int = DEFAULT_CHUNK_BYTES
    files_rf: int = DEFAULT_RF
    files_strategy: str = "consistent"
    files_hash: str = "sha256"
    files_vnodes: int = DEFAULT_VNODES
    files_repair_grace_s: float = DEFAULT_REPAIR_GRACE_S
    files_orphan_grace_s: float = DEFAULT_ORPHAN_GRACE_S
    files_scrub_mb_per_s: float = DEFAULT_SCRUB_MB_PER_S

    def files(self) -> FilesConfig:
        """The ``files_*`` settings as the nodes get them."""
        return FilesConfig(
            self.files_chunk_bytes,
            self.files_rf,
            self.files_strategy,
            self.files_hash,
            self.files_vnodes,
            self.files_repair_grace_s,
            self.files_orphan_grace_s,
            self.files_scrub_mb_per_s,
        )

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
        if self.routing not in ROUTING_PROTOCOLS:
            raise ConfigError(
                f"routing must be one of {', '.join(ROUTING_PROTOCOLS)}, got {self.routing!r}"
            )
        if not 10 <= self.snapshot_threshold_entries <= 10_000_000:
            raise ConfigError(
                "snapshot_threshold_entries must be between 10 and 10000000, "
                f"got {self.snapshot_threshold_entries}"
            )
        if not 0 <= self.routing_tick_ms <= MAX_ROUTING_TICK_MS:
            raise ConfigError(
                f"routing_tick_ms must be 0 (automatic) or at most {MAX_ROUTING_TICK_MS}, "
                f"got {self.routing_tick_ms}"
            )
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed must be between 0 and {MAX_SEED}, got {self.seed}")
        self.files().validate()
        self.build_topology()
        return self

    def routing_tick_for(self, topology: Topology) -> int:
        """The routing core's tick in ms: the setting, or automatic (see HELLOS_PER_S_PER_NODE).

        Every node gets the same tick: a neighbour is declared dead after a
        number of *its own* ticks without a hello, so hello intervals must agree.
        """
        if self.routing_tick_ms:
            return self.routing_tick_ms
        degree = max((len(topology.peers(n)) for n in topology.nodes), default=0)
        hello_ticks = LinkStateConfig().hello_interval_ticks
        needed_ms = math.ceil(1000 * degree / HELLOS_PER_S_PER_NODE / hello_ticks)
        return min(MAX_ROUTING_TICK_MS, max(self.tick_ms, needed_ms))

    def link_template(self) -> Link:
        """The properties every link gets unless its [[links]] entry says otherwise."""
        return Link(
            "_",
            "_",
            cost=self.link_cost,
            latency_ms=self.link_latency_ms,
            jitter_ms=self.link_jitter_ms,
            loss=self.link_loss,
            bandwidth_mbps=self.link_bandwidth_mbps,
        )

    def build_topology(self) -> Topology:
        """The run's network, validated and connected; ConfigError names the problem."""
        if self.topology not in TOPOLOGY_NAMES:
            raise ConfigError(
                f"topology must be one of {', '.join(TOPOLOGY_NAMES)}, got {self.topology!r}"
            )
        template = self.link_template()
        # Checked on a stand-in pair: the template's own endpoints are placeholders.
        problems = Link("a", "b", **{f: getattr(template, f) for f in LINK_FIELDS}).problems()
        if problems:
            raise ConfigError(f"link defaults: link_{'; link_'.join(problems)}")
        try:
            if self.links or self.topology == CUSTOM_TOPOLOGY:
                return self._explicit_topology(template)
            return preset(
                self.topology, self.nodes, seed=self.seed, directed=self.directed, link=template
            ).require_connected()
        except TopologyError as exc:
            raise ConfigError(f"topology: {exc}") from exc

    def _explicit_topology(self, template: Link) -> Topology:
        if self.topology not in ("mesh", CUSTOM_TOPOLOGY):
            raise ConfigError(
                f"topology = {self.topology!r} and a [[links]] table are both given; "
                "use one (topology = \"custom\" with [[links]])"
            )
        if not self.links and self.nodes > 1:
            raise ConfigError('topology = "custom" needs a [[links]] table')
        defaults = {f: getattr(template, f) for f in LINK_FIELDS}
        entries = [{**defaults, **e} if isinstance(e, dict) else e for e in self.links]
        raw = {"directed": self.directed, "nodes": node_ids(self.nodes), "links": entries}
        return Topology.from_dict(raw, require_connected=True)

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
    """Flatten a TOML file into settings: top-level keys, the ``[cluster]`` table, and
    the ``[files]`` table as ``files_<name>``."""
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
    files = data.get("files", {})
    if not isinstance(files, dict):
        raise ConfigError(f"config file {p}: [files] must be a table")
    settings.update({f"files_{name}": value for name, value in files.items()})
    if isinstance(data.get("topology"), dict):
        raise ConfigError(
            f"config file {p}: write topology = \"<preset>\" or topology = \"custom\" "
            "with [[links]] tables, not a [topology] table (see docs/topology-config.md)"
        )
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
class NeighbourLink:
    """One link as the node at its near end sees it: where data may go, and how.

    ``cost`` is None when the only link between the two points *towards* this
    node (directed topology): the connection still carries routing's control
    messages both ways, but this node never forwards data over it. The other
    fields shape the frames this node sends on it (cluster/node/shaping.py).
    """

    peer: str
    cost: int | None = 1
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    loss: float = 0.0
    bandwidth_mbps: float = 1000.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def neighbour_links(topology: Topology, node: str) -> tuple[NeighbourLink, ...]:
    """``node``'s neighbours in ``topology`` with the properties of each link.

    A directed pair may have two links (a→b and b→a) with their own
    properties; frames from ``node`` to a peer are shaped by the link that
    carries data that way, or by the reverse link when only that one exists
    (routing's control messages then travel back on the same medium).
    """
    found = []
    for peer, cost in sorted(topology.peers(node).items()):
        link = topology.link(node, peer) or topology.link(peer, node)
        assert link is not None  # peers() lists only nodes joined by a link
        found.append(
            NeighbourLink(
                peer,
                cost,
                link.latency_ms,
                link.jitter_ms,
                link.loss,
                link.bandwidth_mbps,
            )
        )
    return tuple(found)


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
    # The node's neighbours; ``peers`` is only the address book. None: every
    # peer is a neighbour over a plain link (a node started without a topology).
    links: tuple[NeighbourLink, ...] | None = None
    routing: str = "link-state"
    split_horizon: bool = True
    poison_reverse: bool = True
    seed: int = 0
    routing_tick_ms: int = 10  # resolved by the launcher (ClusterConfig.routing_tick_for)
    # Raft voters of the cluster's first configuration (thesis §4): the same on
    # every node of a run and never changed by a restart. () : the node joins a
    # running cluster and learns the voters from the leader. None: itself and
    # every peer (a node started by hand).
    initial_voters: tuple[str, ...] | None = None
    snapshot_threshold_entries: int = 10_000
    files: FilesConfig = field(default_factory=FilesConfig)

    def raft_voters(self) -> tuple[str, ...]:
        if self.initial_voters is None:
            return tuple(sorted({self.node, *(p.node for p in self.peers)}))
        return self.initial_voters

    def neighbours(self) -> tuple[NeighbourLink, ...]:
        if self.links is None:
            return tuple(NeighbourLink(p.node) for p in self.peers)
        return self.links

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)

    @staticmethod
    def from_json(text: str) -> NodeConfig:
        raw = json.loads(text)
        raw["peers"] = tuple(PeerAddr(**p) for p in raw.get("peers", []))
        if raw.get("links") is not None:
            raw["links"] = tuple(NeighbourLink(**n) for n in raw["links"])
        if raw.get("initial_voters") is not None:
            raw["initial_voters"] = tuple(raw["initial_voters"])
        if isinstance(raw.get("files"), dict):
            raw["files"] = FilesConfig(**raw["files"])
        return NodeConfig(**raw)
