"""``clusterlab put/get/ls/rm/placement`` from a shell, against a real run.py.

The commands ask the backend only where the nodes are, then talk to the
nodes directly. What a user meets is checked: a round trip that gives back
the same bytes (and a ``get`` that never leaves a half file), one summary
line on stderr when stderr is not a terminal, exit status 2 for a file the
cluster does not have, 1 with one clear line for a missing local file, a
name the node refuses, or no backend at all; ``--help`` on every command.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from files_testkit import CHUNK_BYTES, RF, FilesLab, random_bytes, start_lab

from cluster.client.cli import main as cli_main


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FilesLab]:
    yield from start_lab(tmp_path_factory.mktemp("files-cli"))


@pytest.mark.parametrize("command", ["put", "get", "ls", "rm", "placement"])
def test_every_file_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli_main([command, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: clusterlab {command}")


def test_put_ls_get_rm_round_trip(lab: FilesLab, tmp_path: Path) -> None:
    lab.leader()
    data = random_bytes(7 * CHUNK_BYTES + 99, seed=11)
    source = tmp_path / "lecture notes.pdf"
    source.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()

    put = lab.cli("put", str(source))
    assert put.returncode == 0, put.stderr
    assert re.fullmatch(
        rf"OK lecture notes\.pdf: {len(data)} bytes in 8 chunks, version \d+, "
        rf"sha256 {sha} \(via n\d\)\n", put.stdout)
    # stderr is a pipe here, not a terminal: one summary line, no bar redraws
    assert re.fullmatch(r"put lecture notes\.pdf: 458\.9 kB in \d+\.\d\d s \(\d+\.\d MB/s\)\n",
                        put.stderr)

    ls = lab.cli("ls")
    assert ls.returncode == 0, ls.stderr
    row = next(line for line in ls.stdout.splitlines() if line.startswith("lecture notes.pdf"))
    assert row.split()[2:] == ["458.9", "kB", "8", row.split()[5], sha[:16]]
    assert f"rf {RF}" in ls.stdout

    out = tmp_path / "copy.pdf"
    get = lab.cli("get", "lecture notes.pdf", "-o", str(out))
    assert get.returncode == 0, get.stderr
    assert out.read_bytes() == data
    assert get.stdout == (f"OK lecture notes.pdf -> {out}: {len(data)} bytes, 8 chunks, "
                          f"sha256 {sha} verified\n")
    assert not (tmp_path / "copy.pdf.part").exists()

    # a directory as the target means DIR/NAME, like cp
    into = tmp_path / "downloads"
    into.mkdir()
    assert lab.cli("get", "lecture notes.pdf", "-o", str(into)).returncode == 0
    assert (into / "lecture notes.pdf").read_bytes() == data

    rm = lab.cli("rm", "lecture notes.pdf")
    assert rm.returncode == 0, rm.stderr
    assert rm.stdout.startswith("OK deleted lecture notes.pdf")
    assert "lecture notes.pdf" not in lab.cli("ls").stdout


def test_put_with_a_name_and_an_entry_node(lab: FilesLab, tmp_path: Path) -> None:
    lab.leader()
    source = tmp_path / "local.bin"
    source.write_bytes(random_bytes(3000, seed=12))
    put = lab.cli("put", str(source), "--name", "remote.bin", "--node", "n3")
    assert put.returncode == 0, put.stderr
    assert put.stdout.startswith("OK remote.bin: 3000 bytes in 1 chunks")
    assert put.stdout.rstrip().endswith("(via n3)")
    assert lab.cli("rm", "remote.bin").returncode == 0


def test_a_file_the_cluster_does_not_have_exits_2(lab: FilesLab, tmp_path: Path) -> None:
    lab.leader()
    get = lab.cli("get", "no-such-file", "-o", str(tmp_path / "x"))
    assert get.returncode == 2
    assert get.stderr == "clusterlab: no-such-file: no such file in the cluster\n"
    assert list(tmp_path.iterdir()) == []
    rm = lab.cli("rm", "no-such-file")
    assert rm.returncode == 2


def test_local_mistakes_and_refused_names_are_one_line_with_exit_1(
    lab: FilesLab, tmp_path: Path
) -> None:
    lab.leader()
    missing = lab.cli("put", str(tmp_path / "absent.bin"))
    assert missing.returncode == 1
    assert missing.stderr == f"clusterlab: error: {tmp_path / 'absent.bin'}: no such file\n"

    source = tmp_path / "ok.bin"
    source.write_bytes(b"some bytes")
    for bad in ("../escape", " padded"):
        refused = lab.cli("put", str(source), "--name", bad)
        assert refused.returncode == 1, refused.stdout
        assert refused.stderr.startswith("clusterlab: error: ")
        assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
        assert "file name" in refused.stderr

    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    nothing = lab.cli("put", str(empty))
    assert nothing.returncode == 1 and "empty" in nothing.stderr


def test_placement_shows_the_settings_and_members(lab: FilesLab) -> None:
    lab.leader()
    shown = lab.cli("placement")
    assert shown.returncode == 0, shown.stderr
    first, members, down = shown.stdout.splitlines()
    assert first.startswith(f"strategy consistent  hash sha256  rf {RF}  vnodes ")
    assert members == "members: n1 n2 n3"
    assert down == "down: -"


def test_no_backend_is_one_clear_line(tmp_path: Path, lab: FilesLab) -> None:
    done = lab.cli("--url", "http://127.0.0.1:9", "ls")
    assert done.returncode == 1
    assert "cannot reach the clusterlab backend" in done.stderr
    assert done.stderr.count("\n") == 1
