"""Hash-placed files on one node: uploads, metadata through Raft, chunks to replicas.

Any node can be an upload's *entry* node (as any node accepts a KV write).
It receives the file chunk by chunk from a client (HTTP, files_routes.py),
hashes each chunk once — its SHA-256 is the chunk's name and placement key —
feeds the whole-file MD5 and SHA-256, and sends the chunk *in parallel* to
the RF nodes the placement strategy names (``ChunkPut``, routed hop by hop).
A window of ``UPLOAD_WINDOW_CHUNKS`` chunks replicates at once, so disks,
links and the next chunk's arrival overlap. A replica that fails is replaced
by the next node of the chunk's preference order (the repair loop moves the
copy to its proper place later); if no node can take it the upload fails.

The commit writes the file's metadata (``fput``) through the key-value
service's write path: forwarded to the leader, exactly once thanks to a
session, answered only once applied. So a file becomes visible all at once,
and only after every chunk has RF durable copies. Deletes (``fdel``) and
placement changes go the same way; replica-list changes (``fcas``) are the
repair loop's (cluster/node/files_repair.py), which uses ``write_meta``.

Reads of metadata (``GET /files``) are linearizable by default: a read index
confirmed by the leader (Raft thesis §6.4), then the local state machine.

When the leader applies a file change it reports it once (``FileChanged``);
every node reports the chunks it stores (``ChunkStored``) and drops
(``ChunkRemoved``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cluster.config import FilesConfig
from cluster.core.files.meta import (
    MAX_FILE_CHUNKS,
    PLACEMENT_KEY,
    ChunkMeta,
    FileMeta,
    PlacementSettings,
    chunk_count,
)
from cluster.core.files.names import check_name
from cluster.core.files.plan import desired_replicas, effective_rf, strategy_for
from cluster.core.raft import Role
from cluster.node.chunk_store import ChunkStore
from cluster.node.chunk_transfer import ChunkTransfers, TransferFailed
from cluster.node.clock import wall_ms
from cluster.node.files_upload import UPLOAD_IDLE_S, FilesError, UploadSession
from cluster.node.kv_service import KvService
from cluster.node.raft_driver import RaftDriver
from cluster.schema.raft import Entry
from cluster.schema.telemetry import FileChanged

log = logging.getLogger(__name__)

# Uploads open at once on one entry node; each holds a window of chunks.
MAX_UPLOADS = 16
# How often abandoned uploads are looked for.
UPLOAD_SWEEP_S = 5.0
# A neighbour is live if one of its last this-many heartbeats arrived.
HEARD_RECENTLY_HEARTBEATS = 3
# Unpacked metadata kept per file name (unpacking a big file's list costs).
MAX_CACHED_METAS = 4096
MIB = 1024 * 1024

__all__ = ["FilesError", "FilesService"]


class FilesService:
    def __init__(
        self,
        kv: KvService,
        store: ChunkStore,
        settings: FilesConfig,
        heard_ms: Mapping[str, float] | None = None,
    ) -> None:
        self.kv = kv
        self.node = kv.node
        self.driver: RaftDriver = kv.driver
        self.store = store
        self.settings = settings
        self.transfers = ChunkTransfers(self.node, store)
        self._heard_ms = heard_ms if heard_ms is not None else {}
        self._uploads: dict[str, UploadSession] = {}
        # One thread feeds every upload's whole-file hashes, in arrival order.
        self._file_hasher = ThreadPoolExecutor(1, thread_name_prefix="file-hash")
        self._metas: dict[str, tuple[bytes, FileMeta]] = {}
        self.driver.on_apply(self._on_apply)

    def start(self) -> None:
        """Run the background work (the event loop must be running)."""
        self.node.spawn(self._sweep_uploads(), "files-uploads")

    async def close(self) -> None:
        for upload in list(self._uploads.values()):
            self._forget(upload)
        await self.transfers.close()
        self._file_hasher.shutdown(wait=True)
        self.store.close()

    # -- the committed state (this node's state machine) ---------------------------

    def placement(self) -> PlacementSettings:
        """The placement settings: committed through Raft, or the configured defaults."""
        raw = self.driver.kv.get_file(PLACEMENT_KEY)
        if raw is None:
            return self.settings.placement()
        return PlacementSettings.unpack(raw)

    def members(self) -> tuple[str, ...]:
        """The nodes chunks are placed on: the Raft voters."""
        return self.driver.raft.voters

    def unreachable(self) -> set[str]:
        """Members this node cannot reach right now (no recent heartbeat, no route)."""
        return {m for m in self.members() if not self._reachable(m)}

    def file(self, name: str) -> FileMeta | None:
        """The committed metadata of ``name`` in this node's state machine (no barrier)."""
        raw = self.driver.kv.get_file(name)
        if raw is None or name == PLACEMENT_KEY:
            return None
        cached = self._metas.get(name)
        if cached is not None and cached[0] == raw:
            return cached[1]
        meta = FileMeta.unpack(raw)
        if len(self._metas) >= MAX_CACHED_METAS:
            self._metas.clear()
        self._metas[name] = (raw, meta)
        return meta

    def files(self) -> list[FileMeta]:
        """Every committed file, by name (no barrier)."""
        found = []
        for name in self.driver.kv.file_names():
            meta = self.file(name)
            if meta is not None:
                found.append(meta)
        return found

    async def read_barrier(self) -> None:
        """Make the next local read linearizable (§6.4); FilesError 503 if impossible now."""
        outcome = await self.kv.read_barrier()
        if outcome.status != 200:
            raise FilesError(outcome.status, outcome.error)

    async def write_meta(
        self, op: str, name: str, value: bytes = b"", expected: bytes | None = None
    ) -> int:
        """Commit ``fput`` / ``fdel`` / ``fcas`` through Raft; the resulting version.

        FilesError: 404 (``fdel`` of a missing file), 409 (``fcas`` mismatch),
        400 (bad metadata), 503 (no leader, timeout: the outcome is unknown).
        """
        return await self._write(op, name, value, self.kv.new_session(), expected)

    async def _write(
        self, op: str, name: str, value: bytes, client_id: str, expected: bytes | None = None
    ) -> int:
        trace_id, started_s = self.kv.trace(op, name, "")
        outcome = await self.kv.write(op, name, value, client_id, 1, trace_id, expected)
        self.kv.traced_reply(trace_id, started_s, op, name, outcome)
        if outcome.status != 200:
            message = {
                "not_found": f"no file named {name!r}",
                "mismatch": f"{name!r} changed meanwhile (compare-and-swap mismatch)",
                "bad_meta": f"the metadata of {name!r} was refused as invalid",
            }.get(outcome.error, outcome.error)
            raise FilesError(outcome.status, message)
        return int(outcome.value) if outcome.value else outcome.index

    # -- uploads -------------------------------------------------------------------

    def open_upload(self, name: object, size_bytes: object) -> UploadSession:
        """``POST /uploads``: check everything that can be checked before any byte."""
        try:
            check_name(name)
        except ValueError as exc:
            raise FilesError(400, str(exc)) from None
        assert isinstance(name, str)
        if isinstance(size_bytes, bool) or not isinstance(size_bytes, int) or size_bytes < 0:
            raise FilesError(400, "size_bytes must be the file's size: a whole number of bytes")
        if size_bytes == 0:
            raise FilesError(400, "the file is empty: there is nothing to store")
        chunk_bytes = self.settings.chunk_bytes
        if chunk_count(size_bytes, chunk_bytes) > MAX_FILE_CHUNKS:
            limit = MAX_FILE_CHUNKS * chunk_bytes
            raise FilesError(
                400,
                f"the file is too large: {size_bytes} bytes; at most {limit} bytes"
                f" ({MAX_FILE_CHUNKS} chunks of {chunk_bytes // 1024} KiB)",
            )
        rf = self._check_live()
        needed = size_bytes * rf
        free = self.store.free_bytes()
        if needed > free:
            raise FilesError(
                507,
                f"not enough free space: {rf} copies of {size_bytes / MIB:.1f} MiB need"
                f" {needed / MIB:.1f} MiB, the disk has {free / MIB:.1f} MiB free"
                " (beyond a reserve)",
            )
        if len(self._uploads) >= MAX_UPLOADS:
            raise FilesError(503, f"{self.node.id} has {MAX_UPLOADS} uploads open; try later")
        upload_id = secrets.token_hex(8)
        upload = UploadSession(
            upload_id,
            name,
            size_bytes,
            chunk_bytes,
            self.kv.new_session(),
            self._file_hasher,
            time.monotonic(),
        )
        self._uploads[upload_id] = upload
        self.node.counters["uploads_opened"] += 1
        return upload

    async def put_chunk(self, upload_id: str, index: int, data: bytes) -> dict[str, Any]:
        """``PUT /uploads/<id>/<index>``: take the next chunk, start its replication."""
        upload = self._upload(upload_id)
        async with upload.lock:
            self._check_usable(upload)
            upload.touched_s = time.monotonic()
            self._check_live()
            upload.accept(index, len(data))
            await upload.window.acquire()
            try:
                if upload.closed:
                    raise FilesError(404, f"upload {upload_id} was aborted")
                await upload.feed(data)
                # Hashed here, on the event loop, while the bytes just received
                # are still in the CPU's cache: a worker thread would add a
                # hand-off to every chunk's round trip (1 ms of CPU per MiB).
                sha256 = hashlib.sha256(data).hexdigest()
                targets = self._targets(sha256)
            except BaseException as exc:
                upload.window.release()
                if isinstance(exc, FilesError) and upload.failure is None:
                    upload.failure = exc.message
                raise
            task = asyncio.get_running_loop().create_task(
                self._replicate(upload, index, sha256, data, targets)
            )
            upload.replications.add(task)
            task.add_done_callback(lambda t: _replicated(upload, t))
        return {"index": index, "sha256": sha256, "replicas": targets}

    async def commit_upload(self, upload_id: str) -> FileMeta:
        """``POST /uploads/<id>/commit``: once every chunk has its copies, commit the metadata."""
        upload = self._upload(upload_id)
        async with upload.lock:
            self._check_usable(upload)
            missing = upload.missing()
            if missing:
                raise FilesError(409, f"cannot commit {upload.name!r}: {missing}")
            upload.committing = True
            try:
                if upload.replications:
                    await asyncio.gather(*list(upload.replications), return_exceptions=True)
                self._check_usable(upload)
                md5, sha256 = await upload.digests()
                chunks = [c for c in upload.chunks if c is not None]
                if len(chunks) != upload.chunks_total:
                    raise FilesError(502, f"{upload.name!r}: some chunks have no copies")
                meta = FileMeta(
                    upload.name,
                    upload.size_bytes,
                    upload.chunk_bytes,
                    md5,
                    sha256,
                    0,
                    int(wall_ms()),
                    chunks,
                )
                # The upload's own session: a commit retried after a 503 applies once.
                version = await self._write("fput", upload.name, meta.pack(), upload.client_id)
            except FilesError as exc:
                if exc.status != 503:  # 503: outcome unknown, the client may retry the commit
                    self._forget(upload)
                raise
            finally:
                upload.committing = False
                upload.touched_s = time.monotonic()
        self._forget(upload)
        self.node.counters["uploads_committed"] += 1
        return meta.with_version(version)

    def abort_upload(self, upload_id: str) -> None:
        """``DELETE /uploads/<id>``: forget it; chunks already stored become orphans."""
        upload = self._upload(upload_id)
        self._forget(upload)
        self.node.counters["uploads_aborted"] += 1

    def _upload(self, upload_id: str) -> UploadSession:
        upload = self._uploads.get(upload_id)
        if upload is None:
            raise FilesError(
                404, f"no upload {upload_id[:40]!r} on {self.node.id} (finished, aborted or idle)"
            )
        return upload

    def _check_usable(self, upload: UploadSession) -> None:
        if upload.closed:
            raise FilesError(404, f"upload {upload.upload_id} was aborted")
        if upload.failure is not None:
            raise FilesError(502, f"upload of {upload.name!r} failed: {upload.failure}")

    def _forget(self, upload: UploadSession) -> None:
        upload.closed = True
        self._uploads.pop(upload.upload_id, None)
        for task in upload.replications:
            task.cancel()

    async def _sweep_uploads(self) -> None:
        while True:
            await asyncio.sleep(UPLOAD_SWEEP_S)
            idle_s = UPLOAD_IDLE_S * max(1.0, self.node.clock.time_scale)
            now_s = time.monotonic()
            for upload in list(self._uploads.values()):
                if not upload.committing and now_s - upload.touched_s > idle_s:
                    log.info("%s: upload of %r idle, abandoned", self.node.id, upload.name)
                    self.node.counters["uploads_abandoned"] += 1
                    self._forget(upload)

    # -- placement and replication ---------------------------------------------------

    def _check_live(self) -> int:
        """The number of copies each chunk needs; FilesError 503 if there is no leader
        or not that many members reachable."""
        raft = self.driver.raft
        if raft.leader is None:
            raise FilesError(
                503, f"no leader known to {self.node.id} (an election may be under way)"
            )
        members = self.members()
        rf = effective_rf(self.placement(), members)
        down = self.unreachable()
        live = len(members) - len(down)
        if live < rf:
            raise FilesError(
                503,
                f"not enough live nodes: {self.node.id} reaches {live} of {len(members)}"
                f" ({', '.join(sorted(down))} down), each chunk needs {rf} copies",
            )
        return rf

    def _targets(self, sha256: str) -> list[str]:
        members = self.members()
        settings = self.placement()
        targets = desired_replicas(settings, members, self.unreachable(), sha256)
        rf = effective_rf(settings, members)
        if len(targets) < rf:
            raise FilesError(503, f"only {len(targets)} live nodes for {rf} copies")
        return targets

    def _fallbacks(self, sha256: str, exclude: list[str]) -> list[str]:
        """Other live members in the chunk's preference order, for a failed replica."""
        members = self.members()
        order = strategy_for(self.placement(), members).place(sha256, len(members))
        down = self.unreachable()
        return [n for n in order if n not in exclude and n not in down]

    async def _replicate(
        self, upload: UploadSession, index: int, sha256: str, data: bytes, targets: list[str]
    ) -> None:
        """Copy one chunk to its replicas in parallel; record where it landed."""
        results = await asyncio.gather(*(self._copy(t, sha256, data) for t in targets))
        placed: list[str] = []
        errors: list[str] = []
        spare = iter(self._fallbacks(sha256, targets))
        for target, error in zip(targets, results, strict=True):
            holder = target
            while error:
                errors.append(error)
                next_holder = next(spare, None)
                if next_holder is None:
                    break
                holder = next_holder
                error = await self._copy(holder, sha256, data)
            if not error:
                placed.append(holder)
        if len(placed) < len(targets):
            if upload.failure is None:
                upload.failure = (
                    f"chunk {index} ({sha256[:12]}) got {len(placed)} of {len(targets)}"
                    f" copies: {'; '.join(errors)}"
                )
            return
        if errors:
            self.node.counters["chunk_replicas_replaced"] += len(errors)
        upload.chunks[index] = ChunkMeta(sha256, len(data), placed)

    async def _copy(self, target: str, sha256: str, data: bytes) -> str:
        """'' once ``target`` holds the chunk durably; otherwise why not."""
        try:
            await self.transfers.put_to(target, sha256, data)
        except TransferFailed as exc:
            return str(exc)
        return ""

    def _reachable(self, member: str) -> bool:
        node = self.node
        if member == node.id:
            return True
        if member not in node.neighbours:
            return node.next_hop(member) is not None
        heard_ms = self._heard_ms.get(member)
        interval_ms = node.config.heartbeat_interval_ms * node.clock.time_scale
        return heard_ms is not None and wall_ms() - heard_ms <= (
            HEARD_RECENTLY_HEARTBEATS * interval_ms
        )

    # -- other operations ----------------------------------------------------------------

    async def delete_file(self, name: str) -> int:
        """``DELETE /files/<name>``: the deleted version; FilesError 404 if absent."""
        return await self.write_meta("fdel", name)

    async def set_placement(self, changes: Mapping[str, object]) -> PlacementSettings:
        """``PUT /placement``: commit changed settings (chunks then move: the repair loop)."""
        try:
            wanted = self.placement().updated(changes)
        except (ValueError, TypeError) as exc:
            raise FilesError(400, str(exc)) from None
        version = await self.write_meta("fput", PLACEMENT_KEY, wanted.with_version(0).pack())
        return wanted.with_version(version)

    # -- telemetry ----------------------------------------------------------------------

    def _on_apply(self, _entry: Entry) -> None:
        """The leader reports each file change once (every node applies it)."""
        change = self.driver.kv.file_change
        if change is None or self.driver.raft.role is not Role.LEADER:
            return
        self.node.emit(FileChanged(self.node.id, wall_ms(), change.name, change.version, change.op))


def _replicated(upload: UploadSession, task: asyncio.Task[None]) -> None:
    upload.replications.discard(task)
    upload.window.release()
    if not task.cancelled() and task.exception() is not None:
        exc = task.exception()
        log.error("replicating a chunk of %r failed", upload.name, exc_info=exc)
        if upload.failure is None:
            upload.failure = f"internal error: {exc}"
