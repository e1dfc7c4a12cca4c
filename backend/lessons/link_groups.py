"""A group of links named by their ends: "every link among the followers", "the leader's links".

On three nodes a lesson can name each link it slows (``{follower1}``–
``{follower2}``). On N nodes it cannot: how many followers there are, and
which nodes they are, is decided by the run. A group names the links by
their ends instead, and is matched against the configured links when the
step runs, so the same lesson slows one link on 3 nodes and six on 5.

Two shapes, as the ``set_links`` action and the ``links_latency``
condition take them (vocabulary.py):

* ``among = [...]`` — every configured link between two nodes of the list
  (a selection: in a ring, only the links the ring has);
* ``from = "n1", to = [...]`` — the link from one node to each of the
  others, each of which must exist (a named link that does not is a mistake
  the lesson should hear about).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# One request per link: beyond this an action is re-cabling the network,
# which the ``topology`` action does in one request. 300 links are every link among
# 25 nodes of a full mesh, far past what a lecture cluster slows one by one.
MAX_LINKS_PER_GROUP = 300

Pair = tuple[str, str]


def link_text(pair: Pair, directed: bool) -> str:
    return f"{pair[0]}{'→' if directed else '–'}{pair[1]}"


@dataclass(frozen=True)
class LinkGroup:
    among: tuple[str, ...] = ()
    source: str | None = None  # ``from`` in the lesson file (a Python keyword here)
    targets: tuple[str, ...] = ()

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> LinkGroup:
        """The group in an action's or condition's resolved parameters."""
        if "among" in params:
            return cls(among=tuple(dict.fromkeys(params["among"])))
        return cls(source=params["from"], targets=tuple(dict.fromkeys(params["to"])))

    def describe(self) -> str:
        if self.source is None:
            return "among " + ",".join(self.among)
        return f"{self.source} → {','.join(self.targets)}"

    def select(self, configured: Iterable[Pair], directed: bool) -> tuple[list[Pair], list[Pair]]:
        """(the configured links in the group, as configured; the named links that do not exist)."""
        links = list(dict.fromkeys(configured))
        if self.source is None:
            members = set(self.among)
            return [(a, b) for a, b in links if a in members and b in members and a != b], []
        found: list[Pair] = []
        missing: list[Pair] = []
        for target in self.targets:
            if target == self.source:
                continue  # "the leader's links to {all}": a node has no link to itself
            match = next((link for link in links if _joins(link, self.source, target, directed)),
                         None)
            if match is None:
                missing.append((self.source, target))
            else:
                found.append(match)
        return found, missing


def _joins(link: Pair, source: str, target: str, directed: bool) -> bool:
    if directed:
        return link == (source, target)
    return {link[0], link[1]} == {source, target}
