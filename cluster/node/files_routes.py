"""The files API on a node's client port: uploads, file metadata, chunks, placement.

Clients upload through one entry node (``/uploads``), read metadata from any
node (``/files``) and download each chunk straight from a replica
(``/chunks/<sha256>``), as HDFS clients do: the bytes never pass through a
node that does not hold them, and never through the dashboard's backend.

::

    POST   /uploads                    {"name", "size_bytes"} → 201 upload_id, chunk_bytes, rf
    PUT    /uploads/<id>/<index>       chunk bytes, in order → 200 index, sha256, replicas
    POST   /uploads/<id>/commit        → 201 the file (once RF copies + Raft commit)
    DELETE /uploads/<id>               → 204 (abort)
    GET    /files[?consistency=stale]  → {"files": [...], "placement": {...}}
    GET    /files/<name>               → the file with its chunks and their replicas
    DELETE /files/<name>               → {"name", "version"}
    GET    /chunks/<sha256>            → the bytes, verified (404 not here, 409 corrupt)
    GET    /placement                  → settings + members + down
    PUT    /placement                  {"strategy"?, "hash"?, "rf"?, "vnodes"?} → settings

Errors are ``{"error": "<for a person>"}`` with the status FilesError carries.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from cluster.core.files.meta import PlacementSettings, is_sha256_hex
from cluster.core.files.names import check_name
from cluster.core.files.plan import effective_rf
from cluster.node.chunk_store import ChunkCorrupt
from cluster.node.files_service import FilesError, FilesService
from cluster.node.http import Request, Response, Router, error_response, json_response

CONSISTENCIES = ("linearizable", "stale")
MAX_INDEX_DIGITS = 6  # MAX_FILE_CHUNKS has 4; anything longer is not an index


def add_files_routes(router: Router, files: FilesService) -> None:
    async def open_upload(request: Request) -> Response:
        body = _json_object(request)
        upload = files.open_upload(body.get("name"), body.get("size_bytes"))
        return json_response(
            {
                "upload_id": upload.upload_id,
                "name": upload.name,
                "size_bytes": upload.size_bytes,
                "chunk_bytes": upload.chunk_bytes,
                "chunks": upload.chunks_total,
                "rf": effective_rf(files.placement(), files.members()),
            },
            201,
        )

    async def upload_put(request: Request) -> Response:
        upload_id, index_text = _split_upload_path(request.params["rest"])
        if not index_text.isdigit() or len(index_text) > MAX_INDEX_DIGITS:
            raise FilesError(404, f"no such path: {request.path}")
        return json_response(await files.put_chunk(upload_id, int(index_text), request.body))

    async def upload_commit(request: Request) -> Response:
        upload_id, action = _split_upload_path(request.params["rest"])
        if action != "commit":
            raise FilesError(404, f"no such path: {request.path}")
        meta = await files.commit_upload(upload_id)
        return json_response(meta.to_json(with_chunks=False), 201)

    async def upload_abort(request: Request) -> Response:
        upload_id = request.params["rest"]
        if "/" in upload_id:
            raise FilesError(404, f"no such path: {request.path}")
        files.abort_upload(upload_id)
        return Response(204, content_type="text/plain")

    async def list_files(request: Request) -> Response:
        await _barrier(files, request)
        return json_response(
            {
                "files": [meta.to_json(with_chunks=False) for meta in files.files()],
                "placement": files.placement().to_json(),
            }
        )

    async def get_file(request: Request) -> Response:
        name = _name(request)
        await _barrier(files, request)
        meta = files.file(name)
        if meta is None:
            raise FilesError(404, f"no file named {name!r}")
        return json_response(meta.to_json(with_chunks=True))

    async def delete_file(request: Request) -> Response:
        name = _name(request)
        version = await files.delete_file(name)
        return json_response({"name": name, "version": version})

    async def get_chunk(request: Request) -> Response:
        sha256 = request.params["sha256"]
        if not is_sha256_hex(sha256):
            raise FilesError(400, "a chunk is named by its SHA-256: 64 lower-case hex digits")
        try:
            # Read and verified into a lent buffer, which the server gives back
            # once the socket has taken every byte: no allocation, no extra copy.
            lent = await files.store.read_lent(sha256)
        except ChunkCorrupt:
            await files.transfers.drop_corrupt(sha256)
            return error_response(409, "corrupt")
        if lent is None:
            raise FilesError(404, f"chunk {sha256[:12]} is not held by {files.node.id}")
        files.node.counters["chunks_served_http"] += 1
        return Response(200, lent.view, "application/octet-stream", sent=lent.give_back)

    async def get_placement(_request: Request) -> Response:
        return json_response(_placement_view(files))

    async def put_placement(request: Request) -> Response:
        # The committed settings themselves: this node may not have applied them yet.
        settings = await files.set_placement(_json_object(request))
        return json_response(_placement_view(files, settings))

    routes: list[tuple[str, str, Callable[[Request], Awaitable[Response]]]] = [
        ("POST", "/uploads", open_upload),
        ("PUT", "/uploads/<rest>", upload_put),
        ("POST", "/uploads/<rest>", upload_commit),
        ("DELETE", "/uploads/<rest>", upload_abort),
        ("GET", "/files", list_files),
        ("GET", "/files/<name>", get_file),
        ("DELETE", "/files/<name>", delete_file),
        ("GET", "/chunks/<sha256>", get_chunk),
        ("GET", "/placement", get_placement),
        ("PUT", "/placement", put_placement),
    ]
    for method, pattern, handler in routes:
        router.add(method, pattern, _answering_errors(handler))


def _answering_errors(
    handler: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    async def answer(request: Request) -> Response:
        try:
            return await handler(request)
        except FilesError as exc:
            return error_response(exc.status, exc.message)

    return answer


def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = request.json()
    except ValueError:
        raise FilesError(400, "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise FilesError(400, "the body must be a JSON object")
    return body


def _split_upload_path(rest: str) -> tuple[str, str]:
    upload_id, sep, tail = rest.partition("/")
    if not sep or not upload_id or "/" in tail:
        raise FilesError(404, f"no such path: /uploads/{rest[:80]}")
    return upload_id, tail


def _name(request: Request) -> str:
    name = request.params["name"]
    try:
        return check_name(name)
    except ValueError as exc:
        raise FilesError(400, str(exc)) from None


async def _barrier(files: FilesService, request: Request) -> None:
    consistency = request.query.get("consistency", "linearizable")
    if consistency not in CONSISTENCIES:
        raise FilesError(400, f"consistency must be one of {', '.join(CONSISTENCIES)}")
    if consistency == "linearizable":
        await files.read_barrier()


def _placement_view(
    files: FilesService, settings: PlacementSettings | None = None
) -> dict[str, Any]:
    view = (settings or files.placement()).to_json()
    view["members"] = list(files.members())
    view["down"] = sorted(files.unreachable())
    return view
