"""Each lesson action as the REST request the instructor would send.

One function per kind of action turns the step's (already resolved)
parameters into a request to the backend's own route (lab.py): faults go to
``POST /api/faults`` with the contract's body, KV requests to
``/api/kv/<key>``, topology edits to ``/api/topology``, and so on. Nothing
here decides anything the route does not decide itself.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from backend.lessons.lab import Answer, Lab
from backend.lessons.link_groups import MAX_LINKS_PER_GROUP, LinkGroup, link_text
from cluster.core.topology import preset

FAULT_ACTIONS = ("kill", "restart", "wipe", "pause", "resume", "partition", "oneway", "heal",
                 "link")


def _fault(lab: Lab, name: str, p: Mapping[str, Any]) -> Answer:
    if "nodes" not in p:
        return lab.call("POST", "/api/faults", {"action": name, **p})
    # One request per node, as the instructor would click them; the first
    # refusal is the answer (the nodes before it have had the fault).
    answer: Answer | None = None
    for node in p["nodes"]:
        answer = lab.call("POST", "/api/faults", {"action": name, "node": node})
        if not answer.ok:
            return answer
    assert answer is not None  # the loader requires a non-empty list
    return answer


def _kv_path(key: str) -> str:
    return "/api/kv/" + quote(key, safe="")


def _node_query(p: Mapping[str, Any]) -> dict[str, str]:
    return {"node": p["node"]} if "node" in p else {}


def _put(lab: Lab, name: str, p: Mapping[str, Any]) -> Answer:
    data = str(p["value"]).encode("utf-8")
    return lab.call("PUT", _kv_path(p["key"]), data=data, query=_node_query(p))


def _get(lab: Lab, name: str, p: Mapping[str, Any]) -> Answer:
    query = {"consistency": p.get("consistency", "linearizable"), **_node_query(p)}
    return lab.call("GET", _kv_path(p["key"]), query=query)


def _delete(lab: Lab, name: str, p: Mapping[str, Any]) -> Answer:
    return lab.call("DELETE", _kv_path(p["key"]), query=_node_query(p))


def _upload(lab: Lab, name: str, p: Mapping[str, Any]) -> Answer:
    # Seeded bytes: the same lesson uploads the same file, so its chunks (named
    # by their hash) land on the same nodes run after run.
    seed = int(p.get("seed", 0))
    data = random.Random(seed).randbytes(int(p["size_bytes"]))
    file_name = p.get("name") or f"lesson-{seed}-{p['size_bytes']}.bin"
    return lab.call("POST", "/api/files", data=data, query={"name": file_name})


def _topology(lab: Lab, name: str, p: Mapping[str, Any]) -> Answer:
    """Re-cable the running nodes as a preset (the nodes stay, the links change)."""
    current = lab.call("GET", "/api/topology")
    if not current.ok:
        return current
    body = current.body
    # The run's own link template (--config): re-cabling changes which nodes
    # are joined, not what a link is made of.
    shape = preset(
        p["preset"],
        list(body["nodes"]),
        seed=int(body.get("seed") or 0),
        directed=bool(body.get("directed")),
        link=lab.services.cluster.link_template(),
    )
    links = [x.to_dict() for x in shape.links]
    return lab.call("PUT", "/api/topology", {"links": links, "directed": shape.directed})


def _set_link(lab: Lab, name: str, p: Mapping[str, Any]) -> Answer:
    changes = {k: v for k, v in p.items() if k not in ("a", "b")}
    path = f"/api/topology/links/{quote(p['a'], safe='')}/{quote(p['b'], safe='')}"
    return lab.call("PATCH", path, changes)


def _set_links(lab: Lab, name: str, p: Mapping[str, Any]) -> Answer:
    """One PATCH per link of the group, as the instructor would edit them one by one.

    The first refusal is the answer (the links before it have changed); a
    group that names no link at all is refused before anything changes.
    """
    current = lab.call("GET", "/api/topology")
    if not current.ok:
        return current
    group = LinkGroup.from_params(p)
    directed = bool(current.body.get("directed"))
    configured = [(str(x["a"]), str(x["b"])) for x in current.body["links"]]
    pairs, missing = group.select(configured, directed)
    problem = None
    if missing:
        problem = f"there is no link {link_text(missing[0], directed)} in the topology"
    elif not pairs:
        problem = f"no link {group.describe()} in the topology"
    elif len(pairs) > MAX_LINKS_PER_GROUP:
        problem = (f"{len(pairs)} links {group.describe()}: a step changes at most "
                   f"{MAX_LINKS_PER_GROUP} (one request each); re-cable with the topology action")
    if problem is not None:
        return Answer(404 if missing else 400, {"error": problem}, current.elapsed_ms)
    changes = {k: v for k, v in p.items() if k not in ("among", "from", "to")}
    elapsed_ms = current.elapsed_ms
    changed: list[str] = []
    for a, b in pairs:
        answer = _set_link(lab, "set_link", {"a": a, "b": b, **changes})
        elapsed_ms += answer.elapsed_ms
        if not answer.ok:
            return Answer(answer.status, answer.body, elapsed_ms)
        changed.append(link_text((a, b), directed))
    return Answer(200, {"ok": True, "links": changed, "count": len(changed)}, elapsed_ms)


def _time_scale(lab: Lab, name: str, p: Mapping[str, Any]) -> Answer:
    return lab.call("POST", "/api/time-scale", {"time_scale": p["value"]})


def _add_member(lab: Lab, name: str, p: Mapping[str, Any]) -> Answer:
    return lab.call("POST", "/api/members", {"action": "add", **p})


def _remove_member(lab: Lab, name: str, p: Mapping[str, Any]) -> Answer:
    return lab.call("POST", "/api/members", {"action": "remove", "node": p["node"]})


def _trace(lab: Lab, name: str, p: Mapping[str, Any]) -> Answer:
    return lab.call("POST", "/api/trace", {"src": p["src"], "dst": p["dst"]})


def _placement(lab: Lab, name: str, p: Mapping[str, Any]) -> Answer:
    return lab.call("PUT", "/api/placement", dict(p))


def _placement_compare(lab: Lab, name: str, p: Mapping[str, Any]) -> Answer:
    return lab.call("GET", "/api/placement/compare")


def _file_placement(lab: Lab, name: str, p: Mapping[str, Any]) -> Answer:
    return lab.call("GET", f"/api/files/{quote(p['name'], safe='')}/placement")


PERFORMERS: dict[str, Callable[[Lab, str, Mapping[str, Any]], Answer]] = {
    **{a: _fault for a in FAULT_ACTIONS},
    "put": _put,
    "get": _get,
    "delete": _delete,
    "upload": _upload,
    "topology": _topology,
    "set_link": _set_link,
    "set_links": _set_links,
    "time_scale": _time_scale,
    "add_member": _add_member,
    "remove_member": _remove_member,
    "trace": _trace,
    "placement": _placement,
    "placement_compare": _placement_compare,
    "file_placement": _file_placement,
}


def perform(lab: Lab, name: str, params: Mapping[str, Any]) -> Answer:
    """Do one action through its REST route; the answer says how it went."""
    return PERFORMERS[name](lab, name, params)


def describe(name: str, params: Mapping[str, Any]) -> str:
    """One line for the narration panel and the timeline: ``kill n3``, ``put x=1 via n2``."""
    p = dict(params)
    if name in ("kill", "restart", "wipe", "pause", "resume"):
        return f"{name} {p.get('node') or ', '.join(p['nodes'])}"
    if name == "partition":
        return "partition " + " | ".join(",".join(g) for g in p["groups"])
    if name == "oneway":
        return f"one-way {','.join(p['from'])} → {','.join(p['to'])} (not back)"
    if name == "put":
        return f"put {p['key']}={p['value']}" + (f" via {p['node']}" if "node" in p else "")
    if name == "get":
        how = p.get("consistency", "linearizable")
        return f"get {p['key']} ({how})" + (f" from {p['node']}" if "node" in p else "")
    if name in ("link", "set_link"):
        rest = ", ".join(f"{k}={v}" for k, v in p.items() if k not in ("a", "b"))
        return f"{name} {p['a']}–{p['b']}: {rest}"
    if name == "set_links":
        rest = ", ".join(f"{k}={v}" for k, v in p.items() if k not in ("among", "from", "to"))
        return f"set_links {LinkGroup.from_params(p).describe()}: {rest}"
    args = ", ".join(f"{k}={_short(v)}" for k, v in p.items())
    return f"{name} {args}".strip()


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."
