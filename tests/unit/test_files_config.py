"""File storage settings: defaults, the [files] TOML table, validation, and the
node config that carries them to every node process."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.config import ClusterConfig, ConfigError, FilesConfig, NodeConfig, load_toml


def test_defaults_give_1_mib_chunks_three_copies_on_a_consistent_ring() -> None:
    files = ClusterConfig().validate().files()
    assert files == FilesConfig()
    assert (files.chunk_bytes, files.rf, files.strategy, files.hash) == (
        1024 * 1024,
        3,
        "consistent",
        "sha256",
    )
    placement = files.placement()
    assert (placement.strategy, placement.rf, placement.vnodes, placement.version) == (
        "consistent",
        3,
        128,
        0,
    )


def test_a_files_table_in_toml(tmp_path: Path) -> None:
    path = tmp_path / "lab.toml"
    path.write_text(
        "nodes = 4\n[files]\nchunk_bytes = 262144\nrf = 2\nstrategy = \"rendezvous\"\n"
        "hash = \"modhash\"\nrepair_grace_s = 3\n"
    )
    config = ClusterConfig().merged(load_toml(path)).validate()
    files = config.files()
    assert (files.chunk_bytes, files.rf, files.strategy, files.hash) == (
        262144,
        2,
        "rendezvous",
        "modhash",
    )
    assert files.repair_grace_s == 3.0


def test_an_unknown_files_setting_is_named(tmp_path: Path) -> None:
    path = tmp_path / "lab.toml"
    path.write_text("[files]\nchunk_size = 5\n")
    with pytest.raises(ConfigError, match="unknown setting 'files_chunk_size'"):
        ClusterConfig().merged(load_toml(path))


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"files_chunk_bytes": 1000}, "files.chunk_bytes must be between 65536"),
        ({"files_chunk_bytes": 8 * 1024 * 1024}, "files.chunk_bytes"),
        ({"files_rf": 0}, "files.rf must be between 1"),
        ({"files_strategy": "random"}, "files.strategy must be one of"),
        ({"files_hash": "crc"}, "files.hash must be one of"),
        ({"files_vnodes": 0}, "files.vnodes"),
        ({"files_repair_grace_s": 0.0}, "files.repair_grace_s"),
        ({"files_scrub_mb_per_s": -1.0}, "files.scrub_mb_per_s"),
        ({"files_rf": "3"}, "files_rf must be a int"),
    ],
)
def test_bad_files_settings_are_refused(settings: dict[str, object], says: str) -> None:
    with pytest.raises(ConfigError) as info:
        ClusterConfig().merged(settings).validate()
    assert says in str(info.value)


def test_the_node_config_carries_the_files_settings_through_json() -> None:
    files = FilesConfig(chunk_bytes=65536, rf=2, repair_grace_s=2.5)
    config = NodeConfig("n1", "run", "127.0.0.1", 1, 2, "/tmp/x", "127.0.0.1", 3, files=files)
    assert NodeConfig.from_json(config.to_json()).files == files
