"""run.py's settings: defaults, then --config, then flags; and one-line
errors (exit 2) for anything wrong, before any node process is started."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from cluster.config import ClusterConfig

ROOT = Path(__file__).resolve().parents[2]


def _load_run_py() -> ModuleType:
    # run.py is a script at the repository root, not an installed module
    spec = importlib.util.spec_from_file_location("clusterlab_run", ROOT / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run = _load_run_py()
RUN_TIMEOUT_S = 30


def run_py(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "run.py"), *args],
        capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=ROOT,
    )


def config_from(*argv: str) -> ClusterConfig:
    config: ClusterConfig = run.build_config(run.parse_flags(list(argv)))
    return config


def test_no_flags_gives_the_defaults() -> None:
    assert config_from() == ClusterConfig()


def test_flags_override_the_config_file_which_overrides_defaults(tmp_path: Path) -> None:
    toml = tmp_path / "lab.toml"
    toml.write_text("[cluster]\nnodes = 7\ntime_scale = 10\nport = 6000\n")
    from_file = config_from("--config", str(toml))
    assert (from_file.nodes, from_file.time_scale, from_file.port) == (7, 10.0, 6000)
    both = config_from("--config", str(toml), "--nodes", "9", "--no-browser", "--token", "t")
    assert (both.nodes, both.time_scale, both.port) == (9, 10.0, 6000)
    assert both.open_browser is False and both.token == "t"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--nodes", "51"), "nodes must be between 1 and 50, got 51"),
        (("--nodes", "0"), "nodes must be between 1 and 50, got 0"),
        (("--nodes", "five"), "argument --nodes: invalid int value: 'five'"),
        (("--time-scale", "0"), "time_scale must be between 0.1 and 100"),
        (("--async-mode", "gevent"), "argument --async-mode: invalid choice: 'gevent'"),
        (("--config", "/nonexistent/lab.toml"), "config file /nonexistent/lab.toml does not exist"),
        (("--frobnicate",), "unrecognized arguments: --frobnicate"),
    ],
)
def test_bad_settings_are_one_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    done = run_py(*args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert message in done.stderr
    assert done.stdout == ""


def test_a_config_file_with_an_unknown_setting_is_refused(tmp_path: Path) -> None:
    toml = tmp_path / "lab.toml"
    toml.write_text("nodez = 3\n")
    done = run_py("--config", str(toml))
    assert done.returncode == 2
    assert "unknown setting 'nodez'" in done.stderr


def test_eventlet_mode_without_eventlet_says_how_to_install_it() -> None:
    try:
        import eventlet  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("eventlet is installed here")
    done = run_py("--async-mode", "eventlet", "--no-browser")
    assert done.returncode == 2
    assert "pip install -e '.[eventlet]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_browser_opens_only_where_there_is_a_display() -> None:
    assert run.has_display({"DISPLAY": ":0"}, "linux")
    assert run.has_display({"WAYLAND_DISPLAY": "wayland-0"}, "linux")
    assert not run.has_display({}, "linux")
    assert not run.has_display({"DISPLAY": ":0", "CI": "true"}, "linux")
    assert run.has_display({}, "darwin")


def test_the_printed_url_is_one_a_browser_can_open() -> None:
    assert run.dashboard_url("127.0.0.1", 5000) == "http://127.0.0.1:5000/"
    assert run.dashboard_url("0.0.0.0", 5001) == "http://127.0.0.1:5001/"
    assert run.dashboard_url("::1", 5002) == "http://[::1]:5002/"


def test_a_busy_port_is_refused_before_any_node_starts(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        data_dir = tmp_path / "data"
        done = run_py("--port", str(port), "--no-browser", "--data-dir", str(data_dir))
    assert done.returncode == 1, done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr
    assert not list(data_dir.glob("*/node.json"))  # the launcher never spawned
