"""REST for the network: the topology, its live edits, routes and traceroute.

* ``GET /api/topology`` — the configured links (``up`` false: cut);
* ``PUT /api/topology`` — replace every link (instructor);
* ``PATCH /api/topology/links/<a>/<b>`` — cut, restore or change one link (instructor);
* ``GET /api/route?src=n1&dst=n5`` — the path by the nodes' *own* tables;
* ``GET /api/routes`` — Floyd-Warshall's global view next to every node's
  table, with the differences;
* ``POST /api/trace`` — a real probe through the cluster, hop by hop.

Anyone may look; only the instructor may change the network or send a
trace probe (a POST: every request that makes the cluster do something needs
the token, so read-only viewers cannot). docs/topology-config.md is the
reference; docs/routing.md the lesson.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, current_app, request
from flask.blueprints import BlueprintSetupState

from backend.auth import require_token
from backend.errors import ApiError, json_object
from backend.services import EXTENSION_KEY, Services, services
from backend.topology_state import EditError, TopologyState
from backend.traces import TooManyTraces, TraceWaiters
from cluster.schema.control import StartTrace

bp = Blueprint("topology", __name__, url_prefix="/api")

EXTENSION = "clusterlab.topology"
# A probe crosses a 50-node network in milliseconds; seconds means it was lost
# (a lossy link, a paused node on the way). Stretched by slow motion, capped.
TRACE_TIMEOUT_S = 5.0
MAX_TRACE_TIMEOUT_S = 60.0


@dataclass
class RoutingServices:
    state: TopologyState
    traces: TraceWaiters


def _setup(setup: BlueprintSetupState) -> None:
    # At registration, before any telemetry arrives: the listeners must see
    # the nodes' first tables.
    app = setup.app
    found: Services = app.extensions[EXTENSION_KEY]
    traces = TraceWaiters()
    found.hub.add_listener(traces.on_batch)
    app.extensions[EXTENSION] = RoutingServices(TopologyState(found.cluster, found.hub), traces)


bp.record_once(_setup)


def routing() -> RoutingServices:
    found: RoutingServices = current_app.extensions[EXTENSION]
    return found


def _states() -> dict[str, str]:
    found = services()
    view = found.hub.view
    states = {}
    members = set(found.launcher.node_ids()) if found.launcher is not None else set()
    for node in sorted(set(routing().state.topology.nodes) | members):
        entry = view.node_dict(node)
        states[node] = entry["state"] if entry else "unknown"
    return states


def _node_arg(value: Any, name: str) -> str:
    nodes = sorted(_states(), key=lambda n: (len(n), n))
    if not isinstance(value, str) or value not in nodes:
        raise ApiError(400, f"{name} must be one of {', '.join(nodes)}, got {value!r}")
    return value


@bp.get("/topology")
def get_topology() -> dict[str, Any]:
    return routing().state.to_dict()


@bp.put("/topology")
@require_token
def put_topology() -> dict[str, Any]:
    try:
        return routing().state.replace(json_object())
    except EditError as exc:
        raise ApiError(exc.status, str(exc)) from exc


@bp.patch("/topology/links/<a>/<b>")
@require_token
def patch_link(a: str, b: str) -> dict[str, Any]:
    try:
        return routing().state.change_link(a, b, json_object())
    except EditError as exc:
        raise ApiError(exc.status, str(exc)) from exc


@bp.get("/route")
def get_route() -> dict[str, Any]:
    src = _node_arg(request.args.get("src"), "src")
    dst = _node_arg(request.args.get("dst"), "dst")
    state = routing().state
    answer = state.route(src, dst)
    answer["floyd_warshall"] = state.expected_route(src, dst, _states())
    return answer


@bp.get("/routes")
def get_routes() -> dict[str, Any]:
    return routing().state.compare(_states())


@bp.post("/trace")
@require_token
def post_trace() -> dict[str, Any]:
    body = json_object()
    src = _node_arg(body.get("src"), "src")
    dst = _node_arg(body.get("dst"), "dst")
    found = services()
    traces = routing().traces
    try:
        probe_id = traces.open(src)
    except TooManyTraces as exc:
        raise ApiError(429, str(exc)) from exc
    if not found.hub.send_command(src, StartTrace(probe_id, dst)):
        traces.wait(probe_id, 0)
        raise ApiError(409, f"{src} is not connected (down, or still starting?)")
    time_scale = float(found.hub.view.to_dict().get("time_scale") or 1.0)
    result = traces.wait(probe_id, min(MAX_TRACE_TIMEOUT_S, TRACE_TIMEOUT_S * time_scale))
    if result is None:
        raise ApiError(
            504,
            f"the probe from {src} to {dst} did not come back: lost on a lossy link, "
            "or a node on the way is paused",
        )
    hops = []
    first_ms = result.hops[0][2] if result.hops else 0.0
    previous_ms = first_ms
    for node, cost, t_ms in result.hops:
        hops.append(
            {
                "node": node,
                "cost": cost if cost >= 0 else None,
                "t_ms": t_ms,
                "since_start_ms": round(t_ms - first_ms, 3),
                "hop_ms": round(t_ms - previous_ms, 3),
            }
        )
        previous_ms = t_ms
    return {
        "src": src,
        "dst": dst,
        "probe_id": probe_id,
        "reached": result.reached,
        "reason": result.reason,
        "path": [h["node"] for h in hops],
        "hop_count": max(0, len(hops) - 1),
        "total_ms": round(previous_ms - first_ms, 3),
        "hops": hops,
    }
