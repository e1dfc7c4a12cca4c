"""Wires hash-placed file storage into a node process: the chunk store in the
node's data directory, the files service on top of the key-value write path,
and the files routes on the client port."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from cluster.config import NodeConfig
from cluster.node.chunk_store import ChunkStore
from cluster.node.files_repair import start_files_upkeep
from cluster.node.files_routes import add_files_routes
from cluster.node.files_service import FilesService
from cluster.node.http import Router
from cluster.node.kv_service import KvService


def start_files(
    config: NodeConfig,
    router: Router,
    kv: KvService,
    heard_ms: Mapping[str, float] | None = None,
) -> FilesService:
    """Build the node's files service and its routes, and start its background work."""
    store = ChunkStore(Path(config.data_dir), fsync=config.fsync == "always")
    files = FilesService(kv, store, config.files, heard_ms)
    add_files_routes(router, files)
    files.start()
    # Repair, holder, scrubber and garbage collection loops (files_repair.py).
    start_files_upkeep(files)
    return files
