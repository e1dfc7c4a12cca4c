"""``clusterlab fault ...``: every fault of ``POST /api/faults`` from a terminal.

The same requests the dashboard's menus send, so an experiment can be typed,
scripted and pasted into a lab report (docs/faults.md)::

    clusterlab fault kill|restart|wipe|pause|resume n3
    clusterlab fault partition n1,n2 n3,n4,n5
    clusterlab fault oneway --from n1 --to n2,n3
    clusterlab fault link n1 n2 --delay-ms 200 --loss 0.1
    clusterlab fault link n1 n2 --down
    clusterlab fault heal [--links] [--id f3]
    clusterlab fault ls

Every command that changes something prints the faults in force afterwards.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from cluster.client.api import ClientError, ClusterClient

NODE_ACTIONS = ("kill", "restart", "wipe", "pause", "resume")
NODE_ACTION_HELP = {
    "kill": "SIGKILL the node's process",
    "restart": "kill if alive, start again with the same data and ports",
    "wipe": "kill, empty the node's data directory, start again (it must catch up)",
    "pause": "SIGSTOP: the process freezes with its sockets open (a long GC pause)",
    "resume": "SIGCONT a paused node",
}
LINK_NUMBERS = (
    ("delay_ms", "--delay-ms", "MS", "extra one-way delay, on top of the link's latency"),
    ("jitter_ms", "--jitter-ms", "MS", "extra jitter (± uniform)"),
    ("loss", "--loss", "P", "probability 0..1 that a frame is lost"),
    ("duplicate", "--duplicate", "P", "probability 0..1 that a frame is sent twice"),
    ("reorder", "--reorder", "P", "probability 0..1 that a frame swaps with the next one"),
)

ConnectionOptions = Callable[[argparse.ArgumentParser, object], None]


def add_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    connection_options: ConnectionOptions,
) -> None:
    fault = commands.add_parser(
        "fault",
        help="break the cluster: kill/pause nodes, partition, cut or degrade links",
        description="Inject a fault into the running cluster (instructor token). Node faults "
        "signal real processes; network faults are applied by the nodes to their real frames.",
    )
    connection_options(fault, argparse.SUPPRESS)
    actions = fault.add_subparsers(dest="fault_action", metavar="ACTION", required=True)

    def action(name: str, help_text: str, description: str | None = None) -> Any:
        parser = actions.add_parser(name, help=help_text, description=description or help_text)
        connection_options(parser, argparse.SUPPRESS)
        return parser

    for name in NODE_ACTIONS:
        action(name, NODE_ACTION_HELP[name]).add_argument("node", help="node id, e.g. n2")

    partition = action(
        "partition",
        "split the nodes into groups that cannot talk to each other",
        "Each GROUP is a comma-separated list of nodes; nodes not listed form one more "
        "group. Replaces the partition in force.",
    )
    partition.add_argument("groups", nargs="+", metavar="GROUP", help="e.g. n1,n2 n3,n4,n5")

    oneway = action(
        "oneway",
        "messages FROM reach TO, but messages from TO do not reach FROM",
    )
    oneway.add_argument("--from", dest="frm", required=True, metavar="NODES", help="e.g. n1")
    oneway.add_argument("--to", required=True, metavar="NODES", help="e.g. n2,n3")

    heal = action("heal", "remove every partition and one-way rule")
    heal.add_argument("--links", action="store_true", help="also remove every link fault")
    heal.add_argument("--id", metavar="ID", help="remove only this fault (see `fault ls`)")

    link = action(
        "link",
        "cut, restore or degrade the link between two nodes",
        "Set the whole fault of the link A–B (both directions unless --oneway): options "
        "not given are off, so `fault link n1 n2 --up` restores the link.",
    )
    link.add_argument("a", help="one end, e.g. n1")
    link.add_argument("b", help="the other end, e.g. n2")
    updown = link.add_mutually_exclusive_group()
    updown.add_argument("--down", dest="up", action="store_false", default=None, help="cut it")
    updown.add_argument("--up", dest="up", action="store_true", help="restore it")
    for dest, flag, metavar, help_text in LINK_NUMBERS:
        link.add_argument(flag, dest=dest, type=float, metavar=metavar, help=help_text)
    link.add_argument("--oneway", action="store_true", help="only the direction A → B")

    action("ls", "list the faults in force")


def run(client: ClusterClient, args: argparse.Namespace) -> int:
    name = args.fault_action
    if name == "ls":
        listed = client.faults()
        print(format_faults(listed["faults"]))
        print(format_applied(listed))
        return 0
    if name in NODE_ACTIONS:
        node = client.fault(name, args.node)
        print(f"{name} {node['id']}: now {node['state']} (pid {node['pid'] or '-'})")
        return 0
    answer = client.change_faults(_request(args))
    print(format_faults(answer["faults"]))
    return 0


def _request(args: argparse.Namespace) -> dict[str, Any]:
    name = args.fault_action
    body: dict[str, Any] = {"action": name}
    if name == "partition":
        body["groups"] = [_nodes(group) for group in args.groups]
    elif name == "oneway":
        body["from"], body["to"] = _nodes(args.frm), _nodes(args.to)
    elif name == "heal":
        if args.id:
            if args.links:
                raise ClientError("give --id or --links, not both")
            body["id"] = args.id
        else:
            body["links"] = args.links
    else:
        body.update(a=args.a, b=args.b, oneway=args.oneway)
        if args.up is not None:
            body["up"] = args.up
        for dest, *_ in LINK_NUMBERS:
            value = getattr(args, dest)
            if value is not None:
                body[dest] = value
    return body


def _nodes(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


# -- printing ------------------------------------------------------------------


def describe(fault: dict[str, Any]) -> str:
    """One line for a fault, as ``fault ls`` and the dashboard's list say it."""
    kind = fault["kind"]
    if kind == "partition":
        return " | ".join(",".join(group) for group in fault["groups"])
    if kind == "oneway":
        frm, to = ",".join(fault["from"]), ",".join(fault["to"])
        return f"{frm} → {to} passes; {to} → {frm} is stopped"
    if kind == "link":
        arrow = "→" if fault["oneway"] else "–"
        return f"{fault['a']}{arrow}{fault['b']} {_link_effects(fault)}"
    return str(fault.get("node", ""))


def _link_effects(fault: dict[str, Any]) -> str:
    if not fault["up"]:
        return "down"
    effects = []
    if fault["delay_ms"] or fault["jitter_ms"]:
        effects.append(f"delay {fault['delay_ms']:g} ms ± {fault['jitter_ms']:g}")
    for name in ("loss", "duplicate", "reorder"):
        if fault[name]:
            effects.append(f"{name} {fault[name] * 100:g}%")
    return ", ".join(effects)


def format_faults(faults: list[dict[str, Any]], now_ms: float | None = None) -> str:
    if not faults:
        return "no faults in force"
    now_ms = time.time() * 1000.0 if now_ms is None else now_ms
    rows = [("ID", "KIND", "SINCE", "WHAT")]
    for fault in faults:
        since_s = max(0.0, (now_ms - fault["since_ms"]) / 1000.0)
        rows.append((fault["id"], fault["kind"], f"{since_s:.1f} s ago", describe(fault)))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        "  ".join([*(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)), row[3]])
        for row in rows
    )


def format_applied(listed: dict[str, Any]) -> str:
    """Whether every node applies the latest rules (each confirms a version)."""
    version = listed.get("version", 0)
    applied: dict[str, int] = listed.get("applied", {})
    behind = sorted(n for n, v in applied.items() if v < version)
    if not behind:
        return f"rules version {version}: applied by every node that reported"
    return f"rules version {version}: not yet applied by {', '.join(behind)}"
