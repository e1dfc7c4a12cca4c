"""Put files into the cluster and get them back, talking to the nodes directly.

This is the client half of the hash-placed file store (docs: the files
chapter; protocol: the nodes' client-port routes). It works the way HDFS
clients do, so the backend never becomes the bottleneck of a transfer:

* **upload** goes through one *entry* node: ``POST /uploads`` opens an
  upload, each chunk is ``PUT`` in order, ``commit`` returns once every chunk
  has RF durable copies and the metadata is committed through Raft. The
  entry node does the replication; the client only streams.
* **download** asks any node for the file's metadata (its chunk list with the
  replicas of each chunk), then fetches every chunk straight from a replica
  (which verified it on reading), falling over to the next replica on a
  refused connection, a 404, a 409 (the node found its copy corrupt) or a
  wrong length. The whole file's SHA-256 is checked at the end; if it does
  not match, each chunk is checked and a wrong one fetched again from the
  next replica. The file appears under its name only then (``PATH.part`` is
  renamed).

Memory stays at a few chunks whatever the file size: buffers are allocated
once and reused. Speed comes from overlapping: while one chunk is on the
wire, the next is read and hashed (upload) or fetched by another thread
(download); hashlib and socket reads release the GIL, so the threads really
run in parallel.

Every failure is a ``FilesError`` (a ``ClientError``) whose message can be
shown to a person as it is; ``status`` is the node's HTTP status when a node
answered (400 bad name, 404 no such file, 507 no space, 503 no leader or no
replica reachable).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, closing, suppress
from pathlib import Path
from typing import Any, BinaryIO, TypedDict, cast
from urllib.parse import quote

from cluster.client.api import ClientError, ClusterInfo
from cluster.client.node_http import NodeConnections, NodeReply, NodeUnreachable

ProgressCallback = Callable[[int, int], None]  # (bytes done, bytes in total)
Source = str | os.PathLike[str] | BinaryIO

# Chunks read and hashed ahead of the one being sent: enough to keep the
# entry node busy, few enough that memory stays at a few chunks.
UPLOAD_READ_AHEAD_CHUNKS = 2
# Chunks fetched at once on a download, each by its own thread: two hide one
# round trip, three also hide a replica that is slow to answer.
DOWNLOAD_WINDOW_CHUNKS = 3
MAX_DOWNLOAD_WINDOW_CHUNKS = 16
# The contract's largest chunk (files.chunk_bytes is 64 KiB..4 MiB); a node
# asking for more is refused rather than given that much memory per buffer.
MAX_CHUNK_BYTES = 4 * 1024 * 1024
# A chunk PUT waits while the entry's replication window is full; over slow
# or lossy links (a lesson) that can take a while.
PUT_TIMEOUT_S = 120.0
# The commit waits for the last window of replicas and a Raft commit.
COMMIT_TIMEOUT_S = 180.0
# An upload request answered 503 (an election under way) is sent again for this
# long: an election takes well under a second, a few on a loaded machine.
UNAVAILABLE_RETRY_S = 10.0
UNAVAILABLE_FIRST_PAUSE_S = 0.05
UNAVAILABLE_MAX_PAUSE_S = 1.0
# One chunk GET, from a replica that should answer in milliseconds; a paused
# node is given up on after this and the next replica is tried.
CHUNK_TIMEOUT_S = 10.0
METADATA_TIMEOUT_S = 30.0


class FilesError(ClientError):
    """A file operation that failed; the message says why, for a person."""


class NodeDown(FilesError):
    """The entry node could not be reached when the upload opened: nothing was sent to it
    and nothing read from the source, so another node may take the whole upload."""


class ChunkInfo(TypedDict):
    index: int
    sha256: str
    size_bytes: int
    replicas: list[str]


class FileInfo(TypedDict):
    """``GET /files/<name>``: a committed file with its chunk list."""

    name: str
    size_bytes: int
    chunk_bytes: int
    md5: str
    sha256: str
    version: int
    created_ms: int
    chunks: list[ChunkInfo]


class FileSummary(TypedDict):
    """A committed file without its chunk list (``chunks`` is a count)."""

    name: str
    size_bytes: int
    chunk_bytes: int
    md5: str
    sha256: str
    version: int
    created_ms: int
    chunks: int


NodeMap = Mapping[str, str]  # node id → client address "host:port"


def live_nodes(info: ClusterInfo) -> dict[str, str]:
    """The client addresses of the nodes that are up, the leader first.

    The leader first because metadata reads and commits end there anyway; a
    follower would forward them, one hop more.
    """
    up = [n for n in info["nodes"] if n["state"] == "up" and n["client_addr"]]
    up.sort(key=lambda n: n["id"] != info.get("leader"))
    return {n["id"]: n["client_addr"] for n in up}


def name_path(prefix: str, name: str) -> str:
    """A node path for ``name``: every byte escaped (names may hold '?', '#', '%', spaces)."""
    if not name:
        raise FilesError("a file name must not be empty", 400)
    return prefix + quote(name, safe="")


# -- metadata: any node answers ---------------------------------------------


def file_info(name: str, nodes: NodeMap) -> FileInfo:
    """The committed metadata of ``name`` with its chunk list; FilesError 404 if absent."""
    info = _ask(nodes, "GET", name_path("/files/", name))
    check_info(info)
    return cast(FileInfo, info)


def list_files(nodes: NodeMap) -> dict[str, Any]:
    """``{"files": [FileSummary...], "placement": settings}``."""
    return cast(dict[str, Any], _ask(nodes, "GET", "/files"))


def delete_file(name: str, nodes: NodeMap) -> dict[str, Any]:
    """Delete ``name`` once committed; FilesError 404 if absent."""
    return cast(dict[str, Any], _ask(nodes, "DELETE", name_path("/files/", name)))


def placement(nodes: NodeMap) -> dict[str, Any]:
    """The placement settings, with ``members`` and ``down``."""
    return cast(dict[str, Any], _ask(nodes, "GET", "/placement"))


def set_placement(nodes: NodeMap, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Change strategy / hash / rf / vnodes; returns the settings once committed."""
    return cast(dict[str, Any], _ask(nodes, "PUT", "/placement", json_body=dict(changes)))


def _ask(
    nodes: NodeMap,
    method: str,
    path: str,
    *,
    json_body: Any = None,
    expect: tuple[int, ...] = (200,),
) -> Any:
    """Ask the nodes in order until one answers.

    A request that never reached a node goes to the next one. A GET that got
    no answer, or a 503 (no leader yet), also does: reading twice is safe. A
    change that may have arrived is not resent: its outcome is unknown.
    """
    if not nodes:
        raise FilesError("no node is up to ask", 503)
    failures: list[str] = []
    conns = NodeConnections(METADATA_TIMEOUT_S)
    try:
        for node, addr in nodes.items():
            try:
                reply = conns.request(addr, method, path, json_body=json_body)
            except NodeUnreachable as exc:
                failures.append(f"{node} {exc.reason}")
                if exc.maybe_sent and method != "GET":
                    raise FilesError(
                        f"{node} {exc.reason}; whether the {method} happened is unknown, "
                        "look with 'clusterlab ls'",
                        503,
                    ) from None
                continue
            if reply.status in expect:
                answer = reply.json()
                if answer is None:
                    raise FilesError(f"{node} answered {reply.status} without JSON", 502)
                return answer
            if reply.status == 503 and method == "GET":
                failures.append(f"{node}: {reply.error()}")
                continue
            raise FilesError(reply.error(), reply.status)
    finally:
        conns.close()
    raise FilesError("no node could answer: " + "; ".join(failures), 503)


def check_info(info: Any) -> None:
    """Refuse metadata that would make the download misbehave (a caller-proof check)."""
    try:
        chunk_bytes = int(info["chunk_bytes"])
        sizes = [int(c["size_bytes"]) for c in info["chunks"]]
        ok = (
            0 < chunk_bytes <= MAX_CHUNK_BYTES
            and all(0 < s <= chunk_bytes for s in sizes)
            # every chunk but the last is full: chunk i starts at i × chunk_bytes
            and all(s == chunk_bytes for s in sizes[:-1])
            and [c["index"] for c in info["chunks"]] == list(range(len(sizes)))
            and sum(sizes) == int(info["size_bytes"])
            and all(isinstance(c["sha256"], str) for c in info["chunks"])
        )
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        raise FilesError("a node answered with file metadata that does not add up", 502)


# -- upload ------------------------------------------------------------------


def upload(
    source: Source,
    name: str,
    entry_node_addr: str,
    progress: ProgressCallback | None = None,
    *,
    size_bytes: int | None = None,
    verify: bool = True,
) -> FileSummary:
    """Store ``source`` (a path or a binary stream) as ``name`` through one entry node.

    Returns the committed file's summary. A stream needs ``size_bytes`` unless
    it can seek. With ``verify`` the client hashes each chunk too and checks
    the entry node's answer, so a byte flipped on the way is caught before
    the commit (costs one SHA-256 pass, overlapped with sending).
    Nothing is visible under ``name`` unless this returns: on any failure the
    upload is aborted on the node.
    """
    with ExitStack() as stack:
        stream, total = _open_source(source, size_bytes, stack)
        conns = NodeConnections(PUT_TIMEOUT_S)
        stack.callback(conns.close)
        reply = _upload_call(conns, entry_node_addr, "POST", "/uploads",
                             json_body={"name": name, "size_bytes": total}, expect=201,
                             opening=True)
        upload_id = str(reply["upload_id"])
        chunk_bytes = int(reply["chunk_bytes"])
        if not 0 < chunk_bytes <= MAX_CHUNK_BYTES:
            raise FilesError(f"the entry node asked for {chunk_bytes}-byte chunks; "
                             f"this client handles at most {MAX_CHUNK_BYTES}", 502)
        base = "/uploads/" + quote(upload_id, safe="")
        committed = False
        try:
            _send_chunks(conns, entry_node_addr, base, stream, total, chunk_bytes, verify,
                         progress)
            summary = _upload_call(conns, entry_node_addr, "POST", base + "/commit",
                                   expect=201, read_timeout_s=COMMIT_TIMEOUT_S)
            committed = True
            return cast(FileSummary, summary)
        finally:
            if not committed:
                _abort(conns, entry_node_addr, base)
    raise AssertionError("unreachable")  # pragma: no cover  (mypy: ExitStack may swallow)


def _open_source(source: Source, size_bytes: int | None, stack: ExitStack) -> tuple[BinaryIO, int]:
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            # unbuffered: readinto goes straight from the file into our buffer
            stream = cast(BinaryIO, stack.enter_context(open(path, "rb", buffering=0)))  # noqa: SIM115
        except FileNotFoundError:
            raise FilesError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise FilesError(f"{path} is a directory; give a file") from None
        except PermissionError:
            raise FilesError(f"{path}: permission denied") from None
        return stream, os.fstat(stream.fileno()).st_size
    if size_bytes is None:
        if not source.seekable():
            raise FilesError("the size of a stream that cannot seek must be given")
        here = source.tell()
        size_bytes = source.seek(0, os.SEEK_END) - here
        source.seek(here)
    return source, size_bytes


def _read_full(stream: BinaryIO, view: memoryview) -> int:
    """Fill ``view`` from ``stream``; fewer bytes only at the end of the stream."""
    readinto = getattr(stream, "readinto", None)
    got = 0
    while got < len(view):
        if readinto is not None:
            n = readinto(view[got:]) or 0
        else:
            data = stream.read(len(view) - got)
            n = len(data)
            view[got : got + n] = data
        if not n:
            break
        got += n
    return got


def _send_chunks(
    conns: NodeConnections,
    addr: str,
    base: str,
    stream: BinaryIO,
    total: int,
    chunk_bytes: int,
    verify: bool,
    progress: ProgressCallback | None,
) -> None:
    count = -(-total // chunk_bytes)
    buffers = [bytearray(chunk_bytes) for _ in range(min(count, UPLOAD_READ_AHEAD_CHUNKS + 1))]

    def read(index: int, buffer: bytearray) -> tuple[int, memoryview, str | None, bytearray]:
        size = min(chunk_bytes, total - index * chunk_bytes)
        view = memoryview(buffer)[:size]
        got = _read_full(stream, view)
        if got != size:
            raise FilesError(f"the source ended after {index * chunk_bytes + got} of {total} "
                             "bytes (did the file change while it was read?)")
        if index == count - 1 and _read_full(stream, memoryview(bytearray(1))):
            raise FilesError(f"the source is longer than the {total} bytes announced "
                             "(did the file grow while it was read?)")
        # hashlib releases the GIL on big buffers: this overlaps the PUT of the previous chunk
        return index, view, hashlib.sha256(view).hexdigest() if verify else None, buffer

    done = 0
    pending: deque[Future[tuple[int, memoryview, str | None, bytearray]]] = deque()
    # one reader thread: a stream is read in order
    reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="upload-read")
    try:
        next_index = 0
        while next_index < count and buffers:
            pending.append(reader.submit(read, next_index, buffers.pop()))
            next_index += 1
        while pending:
            index, view, sha, buffer = pending.popleft().result()
            answer = _upload_call(conns, addr, "PUT", f"{base}/{index}", body=view, expect=200,
                                  what=f"chunk {index}")
            if sha is not None and answer.get("sha256") != sha:
                raise FilesError(f"chunk {index} arrived damaged: the entry node hashed it to "
                                 f"{answer.get('sha256')}, this client to {sha}", 502)
            done += len(view)
            view.release()
            if next_index < count:
                pending.append(reader.submit(read, next_index, buffer))
                next_index += 1
            if progress is not None:
                progress(done, total)
    finally:
        reader.shutdown(wait=True, cancel_futures=True)


def _upload_call(
    conns: NodeConnections,
    addr: str,
    method: str,
    path: str,
    *,
    body: memoryview | None = None,
    json_body: Any = None,
    expect: int,
    read_timeout_s: float | None = None,
    what: str = "",
    opening: bool = False,
) -> dict[str, Any]:
    deadline_s = time.monotonic() + UNAVAILABLE_RETRY_S
    pause_s = UNAVAILABLE_FIRST_PAUSE_S
    while True:
        try:
            reply = conns.request(addr, method, path, body, json_body=json_body,
                                  read_timeout_s=read_timeout_s)
        except NodeUnreachable as exc:
            # Only the opening request can move to another node: after it, the
            # stream has been partly read.
            error = NodeDown if opening and not exc.maybe_sent else FilesError
            raise error(f"the entry node {exc}", 503) from None
        # 503: no leader (an election), or too few live nodes for a moment. The
        # node took nothing of the request (a commit's outcome is unknown, and
        # a retried commit applies once), so the same request can go again.
        if reply.status != 503 or time.monotonic() + pause_s > deadline_s:
            break
        time.sleep(pause_s)
        pause_s = min(2 * pause_s, UNAVAILABLE_MAX_PAUSE_S)
    if reply.status != expect:
        prefix = f"{what}: " if what else ""
        raise FilesError(prefix + reply.error(), reply.status)
    answer = reply.json()
    if not isinstance(answer, dict):
        raise FilesError(f"the entry node {addr} answered {reply.status} without a JSON object",
                         502)
    return answer


def _abort(conns: NodeConnections, addr: str, base: str) -> None:
    """Best effort: the node also abandons an idle upload by itself."""
    with suppress(NodeUnreachable):
        conns.request(addr, "DELETE", base, read_timeout_s=5.0)


# -- download ----------------------------------------------------------------

# A worker's part of one chunk: fill the view from a replica (and maybe more).
ChunkJob = Callable[[NodeConnections, ChunkInfo, memoryview], None]


def _in_order(info: FileInfo, window: int, job: ChunkJob) -> Generator[memoryview, None, None]:
    """Run ``job`` on every chunk, ``window`` at a time on worker threads; yield them in order.

    ``window`` jobs stay in flight while the consumer works on the chunk it
    was given, so memory is ``window + 1`` buffers whatever the file size.
    Each yielded view is only valid until the next one is asked for: its
    buffer is reused for a later chunk.
    """
    check_info(info)
    if not 1 <= window <= MAX_DOWNLOAD_WINDOW_CHUNKS:
        raise ValueError(f"window must be 1..{MAX_DOWNLOAD_WINDOW_CHUNKS}, got {window}")
    chunks = info["chunks"]
    if not chunks:
        return
    per_thread = threading.local()
    opened: list[NodeConnections] = []
    lock = threading.Lock()

    def connections() -> NodeConnections:
        conns: NodeConnections | None = getattr(per_thread, "conns", None)
        if conns is None:
            conns = NodeConnections(CHUNK_TIMEOUT_S)
            per_thread.conns = conns
            with lock:
                opened.append(conns)
        return conns

    def run(chunk: ChunkInfo, buffer: bytearray) -> memoryview:
        view = memoryview(buffer)[: chunk["size_bytes"]]
        job(connections(), chunk, view)
        return view

    free: list[bytearray] = []
    pending: deque[tuple[Future[memoryview], bytearray]] = deque()
    pool = ThreadPoolExecutor(max_workers=window, thread_name_prefix="chunk-fetch")
    finished = False  # every job done: the workers' connections can be closed
    try:
        next_index = 0

        def submit() -> None:
            nonlocal next_index
            buffer = free.pop() if free else bytearray(info["chunk_bytes"])
            pending.append((pool.submit(run, chunks[next_index], buffer), buffer))
            next_index += 1

        while next_index < min(window, len(chunks)):
            submit()
        while pending:
            future, buffer = pending.popleft()
            view = future.result()
            # Refill the window before handing this chunk out: the workers keep
            # the network busy while the consumer hashes it.
            if next_index < len(chunks):
                submit()
            yield view
            view.release()
            free.append(buffer)
        finished = True
    finally:
        # Abandoned (an error, or the consumer stopped): do not wait for
        # jobs in flight; waking their reads makes the workers end soon.
        pool.shutdown(wait=finished, cancel_futures=True)
        with lock:
            for conns in opened:
                if finished:
                    conns.close()
                else:
                    conns.abort()


def iter_chunks(
    info: FileInfo, nodes: NodeMap, *, window: int = DOWNLOAD_WINDOW_CHUNKS
) -> Iterator[memoryview]:
    """The file's chunks in order, each verified, fetched ``window`` at a time.

    For a consumer that passes bytes on before the whole file can be checked
    (the backend streaming to a browser): every chunk is hashed on arrival,
    and a wrong one is fetched again from the next replica at once. Each
    yielded view is only valid until the next one is asked for. Raises
    FilesError (503) naming every replica's reason when no replica of a
    chunk can serve it.
    """

    def fetch(conns: NodeConnections, chunk: ChunkInfo, view: memoryview) -> None:
        fetch_chunk(conns, chunk, nodes, view)

    yield from _in_order(info, window, fetch)


def fetch_chunk(
    conns: NodeConnections,
    chunk: ChunkInfo,
    nodes: NodeMap,
    view: memoryview,
    *,
    verify: bool = True,
) -> str:
    """Read one chunk into ``view`` from the first replica that gives the right bytes.

    Replicas are tried in the metadata's order (the placement's primary
    first); returns the node that served it. With ``verify=False`` the
    caller checks the bytes later (``download`` hashes the whole file): then
    a refusal, a wrong length or a lost connection still moves on to the
    next replica, a wrong byte is found by the caller.
    """
    sha = chunk["sha256"]
    path = "/chunks/" + quote(sha, safe="")
    failures: list[str] = []
    for node in chunk["replicas"]:
        addr = nodes.get(node)
        if addr is None:
            failures.append(f"{node} is not up")
            continue
        try:
            got = conns.get_into(addr, path, view)
        except NodeUnreachable as exc:
            failures.append(f"{node} {exc.reason}")
            continue
        if isinstance(got, NodeReply):
            failures.append(f"{node} {_chunk_refusal(got)}")
            continue
        if verify and hashlib.sha256(view).hexdigest() != sha:
            failures.append(f"{node} sent bytes whose sha256 does not match")
            continue
        return node
    if not chunk["replicas"]:
        failures.append("the metadata lists no replica")
    raise FilesError(
        f"chunk {chunk['index']} ({sha[:12]}…) could not be read: " + "; ".join(failures), 503
    )


def _chunk_refusal(reply: NodeReply) -> str:
    if reply.status == 404:
        return "does not hold it"
    if reply.status == 409:
        return "found its copy corrupt (quarantined, being repaired)"
    if reply.status == 200:
        return f"sent a wrong length ({reply.body.decode(errors='replace')})"
    return f"answered {reply.status}: {reply.error()}"


def download(
    name: str,
    nodes: NodeMap,
    out_path: str | os.PathLike[str],
    progress: ProgressCallback | None = None,
    *,
    info: FileInfo | None = None,
    window: int = DOWNLOAD_WINDOW_CHUNKS,
) -> FileInfo:
    """Fetch ``name`` into ``out_path``; returns its metadata once the whole file verified.

    Each byte is hashed once here, for the whole file's SHA-256: the node
    that served a chunk has just verified it against its name (verify-on-read),
    and a chunk spoiled after that (on the wire, by a faulty node) makes the
    whole-file check fail. Only then is each chunk of the written file
    hashed, and a wrong one fetched again, verified, from the replicas in
    order; so the file is right or the download fails, as when every chunk
    is hashed on arrival, at half the client's hashing.

    The workers receive each chunk into a reused buffer and write it at its
    offset; this thread hashes the chunks in order meanwhile (hashlib
    releases the GIL, so on two cores it runs beside the network and the
    node's own verification). The bytes go to ``out_path + ".part"``,
    renamed only after the whole file's SHA-256 matched, so ``out_path`` is
    either the complete file or untouched. No fsync: a download can always
    be repeated, unlike an upload, and fsync would cost as much as the transfer.
    """
    meta = info if info is not None else file_info(name, nodes)
    check_info(meta)
    out = Path(out_path)
    if out.is_dir():
        raise FilesError(f"{out} is a directory; give a file path")
    part_path = out.with_name(out.name + ".part")
    total = meta["size_bytes"]
    chunk_bytes = meta["chunk_bytes"]
    whole = hashlib.sha256()
    done = 0
    try:
        part = _PartFile(part_path)
        try:

            def fetch_and_write(conns: NodeConnections, chunk: ChunkInfo, view: memoryview) -> None:
                fetch_chunk(conns, chunk, nodes, view, verify=False)
                part.write_at(view, chunk["index"] * chunk_bytes)

            # closing(): on an error the workers are stopped here, before the file closes.
            with closing(_in_order(meta, window, fetch_and_write)) as chunks:
                for view in chunks:
                    whole.update(view)
                    done += len(view)
                    if progress is not None:
                        progress(done, total)
            if whole.hexdigest() != meta["sha256"]:
                digest = _replace_wrong_chunks(meta, nodes, part)
                if digest != meta["sha256"]:
                    raise FilesError(
                        f"{name}: every chunk verified but the whole file's sha256 is "
                        f"{digest}, not {meta['sha256']}; nothing was written", 502
                    )
        finally:
            part.close()
        os.replace(part_path, out)
    except BaseException:
        part_path.unlink(missing_ok=True)
        raise
    return meta


class _PartFile:
    """The ``.part`` file that fetch workers write into, each chunk at its offset.

    An abandoned download does not wait for its workers (one may be waiting
    on a paused replica), so a worker can finish after the file is closed;
    its write must not land in whatever file reused the descriptor number.
    Closing and writing therefore take one lock, and a write after the close
    writes nothing.
    """

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        self._lock = threading.Lock()
        self._closed = False

    def write_at(self, view: memoryview, offset: int) -> None:
        with self._lock:
            if self._closed:
                raise FilesError("the download was abandoned")
            written = 0
            while written < len(view):
                written += os.pwrite(self._fd, view[written:], offset + written)

    def read_at(self, view: memoryview, offset: int) -> int:
        with self._lock:
            return os.preadv(self._fd, [view], offset)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                os.close(self._fd)


def _replace_wrong_chunks(meta: FileInfo, nodes: NodeMap, part: _PartFile) -> str:
    """After a whole-file mismatch: hash every chunk as written, fetch each wrong one
    again (verified, from its replicas in order); returns the new whole-file SHA-256.

    Costs one more read and hash of the file, only on this rare path.
    """
    whole = hashlib.sha256()
    buffer = bytearray(meta["chunk_bytes"])
    conns = NodeConnections(CHUNK_TIMEOUT_S)
    try:
        for chunk in meta["chunks"]:
            offset = chunk["index"] * meta["chunk_bytes"]
            view = memoryview(buffer)[: chunk["size_bytes"]]
            if part.read_at(view, offset) != len(view) or (
                hashlib.sha256(view).hexdigest() != chunk["sha256"]
            ):
                fetch_chunk(conns, chunk, nodes, view)  # raises when no replica has it right
                part.write_at(view, offset)
            whole.update(view)
            view.release()
    finally:
        conns.close()
    return whole.hexdigest()

