"""POST /api/faults and GET /api/faults: the instructor breaks the cluster on purpose.

Node faults are real signals to real processes, sent by the launcher:
``kill`` (SIGKILL), ``restart`` (same data), ``wipe`` (empty data directory,
then start), ``pause`` / ``resume`` (SIGSTOP / SIGCONT). Network faults
(``partition``, ``oneway``, ``heal``, ``link``) are rules the nodes apply to
their real frames: this module checks the request with the same pure code
the nodes use (cluster/core/faults.py), records it in the registry
(fault_registry.py) and sends the whole rule set to every node.

Every change needs the instructor token (401 without); a request that names
an unknown node, a bad number or a contradiction gets 400 with a sentence
saying what is wrong. docs/faults.md is the reference and the lesson.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, current_app
from flask.blueprints import BlueprintSetupState

from backend.auth import require_token
from backend.errors import ApiError, json_object
from backend.fault_registry import FaultRegistry
from backend.services import EXTENSION_KEY, ProcessStatus, Services, services
from backend.topology_api import routing
from backend.topology_state import with_members
from cluster.core.faults import FaultError, parse_link_request, parse_oneway, parse_partition
from cluster.launcher import LauncherError

bp = Blueprint("faults", __name__, url_prefix="/api")

NODE_ACTIONS = ("kill", "restart", "pause", "resume", "wipe")
NETWORK_ACTIONS = ("partition", "oneway", "heal", "link")
ACTIONS = NODE_ACTIONS + NETWORK_ACTIONS
# What each node action leaves behind, for the registry's list (None: healthy).
NODE_FAULT_KIND = {"kill": "down", "pause": "paused", "restart": None, "resume": None, "wipe": None}
EXTENSION = "clusterlab.faults"


def _setup(setup: BlueprintSetupState) -> None:
    app = setup.app
    found: Services = app.extensions[EXTENSION_KEY]
    registry = FaultRegistry()
    found.hub.add_listener(registry.on_batch)
    found.hub.view.add_decorator(registry.decorate)
    app.extensions[EXTENSION] = registry


bp.record_once(_setup)


def registry() -> FaultRegistry:
    found: FaultRegistry = current_app.extensions[EXTENSION]
    return found


@bp.get("/faults")
def list_faults() -> dict[str, Any]:
    faults = registry()
    return {
        "faults": faults.listing(_states()),
        "version": faults.version,
        "applied": faults.applied(),
    }


@bp.post("/faults")
@require_token
def post_fault() -> dict[str, Any]:
    body = json_object()
    action = body.get("action")
    if action not in ACTIONS:
        raise ApiError(400, f"unknown action {action!r}; use one of {', '.join(ACTIONS)}")
    try:
        if action in NODE_ACTIONS:
            answer = _node_fault(action, body)
        else:
            _network_fault(action, body)
            answer = {}
    except (FaultError, LauncherError) as exc:
        raise ApiError(400, str(exc)) from exc
    faults = registry()
    return {
        "ok": True,
        "action": action,
        **answer,
        "faults": faults.listing(_states()),
        "version": faults.version,
    }


def _node_fault(action: str, body: Mapping[str, Any]) -> dict[str, Any]:
    node_id = body.get("node")
    if not isinstance(node_id, str) or not node_id:
        raise ApiError(400, f"node must be a node id such as 'n2', got {node_id!r}")
    found = services()
    launcher = found.launcher
    if launcher is None:
        raise ApiError(503, "this backend runs without a launcher; it cannot inject faults")
    known = launcher.node_ids()
    if node_id not in known:
        raise ApiError(400, f"unknown node {node_id!r}; nodes are {', '.join(known)}")
    status: ProcessStatus = getattr(launcher, action)(node_id)
    registry().note_node(node_id, NODE_FAULT_KIND[action])
    # The launcher's callback updates the view a moment later on its own
    # thread; the reply already shows the node as it will then look.
    return {"node": found.hub.view.preview(status)}


def _network_fault(action: str, body: Mapping[str, Any]) -> None:
    faults = registry()
    known = _known_nodes()
    if action == "partition":
        faults.set_partition(parse_partition(body.get("groups"), known))
    elif action == "oneway":
        frm, to = parse_oneway(body.get("from"), body.get("to"), known)
        faults.add_oneway(frm, to)
    elif action == "link":
        settings = {k: v for k, v in body.items() if k != "action"}
        directions = parse_link_request(settings, known)
        _require_link(directions[0].src, directions[0].dst, known)
        faults.set_links(directions)
    elif "id" in body:
        fault_id = body["id"]
        if not isinstance(fault_id, str):
            raise ApiError(400, f"id must be a fault id such as 'f3', got {fault_id!r}")
        faults.remove(fault_id)
    else:
        links = body.get("links", False)
        if not isinstance(links, bool):
            raise ApiError(400, f"links must be true or false, got {links!r}")
        faults.heal(links)
    hub = services().hub
    # Sticky: a node that starts or restarts later gets the rules in force.
    hub.broadcast_command(faults.command())
    hub.view.mark_changed()


def _known_nodes() -> list[str]:
    found = services()
    if found.launcher is not None:
        return found.launcher.node_ids()
    return [n["id"] for n in found.hub.view.node_dicts()]


def _require_link(a: str, b: str, known: list[str]) -> None:
    topology = with_members(routing().state.topology, known)
    if topology.link(a, b) is None and topology.link(b, a) is None:
        raise ApiError(
            400, f"{a} and {b} are not linked in the topology; a link fault acts on a link"
        )


def _states() -> dict[str, str]:
    states = {n["id"]: n["state"] for n in services().hub.view.node_dicts()}
    for node in _known_nodes():
        states.setdefault(node, "unknown")
    return states
