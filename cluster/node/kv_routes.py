"""The client API on a node's client port: ``/kv/<key>``, ``/raft`` and ``/members``.

HTTP/1.1 keep-alive served from the node's own event loop (cluster/node/http.py),
as etcd does, so clients and benchmarks never queue behind the dashboard.
Every answer is JSON; errors are ``{"error": "..."}`` and a 503 says why
(no leader, not enough nodes, timeout) and may be retried.

Sessions (exactly-once writes, thesis §6.3): a client sends ``X-Client-Id``
and ``X-Request-Seq`` (1, 2, 3... one write outstanding at a time) and
retries a failed write with the same pair, to any node. Without them each
write gets a fresh session, which still makes the node's own retries safe.
docs/api-node-client.md is the reference.
"""

from __future__ import annotations

from typing import Any

from cluster.node.http import Request, Response, Router, error_response, json_response
from cluster.node.kv_service import KvService, Outcome
from cluster.schema.raft import valid_node_id

CONSISTENCIES = ("linearizable", "stale")
# A client id names a session in every node's memory and in snapshots.
MAX_CLIENT_ID_CHARS = 128
MAX_KEY_CHARS = 1024  # the same limit as cluster.core.kv
MAX_VALUE_BYTES = 1024 * 1024  # one value fits one Raft entry and one frame


def add_kv_routes(router: Router, service: KvService) -> None:
    async def put(request: Request) -> Response:
        return await _write(service, request, "put", request.body)

    async def delete(request: Request) -> Response:
        return await _write(service, request, "delete", b"")

    async def get(request: Request) -> Response:
        key = request.params["key"]
        consistency = request.query.get("consistency", "linearizable")
        if consistency not in CONSISTENCIES:
            return error_response(400, f"consistency must be one of {', '.join(CONSISTENCIES)}")
        if not 0 < len(key) <= MAX_KEY_CHARS:
            return error_response(400, f"a key is 1 to {MAX_KEY_CHARS} characters")
        trace_id, started_s = service.trace("get", key, consistency)
        outcome = await service.read(key, consistency == "linearizable")
        service.traced_reply(trace_id, started_s, "get", key, outcome)
        if outcome.status == 200:
            assert outcome.value is not None
            return json_response(
                {
                    "key": key,
                    "value": _text(outcome.value),
                    "node": service.node.id,
                    "consistency": consistency,
                    "applied_index": service.driver.kv.applied_index,
                }
            )
        return _error(outcome, key=key)

    async def raft_state(_request: Request) -> Response:
        return json_response(raft_status(service))

    async def members(request: Request) -> Response:
        try:
            body = request.json()
        except ValueError:
            return error_response(400, 'body must be JSON {"action": "add"|"remove", "node": id}')
        action = body.get("action") if isinstance(body, dict) else None
        node_id = body.get("node") if isinstance(body, dict) else None
        if action not in ("add", "remove") or not valid_node_id(node_id):
            return error_response(400, 'body must be {"action": "add"|"remove", "node": id}')
        assert isinstance(action, str) and isinstance(node_id, str)
        trace_id, started_s = service.trace(action, node_id, "")
        outcome = await service.write(action, node_id, b"", service.new_session(), 1, trace_id)
        service.traced_reply(trace_id, started_s, action, node_id, outcome)
        if outcome.status != 200:
            return _error(outcome, node=node_id)
        return json_response(
            {
                "action": action,
                "node": node_id,
                "index": outcome.index,
                "term": outcome.term,
                "voters": list(service.driver.raft.voters),
            }
        )

    router.add("PUT", "/kv/<key>", put)
    router.add("GET", "/kv/<key>", get)
    router.add("DELETE", "/kv/<key>", delete)
    router.add("GET", "/raft", raft_state)
    router.add("POST", "/members", members)


def raft_status(service: KvService) -> dict[str, Any]:
    """``GET /raft``: the core's state, and each follower's progress on a leader."""
    status = service.driver.state()
    status["progress"] = {
        peer: {"mode": str(p.mode), "match_index": p.match_index, "next_index": p.next_index}
        for peer, p in service.driver.raft.progress().items()
    }
    return status


async def _write(service: KvService, request: Request, op: str, value: bytes) -> Response:
    key = request.params["key"]
    if not 0 < len(key) <= MAX_KEY_CHARS:
        return error_response(400, f"a key is 1 to {MAX_KEY_CHARS} characters")
    if len(value) > MAX_VALUE_BYTES:
        return error_response(413, f"a value is at most {MAX_VALUE_BYTES} bytes")
    session = _session(service, request)
    if isinstance(session, Response):
        return session
    client_id, seq = session
    trace_id, started_s = service.trace(op, key, "")
    outcome = await service.write(op, key, value, client_id, seq, trace_id)
    service.traced_reply(trace_id, started_s, op, key, outcome)
    if outcome.status != 200:
        return _error(outcome, key=key)
    if op == "delete":
        body: dict[str, Any] = {"key": key, "deleted": outcome.value is not None}
    else:
        body = {"key": key, "value": _text(value)}
    body["index"] = outcome.index
    body["term"] = outcome.term
    body["node"] = service.node.id  # the entry node, which answered
    return json_response(body)


def _session(service: KvService, request: Request) -> tuple[str, int] | Response:
    client_id = request.headers.get("x-client-id", "")
    seq_text = request.headers.get("x-request-seq", "")
    if not client_id and not seq_text:
        return service.new_session(), 1
    if not 0 < len(client_id) <= MAX_CLIENT_ID_CHARS:
        return error_response(400, f"X-Client-Id must be 1 to {MAX_CLIENT_ID_CHARS} characters")
    if not seq_text.isdigit() or int(seq_text) < 1:
        return error_response(400, "X-Request-Seq must be a positive integer (1, 2, 3...)")
    return client_id, int(seq_text)


def _error(outcome: Outcome, **fields: Any) -> Response:
    return json_response({"error": outcome.error, **fields}, outcome.status)


def _text(value: bytes) -> str:
    return value.decode("utf-8", errors="replace")
