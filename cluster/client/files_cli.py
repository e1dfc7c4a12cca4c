"""The file commands of ``clusterlab``: put, get, ls, rm, placement.

They find the nodes through the backend (``GET /api/cluster``, the only
request that goes there) and then talk to the nodes directly, as an HDFS
client does (cluster/client/files.py): the transfer never passes through the
dashboard's process. ::

    clusterlab put lecture.mp4            # through the leader; prints the sha256
    clusterlab get lecture.mp4 -o copy.mp4
    clusterlab ls
    clusterlab rm lecture.mp4
    clusterlab placement --strategy rendezvous --rf 2

Exit status: 0 done, 1 failed (one line on stderr saying why), 2 no such
file in the cluster (like ``kv get`` of a missing key), 130 interrupted
(Ctrl-C: an upload is aborted, a partial download removed).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cluster.client import files
from cluster.client.api import ClusterClient
from cluster.client.files import FilesError, NodeDown
from cluster.client.progress import Progress, format_bytes

EXIT_NOT_FOUND = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C
# Named in the help only: the node validates and answers 400 with the list.
STRATEGIES = "consistent, rendezvous, modulo"
HASHES = "sha256, md5, sha1, modhash"

ConnectionOptions = Callable[[argparse.ArgumentParser, object], None]


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    connection_options: ConnectionOptions,
) -> None:
    put = commands.add_parser(
        "put",
        help="upload a file (split into chunks, placed by hash, replicated)",
        description="Upload FILE through one entry node, which splits it into chunks and "
        "stores each on RF nodes chosen by the placement strategy. Returns once every chunk "
        "has RF durable copies and the metadata is committed through Raft.",
    )
    connection_options(put, argparse.SUPPRESS)
    put.add_argument("file", metavar="FILE", help="the local file to upload")
    put.add_argument("--name", metavar="N", help="its name in the cluster (default: FILE's name)")
    put.add_argument("--node", metavar="NODE", help="the entry node (default: the leader)")

    get = commands.add_parser(
        "get",
        help="download a file, verifying every chunk and the whole",
        description="Download NAME: each chunk straight from a replica (the next replica if "
        "one is down, lacks it or sends bad bytes), checked against its SHA-256, then the "
        "whole file's SHA-256. The file appears under PATH only when complete.",
    )
    connection_options(get, argparse.SUPPRESS)
    get.add_argument("name", metavar="NAME", help="the file's name in the cluster")
    get.add_argument(
        "-o", "--output", metavar="PATH", help="where to write it (default: ./NAME; a "
        "directory means DIR/NAME)",
    )

    ls = commands.add_parser("ls", help="list the files in the cluster",
                             description="List every committed file and the placement.")
    connection_options(ls, argparse.SUPPRESS)

    rm = commands.add_parser("rm", help="delete a file",
                             description="Delete NAME; its chunks are garbage-collected.")
    connection_options(rm, argparse.SUPPRESS)
    rm.add_argument("name", metavar="NAME")

    placement = commands.add_parser(
        "placement",
        help="show or change where chunks go (strategy, hash, RF, virtual nodes)",
        description="Without options: show the placement settings. With options: change "
        "them; chunks whose placement changes are moved (only those).",
    )
    connection_options(placement, argparse.SUPPRESS)
    placement.add_argument("--strategy", help=f"one of {STRATEGIES}")
    placement.add_argument("--hash", help=f"one of {HASHES}")
    placement.add_argument("--rf", type=int, help="replication factor (copies of each chunk)")
    placement.add_argument("--vnodes", type=int, help="virtual nodes per node (consistent)")


FILE_COMMANDS = ("put", "get", "ls", "rm", "placement")


def run(client: ClusterClient, args: argparse.Namespace) -> int:
    """Run one file command; FilesError / ClientError propagate to the caller's handler."""
    nodes = files.live_nodes(client.cluster())
    if not nodes:
        raise FilesError("no node is up (see 'clusterlab status')", 503)
    try:
        if args.command == "put":
            _put(args, nodes)
        elif args.command == "get":
            _get(args, nodes)
        elif args.command == "ls":
            print(format_listing(files.list_files(nodes)))
        elif args.command == "rm":
            gone = files.delete_file(args.name, nodes)
            print(f"OK deleted {args.name} (version {gone.get('version', '?')})")
        elif args.command == "placement":
            _placement(args, nodes)
    except FilesError as exc:
        if exc.status == 404 and args.command in ("get", "rm"):
            print(f"clusterlab: {args.name}: no such file in the cluster", file=sys.stderr)
            return EXIT_NOT_FOUND
        raise
    except KeyboardInterrupt:
        # put aborted its upload and get removed its .part file on the way out
        kept = "; nothing was kept" if args.command in ("put", "get") else ""
        print(f"clusterlab: {args.command} interrupted{kept}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def _put(args: argparse.Namespace, nodes: dict[str, str]) -> None:
    path = Path(args.file)
    if not path.is_file():
        what = "is a directory; give a file" if path.is_dir() else "no such file"
        raise FilesError(f"{path}: {what}")
    name = args.name if args.name is not None else path.name
    entries = list(nodes.items())
    if args.node is not None:
        if args.node not in nodes:
            raise FilesError(f"{args.node} is not up; up: {', '.join(nodes)}")
        entries = [(args.node, nodes[args.node])]
    progress = Progress(f"put {name}")
    for attempt, (node, addr) in enumerate(entries, start=1):
        try:
            summary = files.upload(path, name, addr, progress)
        except NodeDown:
            # Nothing was sent to it, so the next node may take the whole upload.
            if attempt < len(entries):
                continue
            progress.abandon()
            raise
        except BaseException:
            progress.abandon()
            raise
        progress.finish()
        print(
            f"OK {summary['name']}: {summary['size_bytes']} bytes in {summary['chunks']} "
            f"chunks, version {summary['version']}, sha256 {summary['sha256']} (via {node})"
        )
        return


def _get(args: argparse.Namespace, nodes: dict[str, str]) -> None:
    out = Path(args.output) if args.output else Path(args.name)
    if out.is_dir():
        out = out / args.name
    info = files.file_info(args.name, nodes)
    progress = Progress(f"get {args.name}")
    try:
        files.download(args.name, nodes, out, progress, info=info)
    except BaseException:
        progress.abandon()
        raise
    progress.finish()
    print(f"OK {args.name} -> {os.fspath(out)}: {info['size_bytes']} bytes, "
          f"{len(info['chunks'])} chunks, sha256 {info['sha256']} verified")


def _placement(args: argparse.Namespace, nodes: dict[str, str]) -> None:
    changes = {k: getattr(args, k) for k in ("strategy", "hash", "rf", "vnodes")}
    changes = {k: v for k, v in changes.items() if v is not None}
    # the node answers a change with the committed settings, members and down nodes
    shown = files.set_placement(nodes, changes) if changes else files.placement(nodes)
    print(format_placement(shown))


def format_placement(settings: dict[str, Any]) -> str:
    line = "  ".join(
        f"{key} {settings[key]}" for key in ("strategy", "hash", "rf", "vnodes", "version")
        if key in settings
    )
    members = " ".join(settings.get("members") or []) or "-"
    down = " ".join(settings.get("down") or []) or "-"
    return f"{line}\nmembers: {members}\ndown: {down}"


def format_listing(listing: dict[str, Any]) -> str:
    header = ("NAME", "SIZE", "CHUNKS", "VERSION", "SHA256")
    rows = [header]
    for f in sorted(listing.get("files") or [], key=lambda f: str(f.get("name"))):
        rows.append((
            str(f.get("name")),
            format_bytes(int(f.get("size_bytes", 0))),
            str(f.get("chunks", "?")),
            str(f.get("version", "?")),
            str(f.get("sha256", ""))[:16],
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    if len(rows) == 1:
        lines.append("(no files)")
    settings = listing.get("placement")
    if isinstance(settings, dict):
        lines.append("")
        lines.append("placement: " + format_placement(settings).splitlines()[0])
    return "\n".join(lines)
