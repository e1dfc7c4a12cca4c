"""The backend's way into the file store: metadata by JSON, bytes by streaming.

The browser and curl talk to one address, the backend; the file store lives
in the nodes. Metadata requests (list, stat, delete, placement) are small
JSON exchanges and go through the KV gateway's node choice and pooled
connections (kv_gateway.py: the leader first, a one-sentence 503 when no
node can answer). File bytes take the path an HDFS client would take, with
the client library (cluster/client/files.py): an upload streams chunk by
chunk to one entry node, a download fetches each chunk from a replica,
verified, falling over to the next one. The backend never holds more than a
few chunks of any file in memory, whatever its size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO
from urllib.parse import quote

from backend.kv_gateway import GatewayError, KvGateway, NodeAnswer
from cluster.client import files
from cluster.client.files import FileInfo, FilesError, FileSummary, NodeDown


def file_path(name: str) -> str:
    """The node's path for a file; every byte escaped (a name may hold '?', '#', '%')."""
    return "/files/" + quote(name, safe="")


class FilesGateway:
    def __init__(self, kv: KvGateway) -> None:
        self._kv = kv

    def ask(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        node: str | None = None,
    ) -> NodeAnswer:
        """One JSON request to the best node (GatewayError 400/503 when none can take it)."""
        return self._kv.request(method, path, node, params=params, json_body=json_body)

    def nodes(self) -> dict[str, str]:
        """The nodes that are up, id → client address, the leader first."""
        return {e.id: e.client_addr for e in self._kv.candidates(None)}

    def upload(
        self, stream: BinaryIO, name: str, size_bytes: int, node: str | None = None
    ) -> tuple[FileSummary, str]:
        """Stream ``size_bytes`` of ``stream`` into the cluster as ``name``; (summary, entry node).

        An entry node that refuses the connection before anything was sent is
        skipped for the next one; any other failure is a FilesError with the
        node's status (400 bad name, 507 no space, 503 no leader...).
        """
        entries = self._kv.candidates(node)
        for attempt, entry in enumerate(entries, start=1):
            try:
                summary = files.upload(stream, name, entry.client_addr, size_bytes=size_bytes)
            except NodeDown:
                if attempt < len(entries):
                    continue
                raise
            return summary, entry.id
        raise GatewayError(503, "no node is up to take the upload")

    def download(self, info: FileInfo) -> Iterator[bytes]:
        """The file's bytes chunk by chunk, every chunk verified, the whole file too.

        The last chunk is held back until the whole file's SHA-256 matched: a
        client never receives a complete-looking file with wrong bytes. A
        failure after the first byte can only be signalled by breaking the
        response (the caller's job): the status line is already sent.
        """
        nodes = self.nodes()
        whole = hashlib.sha256()
        held: bytes | None = None
        for view in files.iter_chunks(info, nodes):
            whole.update(view)
            if held is not None:
                yield held
            held = bytes(view)  # WSGI servers take bytes only; the view's buffer is reused
        if whole.hexdigest() != info["sha256"]:
            raise FilesError(
                f"{info['name']}: the chunks verified but the whole file hashes to "
                f"{whole.hexdigest()}, not {info['sha256']}", 502
            )
        if held is not None:
            yield held
