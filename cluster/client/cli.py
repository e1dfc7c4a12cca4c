"""The ``clusterlab`` command line: look at and break a running cluster.

Everything the dashboard's buttons do is also one command away, so an
exercise can be scripted, repeated and pasted into a lab report::

    clusterlab status
    clusterlab fault kill n2

``--url`` and ``--token`` (or ``CLUSTERLAB_URL`` / ``CLUSTERLAB_TOKEN``) say
which backend and prove the instructor's right to inject faults. Errors are
one line on stderr with exit status 1, never a stack trace.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from cluster.client.api import (
    DEFAULT_URL,
    TOKEN_ENV,
    URL_ENV,
    ClientError,
    ClusterClient,
    ClusterInfo,
)

FAULT_ACTIONS = ("kill", "restart", "pause", "resume")
EXIT_ERROR = 1


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

    fault = commands.add_parser("fault", help="kill, restart, pause or resume a node")
    _connection_options(fault, argparse.SUPPRESS)
    fault.add_argument("action", choices=FAULT_ACTIONS, help="what to do to the node")
    fault.add_argument("node", help="node id, e.g. n2")
    return parser


def format_status(info: ClusterInfo) -> str:
    header = ("NODE", "STATE", "PID", "PEER ADDR", "CLIENT ADDR", "RESTARTS")
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
            node = client.fault(args.action, args.node)
            print(f"{args.action} {node['id']}: now {node['state']} (pid {node['pid'] or '-'})")
    except ClientError as exc:
        print(f"clusterlab: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
