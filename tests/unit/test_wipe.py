"""Emptying a node's data directory (cluster/launcher/wipe.py) deletes only what it owns.

Real files in a temporary directory: the Raft files go, node.json and
node.log stay, a symbolic link is removed as a link and never followed, and
a directory outside the run's data directory is refused untouched.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.launcher.wipe import WipeRefused, empty_node_dir


def make_node_dir(run_dir: Path) -> Path:
    node_dir = run_dir / "n2"
    (node_dir / "raft").mkdir(parents=True)
    (node_dir / "raft" / "log").write_bytes(b"entries")
    (node_dir / "raft" / "hardstate").write_bytes(b"term 3")
    (node_dir / "chunks" / "ab").mkdir(parents=True)
    (node_dir / "chunks" / "ab" / "abcdef").write_bytes(b"chunk")
    (node_dir / "node.json").write_text("{}")
    (node_dir / "node.log").write_text("started\n")
    return node_dir


def test_everything_but_the_config_and_the_log_is_removed(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    node_dir = make_node_dir(run_dir)
    removed = empty_node_dir(node_dir, run_dir)
    assert removed == ["chunks", "raft"]
    assert sorted(p.name for p in node_dir.iterdir()) == ["node.json", "node.log"]
    assert (node_dir / "node.log").read_text() == "started\n"


def test_links_are_removed_as_links_and_their_targets_survive(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    node_dir = make_node_dir(run_dir)
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("do not delete")
    (node_dir / "to_dir").symlink_to(precious, target_is_directory=True)
    (node_dir / "to_file").symlink_to(precious / "thesis.tex")
    empty_node_dir(node_dir, run_dir)
    assert (precious / "thesis.tex").read_text() == "do not delete"
    assert not (node_dir / "to_dir").is_symlink() and not (node_dir / "to_file").is_symlink()


def test_a_directory_outside_the_run_is_refused_untouched(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    make_node_dir(run_dir)
    elsewhere = tmp_path / "home" / "n2"
    elsewhere.mkdir(parents=True)
    (elsewhere / "notes.txt").write_text("mine")
    with pytest.raises(WipeRefused, match="not inside the run's data directory"):
        empty_node_dir(elsewhere, run_dir)
    with pytest.raises(WipeRefused):
        empty_node_dir(run_dir, run_dir)  # the run directory itself is not a node's
    assert (elsewhere / "notes.txt").exists()


def test_a_node_directory_that_is_a_link_is_refused(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    target = tmp_path / "target"
    target.mkdir()
    (target / "data").write_text("keep")
    (run_dir / "n3").symlink_to(target, target_is_directory=True)
    with pytest.raises(WipeRefused, match="not a directory of its own"):
        empty_node_dir(run_dir / "n3", run_dir)
    assert (target / "data").exists()
