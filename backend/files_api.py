"""REST for the hash-placed file store: upload, list, download, delete, placement.

The browser's Files panel, the ring view and curl use these; the
``clusterlab`` command talks to the nodes directly instead (files_cli.py).
Every state-changing call needs the instructor token, like the fault
buttons: an upload fills the students' disks, a placement change moves
data. Reading is open to anyone watching.

    POST   /api/files                 multipart field "file", or a raw body with ?name=
                                      (?name= also renames a multipart upload; ?node= picks
                                      the entry node) → 201 summary + "node"      [token]
    GET    /api/files                 {"files": [summary...], "placement": settings, "node"}
    GET    /api/files/<name>          the bytes, streamed (Content-Length,
                                      Content-Disposition, X-Content-SHA256, X-Content-MD5)
    DELETE /api/files/<name>          {"name", "version", "node"}                [token]
    GET    /api/files/<name>/placement  the metadata with its chunks; per chunk also
                                      "position" (0..1 on the ring of the current hash),
                                      "health" {node: "ok"|"missing"|"down"} per listed
                                      replica, "desired" (where the placement wants it),
                                      "ok_replicas", "under_replicated"; plus "placement"
    GET    /api/placement             settings + "members", "down", "effective_rf",
                                      "tokens" [{node, position, vnode}] (consistent only)
    PUT    /api/placement             {"strategy"?, "hash"?, "rf"?, "vnodes"?} → settings [token]
    GET    /api/placement/compare     per strategy: balance and keys moved on a join and a
                                      leave, on the cluster's real chunk keys (placement_view.py)

Errors are ``{"error": ...}``: 400 bad name, empty file, bad settings; 401
token; 404 no such file; 411 a raw upload without Content-Length; 413 a
file over the cluster's limit; 503 no node or no replica reachable; 507 not
enough free space; the node's own status and sentence when a node refused.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

from flask import Blueprint, Response, current_app, request
from flask.blueprints import BlueprintSetupState
from werkzeug.http import quote_header_value

from backend.auth import require_token
from backend.chunk_health import ChunkHealth
from backend.errors import ApiError, json_object
from backend.files_gateway import FilesGateway, file_path
from backend.kv_api import EXTENSION as KV_EXTENSION
from backend.kv_api import KvServices
from backend.kv_gateway import GatewayError, NodeAnswer
from backend.placement_view import compare_report, position, ring_tokens, settings_from
from backend.services import EXTENSION_KEY, Services, services
from cluster.client.files import FileInfo, FilesError, check_info
from cluster.core.files.meta import MAX_FILE_CHUNKS, PlacementSettings
from cluster.core.files.names import check_name
from cluster.core.files.plan import desired_replicas, effective_rf

log = logging.getLogger(__name__)

bp = Blueprint("files", __name__, url_prefix="/api")

EXTENSION = "clusterlab.files"
# A multipart body is the file plus boundaries and part headers: a few
# hundred bytes; this much slack before refusing by Content-Length alone.
MULTIPART_SLACK_BYTES = 64 * 1024
# Files whose chunk lists are read for the comparison; past this the
# comparison uses the chunks of the first ones (each is one node request).
MAX_COMPARE_FILES = 200


@dataclass
class FilesServices:
    gateway: FilesGateway
    health: ChunkHealth
    kv: KvServices


def _setup(setup: BlueprintSetupState) -> None:
    app = setup.app
    if KV_EXTENSION not in app.extensions:
        raise RuntimeError("register the kv blueprint before the files blueprint")
    kv: KvServices = app.extensions[KV_EXTENSION]
    health = ChunkHealth()
    found: Services = app.extensions[EXTENSION_KEY]
    found.hub.add_listener(health.on_batch)
    app.extensions[EXTENSION] = FilesServices(FilesGateway(kv.gateway), health, kv)


bp.record_once(_setup)


def files_services() -> FilesServices:
    found: FilesServices = current_app.extensions[EXTENSION]
    return found


# -- talking to nodes ----------------------------------------------------------


def _ask(method: str, path: str, **kwargs: Any) -> NodeAnswer:
    try:
        return files_services().gateway.ask(method, path, **kwargs)
    except GatewayError as exc:
        raise ApiError(exc.status, exc.message) from None


def _ok(answer: NodeAnswer, *statuses: int) -> dict[str, Any]:
    """The node's JSON body if its status is one of ``statuses``; else its refusal, relayed."""
    if answer.status not in (statuses or (200,)):
        message = answer.body.get("error") or f"{answer.node} answered {answer.status}"
        raise ApiError(answer.status, str(message))
    return answer.body


def _files_error(exc: FilesError) -> ApiError:
    return ApiError(exc.status or 503, str(exc))


def _entry_node() -> str | None:
    node = request.args.get("node")
    if node is not None and not node:
        raise ApiError(400, "node must be a node id such as 'n3', or left out")
    return node


def _checked_name(name: str) -> str:
    try:
        return check_name(name)
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None


def _max_file_bytes() -> int:
    """The largest file the metadata can describe: MAX_FILE_CHUNKS chunks of the run's size."""
    return services().cluster.files_chunk_bytes * MAX_FILE_CHUNKS


@dataclass(frozen=True)
class _Placement:
    """A node's ``GET /placement``, parsed."""

    settings: PlacementSettings
    members: list[str]  # the Raft voters chunks are placed on
    down: list[str]  # members the leader has not heard from for longer than the grace
    body: dict[str, Any]
    node: str


def _placement() -> _Placement:
    answer = _ask("GET", "/placement")
    body = _ok(answer)
    try:
        return _Placement(
            settings_from(body),
            [str(m) for m in body.get("members") or []],
            [str(d) for d in body.get("down") or []],
            body,
            answer.node,
        )
    except (ValueError, TypeError) as exc:
        raise ApiError(
            502, f"a node answered with placement settings that do not parse: {exc}"
        ) from None


# -- files ----------------------------------------------------------------------


@bp.get("/files")
def list_files() -> dict[str, Any]:
    answer = _ask("GET", "/files", params=_consistency_params())
    body = _ok(answer)
    return {**body, "node": answer.node}


@bp.post("/files")
@require_token
def upload() -> tuple[dict[str, Any], int]:
    max_bytes = _max_file_bytes()
    stream: BinaryIO
    if request.mimetype == "multipart/form-data":
        if (request.content_length or 0) > max_bytes + MULTIPART_SLACK_BYTES:
            raise ApiError(413, f"a file is at most {max_bytes} bytes in this cluster")
        # Werkzeug spools a multipart file to a temporary file past 500 KB.
        storage = request.files.get("file")
        if storage is None:
            raise ApiError(400, 'a multipart upload needs its file in a field named "file"')
        # Old browsers send a whole client path; keep its last part.
        sent_name = (storage.filename or "").replace("\\", "/").rsplit("/", 1)[-1]
        name = request.args.get("name") or sent_name
        stream = cast(BinaryIO, storage.stream)
        size_bytes = stream.seek(0, os.SEEK_END)
        stream.seek(0)
    else:
        name = request.args.get("name") or ""
        if not name:
            raise ApiError(400, "a raw upload needs its name: POST /api/files?name=NAME")
        chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        if chunked:
            # the entry node must know the size first (free space, chunk count)
            raise ApiError(411, "send the file with a Content-Length, not chunked")
        size_bytes = request.content_length or 0
        stream = cast(BinaryIO, request.stream)
    _checked_name(name)
    if size_bytes == 0:
        raise ApiError(400, f"{name}: the file is empty; there is nothing to store")
    if size_bytes > max_bytes:
        raise ApiError(413, f"{name}: {size_bytes} bytes; a file is at most {max_bytes} bytes "
                            "in this cluster")
    try:
        summary, entry = files_services().gateway.upload(stream, name, size_bytes,
                                                         _entry_node())
    except FilesError as exc:
        raise _files_error(exc) from None
    except GatewayError as exc:
        raise ApiError(exc.status, exc.message) from None
    return {**summary, "node": entry}, 201


def _consistency_params() -> dict[str, str]:
    """``?consistency=stale`` passed on: the dashboard's refreshes read the entry
    node's own state machine instead of costing a Raft round each."""
    if "consistency" in request.args:
        return {"consistency": request.args["consistency"]}
    return {}


def _file_info(name: str) -> FileInfo:
    body = _ok(_ask("GET", file_path(_checked_name(name)), params=_consistency_params()))
    try:
        check_info(body)
    except FilesError as exc:
        raise _files_error(exc) from None
    return cast(FileInfo, body)


@bp.get("/files/<name>")
def download(name: str) -> Response:
    info = _file_info(name)
    chunks = files_services().gateway.download(info)
    try:
        # Fetch the first chunks now: if no replica can serve them, the answer
        # is still a clear 503, not a 200 that breaks off.
        first = next(chunks, b"")
    except FilesError as exc:
        raise _files_error(exc) from None
    client_socket = request.environ.get("werkzeug.socket")

    def body() -> Iterator[bytes]:
        try:
            yield first
            yield from chunks
        except FilesError as exc:
            # The status line is sent; the only honest signal left is to cut
            # the connection, so the client sees fewer bytes than announced.
            log.warning("download of %s broken off: %s", name, exc)
            if isinstance(client_socket, socket.socket):
                client_socket.shutdown(socket.SHUT_RDWR)

    response = Response(body(), mimetype="application/octet-stream", direct_passthrough=True)
    response.headers["Content-Length"] = str(info["size_bytes"])
    response.headers["Content-Disposition"] = content_disposition(name)
    response.headers["X-Content-SHA256"] = info["sha256"]
    response.headers["X-Content-MD5"] = info["md5"]
    return response


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback and the exact name (RFC 6266 / 5987)."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    exact = "".join(
        c if c.isascii() and (c.isalnum() or c in "!#$&+-.^_`|~") else
        "".join(f"%{b:02X}" for b in c.encode("utf-8"))
        for c in name
    )
    return f"attachment; filename={quote_header_value(fallback)}; filename*=UTF-8''{exact}"


@bp.delete("/files/<name>")
@require_token
def delete(name: str) -> dict[str, Any]:
    answer = _ask("DELETE", file_path(_checked_name(name)))
    return {**_ok(answer), "node": answer.node}


@bp.get("/files/<name>/placement")
def file_placement(name: str) -> dict[str, Any]:
    info = cast(dict[str, Any], _file_info(name))
    found = _placement()
    settings, members, down = found.settings, found.members, found.down
    states = files_services().kv.gateway.states()
    health = files_services().health
    rf = effective_rf(settings, members) if members else 0
    for chunk in info["chunks"]:
        sha = chunk["sha256"]
        chunk["position"] = position(settings, sha)
        chunk["health"] = {r: health.health(r, sha, states.get(r)) for r in chunk["replicas"]}
        chunk["desired"] = desired_replicas(settings, members, down, sha) if members else []
        chunk["ok_replicas"] = sum(1 for h in chunk["health"].values() if h == "ok")
        chunk["under_replicated"] = chunk["ok_replicas"] < rf
    info["placement"] = {**settings.to_json(), "members": members, "down": down,
                         "effective_rf": rf}
    info["under_replicated"] = sum(1 for c in info["chunks"] if c["under_replicated"])
    return info


# -- placement -------------------------------------------------------------------


@bp.get("/placement")
def get_placement() -> dict[str, Any]:
    found = _placement()
    settings, members = found.settings, found.members
    return {
        **found.body,
        **settings.to_json(),
        "members": members,
        "down": found.down,
        "effective_rf": effective_rf(settings, members) if members else 0,
        "tokens": ring_tokens(settings, members),
        "node": found.node,
    }


@bp.put("/placement")
@require_token
def put_placement() -> dict[str, Any]:
    changes = json_object()
    answer = _ask("PUT", "/placement", json_body=changes)
    return {**_ok(answer), "node": answer.node}


@bp.get("/placement/compare")
def compare() -> dict[str, Any]:
    found = _placement()
    if not found.members:
        raise ApiError(503, "the cluster has no members to place chunks on yet")
    listing = _ok(_ask("GET", "/files", params={"consistency": "stale"}))
    keys: list[str] = []
    names = [str(f.get("name")) for f in listing.get("files") or []][:MAX_COMPARE_FILES]
    for name in names:
        answer = _ask("GET", file_path(name), params={"consistency": "stale"})
        if answer.status == 404:
            continue  # deleted since the listing
        keys.extend(str(c["sha256"]) for c in _ok(answer).get("chunks") or [])
    report = compare_report(found.settings, found.members, keys)
    report["files"] = len(names)
    return report
