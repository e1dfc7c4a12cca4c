"""What a lesson can ask of the live cluster: "is there a leader?", "is n3 caught up?".

Waits and checks share these conditions. Each one looks at the cluster as
the dashboard shows it (the view: roles, terms, commit indexes, links,
routing convergence) or asks the backend's own read-only routes (a route by
the nodes' own tables, the Raft log tails, a file's replicas), and answers
with a yes/no and one line saying what it saw — the line the narration panel
shows next to ✓ or ✗, so a failed check explains itself.

A condition never changes the cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from backend.lessons.lab import Lab
from backend.lessons.link_groups import LinkGroup, link_text


@dataclass(frozen=True)
class Outcome:
    ok: bool
    detail: str  # what was seen, in a short sentence


@dataclass
class Baseline:
    """The cluster when the step started: what "changed" and "rose" compare with."""

    leader: str | None = None
    max_term: int = 0


@dataclass
class Probe:
    """One look at the cluster, shared by the conditions evaluated together."""

    lab: Lab
    baseline: Baseline
    results: Mapping[str, dict[str, Any]]
    view: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.view:
            self.view = self.lab.view()

    def node(self, node_id: str) -> dict[str, Any] | None:
        return next((n for n in self.view["nodes"] if n["id"] == node_id), None)

    def up_nodes(self) -> list[dict[str, Any]]:
        return [n for n in self.view["nodes"] if n["state"] == "up"]

    def get(self, path: str, query: dict[str, str] | None = None) -> Any:
        answer = self.lab.call("GET", path, query=query)
        if not answer.ok:
            raise ConditionError(f"GET {path}: {answer.error}")
        return answer.body


class ConditionError(RuntimeError):
    """The condition could not be evaluated (a route refused); it counts as not met."""


def max_term(view: Mapping[str, Any]) -> int:
    up = [n for n in view.get("nodes", []) if n["state"] == "up"]
    return max((int(n.get("term") or 0) for n in up), default=0)


def baseline_of(view: Mapping[str, Any]) -> Baseline:
    return Baseline(view.get("leader"), max_term(view))


def _compare(value: float, params: Mapping[str, Any], suffix: str = "") -> str | None:
    """None if ``value`` meets at_least/at_most/equals; else the unmet bound."""
    low = params.get(f"at_least{suffix}")
    high = params.get(f"at_most{suffix}")
    equal = params.get("equals") if not suffix else None
    above = params.get("above") if not suffix else None
    if above is not None and value <= float(above):
        return f"not above {above}"
    if low is not None and value < float(low):
        return f"below {low}"
    if high is not None and value > float(high):
        return f"above {high}"
    if equal is not None and value != float(equal):
        return f"not {equal}"
    return None


# -- Raft -------------------------------------------------------------------------


def leader_exists(probe: Probe, p: Mapping[str, Any]) -> Outcome:
    leader = probe.view.get("leader")
    if leader is None:
        return Outcome(False, "no leader")
    term = (probe.node(leader) or {}).get("term")
    among = p.get("among")
    if among is not None and leader not in among:
        others = ", ".join(among)
        return Outcome(False, f"the leader is {leader} (term {term}), not one of {others}")
    return Outcome(True, f"leader {leader} in term {term}")


def no_leader(probe: Probe, p: Mapping[str, Any]) -> Outcome:
    among = p.get("among")
    if among is None:
        leader = probe.view.get("leader")
        return Outcome(leader is None, "no leader" if leader is None else f"{leader} leads")
    leaders = [
        n["id"] for n in probe.up_nodes() if n["id"] in among and n.get("role") == "leader"
    ]
    if leaders:
        return Outcome(False, f"{', '.join(leaders)} still says it leads")
    return Outcome(True, f"none of {', '.join(among)} says it leads")


def leader_changed(probe: Probe, p: Mapping[str, Any]) -> Outcome:
    before = p.get("from", probe.baseline.leader)
    leader = probe.view.get("leader")
    if leader is None:
        return Outcome(False, f"no leader yet (it was {before})")
    if leader == before:
        return Outcome(False, f"{leader} still leads")
    return Outcome(True, f"{leader} leads now (it was {before})")


def leader_is(probe: Probe, p: Mapping[str, Any]) -> Outcome:
    leader = probe.view.get("leader")
    return Outcome(leader == p["node"], f"the leader is {leader or 'nobody'}")


def node_state(probe: Probe, p: Mapping[str, Any]) -> Outcome:
    node = probe.node(p["node"])
    state = node["state"] if node else "unknown"
    return Outcome(state == p["state"], f"{p['node']} is {state}")


def role(probe: Probe, p: Mapping[str, Any]) -> Outcome:
    node = probe.node(p["node"])
    current = node.get("role") if node else None
    return Outcome(current == p["role"], f"{p['node']} is {current or 'not running'}")


def term(probe: Probe, p: Mapping[str, Any]) -> Outcome:
    if "node" in p:
        node = probe.node(p["node"])
        value = int((node or {}).get("term") or 0)
        who = p["node"]
    else:
        value, who = max_term(probe.view), "the highest term"
    unmet = _compare(value, p)
    return Outcome(unmet is None, f"{who}: term {value}" + (f" ({unmet})" if unmet else ""))


def term_rose(probe: Probe, p: Mapping[str, Any]) -> Outcome:
    by = int(p.get("by", 1))
    now, before = max_term(probe.view), probe.baseline.max_term
    return Outcome(now >= before + by, f"term {before} → {now}")


def caught_up(probe: Probe, p: Mapping[str, Any]) -> Outcome:
    leader_id = probe.view.get("leader")
    leader = probe.node(leader_id) if leader_id else None
    if leader is None:
        return Outcome(False, "no leader to catch up with")
    # The view hears of a commit a moment after the client does: a write the
    # lesson just made counts too, or "caught up" could pass before it arrives.
    written = [
        int(r["body"]["index"]) for r in probe.results.values()
        if r.get("ok") and isinstance(r.get("body"), dict)
        and isinstance(r["body"].get("index"), int)
    ]
    target = max([int(leader.get("commit_index") or 0), *written])
    nodes = [probe.node(p["node"])] if "node" in p else probe.up_nodes()
    behind = []
    for node in nodes:
        if node is None or node["state"] != "up":
            behind.append(f"{p.get('node')} is not up")
            continue
        commit, applied = int(node.get("commit_index") or 0), int(node.get("last_applied") or 0)
        if commit < target or applied < target:
            behind.append(f"{node['id']} at {commit}/{applied}")
    if behind:
        return Outcome(False, f"leader {leader_id} committed {target}; " + ", ".join(behind))
    names = p.get("node") or "every up node"
    return Outcome(True, f"{names} committed and applied {target}, as leader {leader_id}")


def logs_agree(probe: Probe, p: Mapping[str, Any]) -> Outcome:
    """Log Matching (§5.3): wherever two logs hold an index, they hold the same term."""
    raft = probe.get("/api/raft")
    logs: dict[str, dict[int, int]] = {
        node: {int(e[0]): int(e[1]) for e in info.get("log", [])}
        for node, info in raft["nodes"].items()
    }
    nodes = p.get("nodes") or [n["id"] for n in probe.up_nodes()]
    for i, a in enumerate(nodes):
        for b in nodes[i + 1 :]:
            for index in sorted(set(logs.get(a, {})) & set(logs.get(b, {}))):
                if logs[a][index] != logs[b][index]:
                    return Outcome(
                        False,
                        f"index {index}: {a} has term {logs[a][index]}, "
                        f"{b} has term {logs[b][index]}",
                    )
    return Outcome(True, f"{', '.join(nodes)} agree at every index they hold")


def all_up(probe: Probe, p: Mapping[str, Any]) -> Outcome:
    not_up = [f"{n['id']} {n['state']}" for n in probe.view["nodes"] if n["state"] != "up"]
    return Outcome(not not_up, ", ".join(not_up) if not_up else "every node is up")


# -- results of earlier actions -------------------------------------------------------


def _lookup(result: Mapping[str, Any], path: str) -> Any:
    """``status``, ``elapsed_ms``... of the answer, else a dotted path into its body."""
    if path in result and path != "body":
        return result[path]
    value: Any = result.get("body")
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, list) and any(
            isinstance(v, dict) and v.get("name") == part for v in value
        ):
            value = next(v for v in value if isinstance(v, dict) and v.get("name") == part)
        else:
            raise ConditionError(f"the answer has no {path!r}")
    return value


def result(probe: Probe, p: Mapping[str, Any]) -> Outcome:
    name = p.get("of", "last")
    saved = probe.results.get(name)
    if saved is None:
        return Outcome(False, f"no result called {name!r} yet")
    if "ok" in p and bool(saved["ok"]) != p["ok"]:
        what = "succeeded" if saved["ok"] else f"failed: {saved.get('error')}"
        return Outcome(False, f"{name} {what}")
    if "status" in p and saved["status"] != int(p["status"]):
        return Outcome(False, f"{name} answered {saved['status']}, not {p['status']}")
    if "field" not in p:
        state = "succeeded" if saved["ok"] else f"failed ({saved.get('error')})"
        return Outcome(True, f"{name} {state}")
    value = _lookup(saved, p["field"])
    shown = f"{name}.{p['field']} = {value!r}"
    if "equals" in p and value != p["equals"] and str(value) != str(p["equals"]):
        return Outcome(False, f"{shown}, expected {p['equals']!r}")
    if "not_equals" in p and (value == p["not_equals"] or str(value) == str(p["not_equals"])):
        return Outcome(False, f"{shown}, expected anything else")
    if "at_least" in p or "at_most" in p:
        if not isinstance(value, int | float):
            return Outcome(False, f"{shown} is not a number")
        unmet = _compare(float(value), {k: p[k] for k in ("at_least", "at_most") if k in p})
        if unmet:
            return Outcome(False, f"{shown} ({unmet})")
    return Outcome(True, shown)


# -- the network ------------------------------------------------------------------------


def route(probe: Probe, p: Mapping[str, Any]) -> Outcome:
    answer = probe.get("/api/route", {"src": p["src"], "dst": p["dst"]})
    path = answer.get("path") or answer.get("partial_path") or []
    shown = " → ".join(path) + (f" ({answer.get('reason')})" if answer.get("reason") else "")
    if bool(answer.get("reached")) != p.get("reached", True):
        return Outcome(False, shown)
    middle = path[1:-1]
    if "via" in p and p["via"] not in middle:
        return Outcome(False, f"{shown}: not via {p['via']}")
    if "not_via" in p and p["not_via"] in middle:
        return Outcome(False, f"{shown}: goes via {p['not_via']}")
    return Outcome(True, shown)


def routing_converged(probe: Probe, p: Mapping[str, Any]) -> Outcome:
    routing = probe.view.get("routing") or {}
    converged = bool(routing.get("converged"))
    return Outcome(converged, "converged" if converged
                   else f"{routing.get('differences', '?')} differences with Floyd-Warshall")


def link_latency(probe: Probe, p: Mapping[str, Any]) -> Outcome:
    pair = {p["a"], p["b"]}
    link = next((x for x in probe.view.get("links", []) if {x["a"], x["b"]} == pair), None)
    if link is None:
        return Outcome(False, f"there is no link {p['a']}–{p['b']}")
    measured = link.get("latency_ms_measured")
    if measured is None:
        return Outcome(False, f"{p['a']}–{p['b']}: nothing measured yet")
    unmet = _compare(float(measured), p, suffix="_ms")
    shown = f"{p['a']}–{p['b']} measures {measured:.1f} ms one way"
    return Outcome(unmet is None, shown + (f" ({unmet} ms)" if unmet else ""))


def links_latency(probe: Probe, p: Mapping[str, Any]) -> Outcome:
    """Every link of the group measures within the bounds (as link_latency does for one)."""
    group = LinkGroup.from_params(p)
    directed = bool((probe.view.get("topology") or {}).get("directed"))
    links = {(str(x["a"]), str(x["b"])): x for x in probe.view.get("links", [])}
    pairs, missing = group.select(links, directed)
    if missing:
        return Outcome(False, f"there is no link {link_text(missing[0], directed)}")
    if not pairs:
        return Outcome(False, f"no link {group.describe()}")
    met: list[str] = []
    unmet: list[str] = []
    for pair in pairs:
        measured = links[pair].get("latency_ms_measured")
        name = link_text(pair, directed)
        if measured is None:
            unmet.append(f"{name} nothing measured yet")
            continue
        problem = _compare(float(measured), p, suffix="_ms")
        shown = f"{name} {float(measured):.0f} ms"
        (unmet if problem else met).append(shown + (f" ({problem} ms)" if problem else ""))
    if unmet:
        return Outcome(False, ", ".join(unmet[:4]) + (f" and {len(unmet) - 4} more"
                                                      if len(unmet) > 4 else ""))
    return Outcome(True, f"{len(met)} links, one way: " + ", ".join(met[:4])
                   + (f" and {len(met) - 4} more" if len(met) > 4 else ""))


# -- files ------------------------------------------------------------------------------


def _file_names(probe: Probe, p: Mapping[str, Any]) -> list[str]:
    if "name" in p:
        return [p["name"]]
    listing = probe.get("/api/files")
    return [f["name"] for f in listing.get("files", [])]


def _placement(probe: Probe, name: str) -> dict[str, Any]:
    body: dict[str, Any] = probe.get(f"/api/files/{quote(name, safe='')}/placement")
    return body


def chunks_replicated(probe: Probe, p: Mapping[str, Any]) -> Outcome:
    """Every chunk has its effective rf replicas whose health is ok (files_api.py says)."""
    short = []
    total = 0
    rf = None
    # The launcher knows a join or leave at once; telemetry and the nodes'
    # placement answers follow a moment later.
    voters = sorted(probe.lab.node_ids())
    states = {n["id"]: n["state"] for n in probe.view["nodes"]}
    starting = [
        node for node, process in probe.lab.processes().items()
        if process == "running" and states.get(node) != "up"
    ]
    if starting:
        return Outcome(False, f"{', '.join(starting)} is still starting")
    for name in _file_names(probe, p):
        placement = _placement(probe, name)
        members = sorted(placement.get("placement", {}).get("members") or [])
        if voters and members != voters:
            # A join or leave just committed; the placement has not caught up with it.
            return Outcome(False, f"placement over {', '.join(members)}; members are "
                           f"{', '.join(voters)}")
        up = {n["id"] for n in probe.up_nodes()}
        written_off = [n for n in placement.get("placement", {}).get("down") or [] if n in up]
        if written_off:
            # The leader counts a node down until it hears from it (a newcomer,
            # a restart): the placement will change once it does.
            return Outcome(False, f"the placement still counts {', '.join(written_off)} as down")
        rf = placement.get("placement", {}).get("effective_rf", rf)
        for chunk in placement.get("chunks", []):
            total += 1
            health = chunk.get("health") or {}
            desired = chunk.get("desired") or []
            # Settled: enough good copies, every node the placement wants holds
            # one, and the copies it no longer wants have been dropped.
            missing = [n for n in desired if health.get(n) != "ok" or n not in up]
            extra = [n for n in chunk.get("replicas", []) if desired and n not in desired]
            if chunk.get("under_replicated") or missing or extra:
                short.append(f"{name}#{chunk.get('index')}: {chunk.get('ok_replicas')} ok"
                             + (f", not yet on {','.join(missing)}" if missing else "")
                             + (f", still on {','.join(extra)}" if extra else ""))
    if short:
        return Outcome(False, f"rf {rf}: " + ", ".join(short[:4]) +
                       (f" and {len(short) - 4} more" if len(short) > 4 else ""))
    if total == 0:
        return Outcome(False, "there are no chunks")
    return Outcome(True, f"all {total} chunks have their {rf} healthy replicas, where placed")


def chunks_moved(probe: Probe, p: Mapping[str, Any]) -> Outcome:
    before = probe.results.get(p["before"])
    if before is None or not before.get("ok"):
        return Outcome(False, f"no placement saved as {p['before']!r}")
    old = before["body"]
    now = _placement(probe, old["name"])
    old_sets = [frozenset(c.get("replicas", [])) for c in old.get("chunks", [])]
    new_sets = [frozenset(c.get("replicas", [])) for c in now.get("chunks", [])]
    if not old_sets:
        return Outcome(False, f"{old['name']} has no chunks")
    moved = sum(1 for a, b in zip(old_sets, new_sets, strict=False) if a != b)
    fraction = moved / len(old_sets)
    unmet = _compare(fraction, {k: p[k] for k in ("at_least", "at_most") if k in p})
    shown = f"{moved} of {len(old_sets)} chunks changed replicas ({fraction:.0%})"
    return Outcome(unmet is None, shown + (f", {unmet}" if unmet else ""))


EVALUATORS: dict[str, Callable[[Probe, Mapping[str, Any]], Outcome]] = {
    "leader_exists": leader_exists,
    "no_leader": no_leader,
    "leader_changed": leader_changed,
    "leader_is": leader_is,
    "node_state": node_state,
    "role": role,
    "term": term,
    "term_rose": term_rose,
    "caught_up": caught_up,
    "logs_agree": logs_agree,
    "all_up": all_up,
    "result": result,
    "route": route,
    "routing_converged": routing_converged,
    "link_latency": link_latency,
    "links_latency": links_latency,
    "chunks_replicated": chunks_replicated,
    "chunks_moved": chunks_moved,
}


def evaluate(probe: Probe, name: str, params: Mapping[str, Any], negate: bool) -> Outcome:
    """Evaluate one condition; an error while looking counts as "not met", with the reason."""
    try:
        outcome = EVALUATORS[name](probe, params)
    except ConditionError as exc:
        return Outcome(False, str(exc))
    except (KeyError, TypeError, ValueError) as exc:
        return Outcome(False, f"could not evaluate {name}: {exc!r}")
    if negate:
        return Outcome(not outcome.ok, outcome.detail)
    return outcome
