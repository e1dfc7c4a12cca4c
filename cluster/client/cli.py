"""The ``clusterlab`` command line: look at and break a running cluster.

Everything the dashboard's buttons do is also one command away, so an
exercise can be scripted, repeated and pasted into a lab report::

    clusterlab status
    clusterlab fault kill n2
    clusterlab fault partition n1,n2 n3,n4,n5
    clusterlab kv put greeting hello
    clusterlab kv get greeting --stale --node n3
    clusterlab members add
    clusterlab put notes.pdf && clusterlab get notes.pdf -o copy.pdf
    clusterlab lesson leader_crash
    clusterlab chaos --seed 7 --duration 60

``--url`` and ``--token`` (or ``CLUSTERLAB_URL`` / ``CLUSTERLAB_TOKEN``) say
which backend and prove the instructor's right to inject faults, write to the
key-value store and change membership (every command that changes the
cluster sends the token; reading never needs it). Errors are one line on
stderr with exit status 1, never a stack trace; ``kv get`` of a missing key
exits with 2 (like ``grep`` finding nothing), so a script can tell "absent"
from "failed"; so do ``get`` and ``rm`` of a file the cluster does not have.
The file commands (put, get, ls, rm, placement) are in files_cli.py, lesson
and chaos in lesson_cli.py.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from cluster.client import fault_cli, files_cli, lesson_cli
from cluster.client.api import (
    DEFAULT_URL,
    TOKEN_ENV,
    URL_ENV,
    ClientError,
    ClusterClient,
    ClusterInfo,
)

MEMBER_ACTIONS = ("add", "remove")
EXIT_ERROR = 1
EXIT_NOT_FOUND = 2


def _connection_options(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--url",
        default=default,
        help=f"backend address (default: ${URL_ENV} or {DEFAULT_URL})",
    )
    parser.add_argument(
        "--token",
        default=default,
        help=f"instructor token for faults (default: ${TOKEN_ENV})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clusterlab",
        description="Look at and control a running clusterlab (started with run.py).",
    )
    _connection_options(parser, None)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    # the options are accepted after the command too; SUPPRESS keeps a
    # subcommand from overwriting a value given before it
    status = commands.add_parser("status", help="show every node: state, pid, addresses")
    _connection_options(status, argparse.SUPPRESS)

    fault_cli.add_command(commands, _connection_options)

    kv = commands.add_parser(
        "kv",
        help="read and write the replicated key-value store",
        description="Read and write the replicated key-value store through the backend. "
        "Writes return once committed by a majority.",
    )
    _connection_options(kv, argparse.SUPPRESS)
    kv_commands = kv.add_subparsers(dest="kv_command", metavar="OP", required=True)
    put = kv_commands.add_parser(
        "put", help="write KEY=VALUE (instructor token); prints where it committed"
    )
    _connection_options(put, argparse.SUPPRESS)
    put.add_argument("key")
    put.add_argument("value")
    _entry_node_option(put)
    get = kv_commands.add_parser("get", help="print the value of KEY (exit 2 if absent)")
    _connection_options(get, argparse.SUPPRESS)
    get.add_argument("key")
    get.add_argument(
        "--stale",
        action="store_true",
        help="read the entry node's local copy at once, possibly old (default: linearizable)",
    )
    get.add_argument(
        "-v", "--verbose", action="store_true", help="also say which node answered, and how"
    )
    _entry_node_option(get)
    delete = kv_commands.add_parser("del", help="delete KEY (instructor token)")
    _connection_options(delete, argparse.SUPPRESS)
    delete.add_argument("key")
    _entry_node_option(delete)

    members = commands.add_parser(
        "members",
        help="add or remove a voting member (instructor token)",
        description="Add a new node process and make it a voter, or remove a voter and stop "
        "its process: one server at a time, as Raft requires.",
    )
    _connection_options(members, argparse.SUPPRESS)
    members.add_argument("action", choices=MEMBER_ACTIONS, help="what to do")
    members.add_argument(
        "node", nargs="?", help="node id; optional for add (the next id, e.g. n6, is used)"
    )
    files_cli.add_commands(commands, _connection_options)
    lesson_cli.add_commands(commands, _connection_options)
    return parser


def _entry_node_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--node", metavar="NODE", help="send the request to this node (default: the leader)"
    )


def format_status(info: ClusterInfo) -> str:
    header = ("NODE", "STATE", "PID", "PEER ADDR", "CLIENT ADDR", "RESTARTS", "ROLE", "TERM",
              "COMMIT")
    rows = [header]
    for node in info["nodes"]:
        rows.append(
            (
                node["id"],
                node["state"],
                str(node["pid"]) if node["pid"] is not None else "-",
                node["addr"] or "-",
                node["client_addr"] or "-",
                str(node.get("restarts", 0)),
                node.get("role") or "-",
                str(node.get("term", "-")),
                str(node.get("commit_index", "-")),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    leader = info.get("leader") or "none"
    lines.append("")
    scale = info.get("time_scale", 1.0)
    lines.append(f"leader: {leader}   time scale: {scale:g}×   run: {info.get('run_id')}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    url = args.url or os.environ.get(URL_ENV) or DEFAULT_URL
    token = args.token or os.environ.get(TOKEN_ENV) or None
    client = ClusterClient(url, token)
    try:
        if args.command == "status":
            print(format_status(client.cluster()))
        elif args.command == "fault":
            return fault_cli.run(client, args)
        elif args.command == "kv":
            return _kv(client, args)
        elif args.command in files_cli.FILE_COMMANDS:
            return files_cli.run(client, args)
        elif args.command in lesson_cli.LESSON_COMMANDS:
            return lesson_cli.run(client, args)
        elif args.command == "members":
            if args.action == "remove" and not args.node:
                raise ClientError("members remove needs the node to remove, e.g. n3")
            change = client.members(args.action, args.node)
            print(
                f"{change['action']} {change['node']}: committed at index {change['index']}, "
                f"term {change['term']}; voters now {', '.join(change['voters']) or '?'}"
            )
    except ClientError as exc:
        print(f"clusterlab: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        client.close()
    return 0


def _kv(client: ClusterClient, args: argparse.Namespace) -> int:
    if args.kv_command == "put":
        put = client.kv_put(args.key, args.value, args.node)
        print(f"OK {put['key']}: committed at index {put['index']}, term {put['term']} "
              f"(via {put['node']})")
    elif args.kv_command == "del":
        deleted = client.kv_delete(args.key, args.node)
        existed = "" if deleted.get("deleted", True) else " (it did not exist)"
        print(f"OK {deleted['key']} deleted{existed}: committed at index {deleted['index']}, "
              f"term {deleted['term']} (via {deleted['node']})")
    else:
        consistency = "stale" if args.stale else "linearizable"
        read = client.kv_get(args.key, consistency, args.node)
        if read is None:
            print(f"clusterlab: {args.key}: no such key", file=sys.stderr)
            return EXIT_NOT_FOUND
        print(read["value"])
        if args.verbose:
            print(f"({consistency} read served by {read['node']})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
