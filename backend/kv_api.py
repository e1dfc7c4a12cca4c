"""REST for the replicated key-value store, Raft's state, and membership changes.

``/api/kv/<key>`` forwards to a node's client port (kv_gateway.py): anyone
may read, but a write (PUT, DELETE) needs the instructor token, like every
request that changes the cluster (a room of students watching must not be
able to change what the instructor shows); the dashboard's KV panel, the
``clusterlab kv`` command and lessons use it. ``/api/members`` adds or
removes a node (members.py) and needs the token too. ``/api/raft`` gives a page
that connects late every node's Raft state and log tail at once.

docs/api-backend-kv.md is the reference for these endpoints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, current_app, request
from flask.blueprints import BlueprintSetupState

from backend.auth import require_token
from backend.errors import ApiError, json_object
from backend.kv_gateway import SESSION_HEADERS, GatewayError, KvGateway, NodeAnswer, key_path
from backend.members import Members, MembersError
from backend.raft_view import RaftView
from backend.services import EXTENSION_KEY, Services, services

bp = Blueprint("kv", __name__, url_prefix="/api")

EXTENSION = "clusterlab.kv"
CONSISTENCIES = ("linearizable", "stale")
# The nodes' limits (cluster/core/kv.py), checked here too so an oversized
# request is refused before it is copied to a node.
MAX_KEY_CHARS = 1024
MAX_VALUE_BYTES = 1024 * 1024


@dataclass
class KvServices:
    raft: RaftView
    gateway: KvGateway
    members: Members


def _setup(setup: BlueprintSetupState) -> None:
    # At registration, before any telemetry arrives: the Raft view must see
    # every node's first RaftState.
    app = setup.app
    found: Services = app.extensions[EXTENSION_KEY]
    hub = found.hub
    raft = RaftView(hub.view)
    hub.add_listener(raft.on_batch)
    gateway = KvGateway(hub.view, raft)
    members = Members(hub.view, raft, gateway, hub.send_command, found.cluster.nodes)
    app.extensions[EXTENSION] = KvServices(raft, gateway, members)


bp.record_once(_setup)


def kv() -> KvServices:
    found: KvServices = current_app.extensions[EXTENSION]
    return found


def _checked_key(key: str) -> str:
    if not 0 < len(key) <= MAX_KEY_CHARS:
        raise ApiError(400, f"a key is 1 to {MAX_KEY_CHARS} characters, got {len(key)}")
    return key


def _entry_node() -> str | None:
    node = request.args.get("node")
    if node is not None and not node:
        raise ApiError(400, "node must be a node id such as 'n3', or left out")
    return node


def _session_headers() -> dict[str, str]:
    return {h: request.headers[h] for h in SESSION_HEADERS if h in request.headers}


def _forward(method: str, path: str, **kwargs: Any) -> NodeAnswer:
    try:
        return kv().gateway.request(method, path, _entry_node(), **kwargs)
    except GatewayError as exc:
        raise ApiError(exc.status, exc.message) from None


def _reply(answer: NodeAnswer, fields: tuple[str, ...], key: str) -> tuple[dict[str, Any], int]:
    """The node's answer, trimmed to the documented fields plus the node that served it."""
    body = answer.body
    if answer.status == 200:
        out = {f: body[f] for f in fields if f in body}
    else:
        out = {"error": body.get("error") or f"{answer.node} answered {answer.status}"}
    out["key"] = key
    out["node"] = answer.node
    return out, answer.status


@bp.put("/kv/<path:key>")
@require_token
def put(key: str) -> tuple[dict[str, Any], int]:
    _checked_key(key)
    if (request.content_length or 0) > MAX_VALUE_BYTES:
        raise ApiError(413, f"a value is at most {MAX_VALUE_BYTES} bytes")
    value = request.get_data(cache=False)
    if len(value) > MAX_VALUE_BYTES:
        raise ApiError(413, f"a value is at most {MAX_VALUE_BYTES} bytes")
    answer = _forward("PUT", key_path(key), body=value, headers=_session_headers())
    return _reply(answer, ("key", "value", "index", "term"), key)


@bp.get("/kv/<path:key>")
def get(key: str) -> tuple[dict[str, Any], int]:
    _checked_key(key)
    consistency = request.args.get("consistency", "linearizable")
    if consistency not in CONSISTENCIES:
        raise ApiError(
            400, f"consistency must be one of {', '.join(CONSISTENCIES)}, got {consistency!r}"
        )
    answer = _forward("GET", key_path(key), params={"consistency": consistency})
    out, status = _reply(answer, ("key", "value", "applied_index"), key)
    out["consistency"] = consistency
    return out, status


@bp.delete("/kv/<path:key>")
@require_token
def delete(key: str) -> tuple[dict[str, Any], int]:
    _checked_key(key)
    answer = _forward("DELETE", key_path(key), headers=_session_headers())
    return _reply(answer, ("key", "deleted", "index", "term"), key)


@bp.get("/raft")
def raft() -> dict[str, Any]:
    """Every node's Raft state and log tail, for a page that connected late."""
    found = kv()
    snapshot = found.raft.snapshot(found.gateway.states())
    # the page advances election timers between reports at this pace (× time scale)
    snapshot["tick_ms"] = services().cluster.tick_ms
    return snapshot


@bp.post("/members")
@require_token
def members() -> dict[str, Any]:
    body = json_object()
    action = body.get("action")
    node = body.get("node")
    if not isinstance(action, str):
        raise ApiError(400, f'action must be "add" or "remove", got {action!r}')
    if node is not None and not isinstance(node, str):
        raise ApiError(400, f"node must be a node id such as 'n6', got {node!r}")
    try:
        change = kv().members.change(services().launcher, action, node)
    except MembersError as exc:
        raise ApiError(exc.status, exc.message) from None
    return change.to_dict()
