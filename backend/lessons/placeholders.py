"""``{leader}``, ``{follower}``, ``{rest}``: naming nodes by their role, not their id.

Which node leads is decided by the cluster, differently on every run, so a
lesson cannot say "kill n3". It says "kill {leader}", and the runner fills
in the id from the live view when the step starts. Values a later step needs
("the leader we killed") are kept with ``remember`` and then used by name.

Built-ins, read from the view at the start of each step:

    {leader}                 the node the view names as leader
    {follower}, {follower1}  the first up node that is not the leader (by id)
    {follower2} ...          the second, and so on
    {term}                   the leader's term (else the highest term of an up node)
    {commit}                 the leader's commit index (else the highest)
    {cluster_size}           N, the voters (the leader's configuration; else every node)
    {majority}               ⌊N/2⌋ + 1, the votes an election or a commit needs
    {followers}              every follower, as a node list: {follower1}, {follower2}...
    {spare_followers}        the first followers the leader can do without and still
                             have a majority up: N − majority of them when all are up
                             (1 of 3, 1 of 4, 2 of 5)
    {quorum_followers}       the other followers: with the leader, a majority
    {rest}                   as an item of a node list: every node not named
                             elsewhere in the same action
    {all}                    as an item of a node list: every node

A node list fills a whole item of a node list (``among = ["{followers}"]``),
reads "n2, n3 and n4" in a sentence, and ``{followers.0}`` is its first node.
The split between spare and quorum followers is what a lesson about
majorities needs on any N: slow the spare ones and commits stay fast; slow
one quorum follower too and no fast majority is left.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from backend.lessons.vocabulary import PLACEHOLDER

Binding = Any  # a node id, a number, or a field of a saved answer


class Scope(Mapping[str, Binding]):
    """Named values, plus ``name.field`` read from the answers the lesson saved."""

    def __init__(self, names: Mapping[str, Binding], results: Mapping[str, Any]) -> None:
        self._names = names
        self._results = results

    def __getitem__(self, name: str) -> Binding:
        if "." not in name:
            return self._names[name]
        head, *path = name.split(".")
        value: Any
        if isinstance(self._names.get(head), list):
            value = self._names[head]  # {followers.0}: a node list, by position
        else:
            value = (self._results[head] or {}).get("body")
        for part in path:
            if isinstance(value, dict) and part in value:
                value = value[part]
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        try:
            self[str(name)]
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


class PlaceholderError(LookupError):
    """A placeholder that names nothing now (no leader, no second follower...)."""


def _node_key(node_id: str) -> tuple[int, str]:
    digits = node_id.lstrip("n")
    return (int(digits), node_id) if digits.isdigit() else (1 << 30, node_id)


def builtins(view: Mapping[str, Any]) -> dict[str, Binding]:
    """The built-in placeholders' values in this view (absent when undefined)."""
    nodes = sorted(view.get("nodes", []), key=lambda n: _node_key(n["id"]))
    up = [n for n in nodes if n.get("state") == "up"]
    leader = view.get("leader")
    values: dict[str, Binding] = {}
    leader_node = next((n for n in up if n["id"] == leader), None)
    if leader is not None:
        values["leader"] = leader
    followers = [n["id"] for n in up if n["id"] != leader]
    if followers:
        values["follower"] = followers[0]
        values["followers"] = followers
    for i, node in enumerate(followers[:9], start=1):
        values[f"follower{i}"] = node
    values.update(_majorities(nodes, leader_node, followers))
    terms = [int(n.get("term") or 0) for n in up]
    commits = [int(n.get("commit_index") or 0) for n in up]
    if leader_node is not None:
        values["term"] = int(leader_node.get("term") or 0)
        values["commit"] = int(leader_node.get("commit_index") or 0)
    elif up:
        values["term"] = max(terms)
        values["commit"] = max(commits)
    return values


def _majorities(
    nodes: list[dict[str, Any]], leader_node: dict[str, Any] | None, followers: list[str]
) -> dict[str, Binding]:
    """{cluster_size}, {majority}, and the followers the leader can spare or needs."""
    # §5.2: a majority of the voters, down ones included; the leader's own
    # configuration says who votes (a node just added may not yet).
    voters = list((leader_node or {}).get("voters") or []) or [n["id"] for n in nodes]
    if not voters:
        return {}
    majority = len(voters) // 2 + 1
    values: dict[str, Binding] = {"cluster_size": len(voters), "majority": majority}
    if leader_node is None:
        return values  # spare or needed by whom?
    voting = [f for f in followers if f in voters]
    spare = max(0, 1 + len(voting) - majority)  # 1: the leader's own vote
    if voting[:spare]:
        values["spare_followers"] = voting[:spare]
    if voting[spare:]:
        values["quorum_followers"] = voting[spare:]
    return values


def node_list_text(nodes: list[Any]) -> str:
    """``["n2", "n3", "n4"]`` as a sentence reads it: "n2, n3 and n4"."""
    names = [str(n) for n in nodes]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _text(value: Binding) -> str:
    return node_list_text(value) if isinstance(value, list) else str(value)


def _why_missing(name: str) -> str:
    if name == "leader":
        return "{leader} is needed, but the cluster has no leader now"
    if name == "spare_followers":
        return ("{spare_followers} is needed, but the cluster has no leader now, or it "
                "cannot spare a follower (it needs every up node for a majority)")
    if name == "quorum_followers":
        return "{quorum_followers} is needed, but the cluster has no leader now"
    if name.startswith("follower"):
        return f"{{{name}}} is needed, but there are not enough up nodes besides the leader"
    if name in ("term", "commit"):
        return f"{{{name}}} is needed, but no node is up"
    if "." in name:
        return (f"{{{name}}}: the saved answer has no such field (did the action fail?), "
                "or the node list is shorter")
    return f"{{{name}}} was never remembered (is the step that remembers it skipped?)"


def _resolve_text(text: str, bindings: Mapping[str, Binding]) -> Binding:
    whole = PLACEHOLDER.fullmatch(text)
    if whole and whole.group(1) != "rest":
        name = whole.group(1)
        if name not in bindings:
            raise PlaceholderError(_why_missing(name))
        return bindings[name]  # "{old_term}" alone stays a number, for comparisons

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in bindings:
            raise PlaceholderError(_why_missing(name))
        return _text(bindings[name])

    return PLACEHOLDER.sub(substitute, text)


def resolve(value: Any, bindings: Mapping[str, Binding]) -> Any:
    """``value`` with every placeholder filled in, except ``{rest}`` list items.

    A list item that is a node list (``["{followers}", "n1"]``) is spliced in.
    """
    if isinstance(value, str):
        return value if value in ("{rest}", "{all}") else _resolve_text(value, bindings)
    if isinstance(value, list):
        out: list[Any] = []
        for item in value:
            filled = resolve(item, bindings)
            if isinstance(item, str) and isinstance(filled, list):
                out.extend(filled)
            else:
                out.append(filled)
        return out
    if isinstance(value, dict):
        return {k: resolve(v, bindings) for k, v in value.items()}
    return value


def _named_nodes(value: Any, nodes: set[str], found: set[str]) -> None:
    if isinstance(value, str) and value in nodes:
        found.add(value)
    elif isinstance(value, list):
        for v in value:
            _named_nodes(v, nodes, found)
    elif isinstance(value, dict):
        for v in value.values():
            _named_nodes(v, nodes, found)


def _expand_lists(value: Any, rest: list[str], everyone: list[str]) -> Any:
    if isinstance(value, list):
        out: list[Any] = []
        for item in value:
            if item == "{rest}":
                out.extend(rest)
            elif item == "{all}":
                out.extend(everyone)
            else:
                out.append(_expand_lists(item, rest, everyone))
        return out
    if isinstance(value, dict):
        return {k: _expand_lists(v, rest, everyone) for k, v in value.items()}
    return value


def resolve_params(
    params: Mapping[str, Any], bindings: Mapping[str, Binding], all_nodes: list[str]
) -> dict[str, Any]:
    """Parameters with placeholders filled; ``{rest}``/``{all}`` list items expanded."""
    resolved = {k: resolve(v, bindings) for k, v in params.items()}
    named: set[str] = set()
    _named_nodes(resolved, set(all_nodes), named)
    everyone = sorted(all_nodes, key=_node_key)
    rest = [n for n in everyone if n not in named]
    return {k: _expand_lists(v, rest, everyone) for k, v in resolved.items()}


def fill_text(text: str, bindings: Mapping[str, Binding]) -> str:
    """Narration with its placeholders filled in; an unknown one reads "?" (never fails)."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        value = bindings.get(name)
        return "?" if value is None else _text(value)

    return PLACEHOLDER.sub(substitute, text)
