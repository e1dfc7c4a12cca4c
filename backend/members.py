"""Adding and removing a member: a process change and a Raft change, in the safe order.

Membership has two sides that must not be confused. *Who votes* is Raft's
business: a configuration entry in the log, committed one server at a time
(thesis §4). *Which processes exist* is the launcher's. The backend does
both, in the order that never leaves the cluster short of a quorum:

    add:     start the process (it has no configuration and waits),
             tell every node its address (AddPeer), wait until it is up,
             then ask the leader to add it as a voter (POST /members).
    remove:  ask the leader to remove it as a voter and wait for the commit,
             then stop the process and tell the others (RemovePeer).

Stopping a voter before its removal committed would make the cluster count
a dead vote: with 3 voters, removing one by killing it first leaves 2 of 3
and no margin at all.

Node ids are given by the launcher (``n6`` after ``n1..n5``, never reused in
a run); a request may name the id it expects, and is refused if it is not
the next one, so a script cannot add a node it did not mean.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, cast

from backend.kv_gateway import GatewayError, KvGateway, NodeAnswer
from backend.raft_view import RaftView
from backend.services import LauncherPort, ProcessStatus
from backend.view import ClusterView
from cluster.launcher import LauncherError

ACTIONS = ("add", "remove")
NODE_ID = re.compile(r"n([1-9][0-9]{0,5})")
# A new node process starts in about a second on a busy 2-core laptop; slow
# motion stretches that (it changes every timer), up to the cap.
NODE_START_TIMEOUT_S = 20.0
MAX_NODE_START_TIMEOUT_S = 120.0
START_POLL_S = 0.05


class MembershipLauncher(Protocol):
    """The part of ``cluster.launcher.Launcher`` that adds and removes node processes."""

    def add_node(self, send_command: Callable[[str, Any], object] | None = None) -> ProcessStatus:
        ...

    def remove_node(
        self, node_id: str, send_command: Callable[[str, Any], object] | None = None
    ) -> ProcessStatus:
        ...


class MembersError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Change:
    """A committed membership change, as the reply shows it."""

    action: str
    node: str
    index: int
    term: int
    voters: list[str]
    via: str  # the node that took the request

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": True,
            "action": self.action,
            "node": self.node,
            "index": self.index,
            "term": self.term,
            "voters": self.voters,
            "via": self.via,
        }


def _number(node_id: str) -> int:
    match = NODE_ID.fullmatch(node_id)
    return int(match.group(1)) if match else 0


class Members:
    def __init__(
        self,
        view: ClusterView,
        raft: RaftView,
        gateway: KvGateway,
        send_command: Callable[[str, Any], object],
        initial_nodes: int,
    ) -> None:
        self._view = view
        self._raft = raft
        self._gateway = gateway
        self._send_command = send_command
        # One change at a time (thesis §4); a second request waits its turn.
        self._lock = threading.Lock()
        # The launcher never reuses an id in a run; neither do we.
        self._highest_number = initial_nodes

    def change(self, launcher: LauncherPort | None, action: str, node: str | None) -> Change:
        if action not in ACTIONS:
            raise MembersError(400, f"action must be one of {', '.join(ACTIONS)}, got {action!r}")
        if node is not None and not NODE_ID.fullmatch(node):
            raise MembersError(400, f"node must be a node id such as 'n6', got {node!r}")
        if action == "remove" and node is None:
            raise MembersError(400, "remove needs the node to remove, e.g. {\"node\": \"n3\"}")
        if launcher is None:
            raise MembersError(503, "this backend runs without a launcher; it cannot add or "
                               "remove nodes")
        if not (hasattr(launcher, "add_node") and hasattr(launcher, "remove_node")):
            raise MembersError(503, "this launcher cannot add or remove nodes")
        processes = cast(MembershipLauncher, launcher)
        with self._lock:
            known = launcher.node_ids()
            self._highest_number = max([self._highest_number, *map(_number, known)])
            try:
                if action == "add":
                    return self._add(launcher, processes, known, node)
                assert node is not None
                return self._remove(processes, known, node)
            except LauncherError as exc:
                raise MembersError(400, str(exc)) from exc

    # -- add ----------------------------------------------------------------

    def _add(
        self,
        launcher: LauncherPort,
        processes: MembershipLauncher,
        known: list[str],
        node: str | None,
    ) -> Change:
        voters = self._raft.voters(self._gateway.states())
        if node is not None and node in voters:
            raise MembersError(409, f"{node} is already a member; voters are {', '.join(voters)}")
        if node is not None and node in known:
            # Started earlier but not (yet) a voter: a retried add. Make sure it runs.
            status = next(s for s in launcher.status() if s.id == node)
            if status.process == "down":
                launcher.restart(node)
        else:
            expected = f"n{self._highest_number + 1}"
            if node is not None and node != expected:
                raise MembersError(
                    400, f"new nodes are named in order; the next one is {expected}, not {node}"
                )
            status = processes.add_node(self._send_command)
            node = status.id
            self._highest_number = max(self._highest_number, _number(node))
            # The launcher's own callback reaches the view later, on its thread;
            # the new node must be in the view before we wait for it there.
            self._view.on_status(status)
        self._wait_up(node)
        answer = self._propose("add", node)
        return self._committed("add", node, answer)

    def _wait_up(self, node: str) -> None:
        scale = max(1.0, self._view.time_scale())
        timeout_s = min(MAX_NODE_START_TIMEOUT_S, NODE_START_TIMEOUT_S * scale)
        deadline_s = time.monotonic() + timeout_s
        while self._gateway.states().get(node) != "up":
            if time.monotonic() > deadline_s:
                raise MembersError(
                    503, f"{node} was started but did not come up within {timeout_s:g} s; "
                    "see its node.log, then retry the add"
                )
            time.sleep(START_POLL_S)

    # -- remove -------------------------------------------------------------

    def _remove(self, processes: MembershipLauncher, known: list[str], node: str) -> Change:
        voters = self._raft.voters(self._gateway.states())
        if node not in voters and node not in known:
            raise MembersError(400, f"unknown node {node!r}; nodes are {', '.join(known)}")
        if node in voters and len(voters) == 1:
            raise MembersError(409, f"{node} is the only voter; a cluster needs at least one")
        if node in voters:
            answer = self._propose("remove", node)
            change = self._committed("remove", node, answer)
        else:
            change = Change("remove", node, 0, 0, voters, "")  # never a voter: just stop it
        if node in known:
            processes.remove_node(node, self._send_command)
        self._view.forget_node(node)
        self._raft.forget_node(node)
        return change

    # -- the Raft side ------------------------------------------------------

    def _propose(self, action: str, node: str) -> NodeAnswer:
        # Through the leader when known. A leader may remove itself: it commits
        # the change, answers, then steps down (thesis §4.2.2).
        try:
            answer = self._gateway.request(
                "POST", "/members", None, json_body={"action": action, "node": node}
            )
        except GatewayError as exc:
            raise MembersError(exc.status, exc.message) from None
        if answer.status != 200:
            error = answer.body.get("error") or f"{answer.node} answered {answer.status}"
            raise MembersError(answer.status, f"{action} {node}: {error}")
        return answer

    def _committed(self, action: str, node: str, answer: NodeAnswer) -> Change:
        body = answer.body
        voters = body.get("voters")
        return Change(
            action,
            node,
            int(body.get("index", 0)),
            int(body.get("term", 0)),
            [str(v) for v in voters] if isinstance(voters, list) else [],
            answer.node,
        )
