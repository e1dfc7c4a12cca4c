"""docs/telemetry.md is the schema's reference page: it must not drift from the code."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from cluster.schema.control import CONTROL
from cluster.schema.telemetry import TELEMETRY

DOC = Path(__file__).resolve().parents[2] / "docs" / "telemetry.md"


def documented_rows() -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        m = re.match(r"\|\s*`(\w+)`\s*\|\s*([^|]*)\|", line)
        if m:
            rows[m.group(1)] = [f.strip() for f in m.group(2).split(",") if f.strip()]
    return rows


def test_every_event_and_command_is_documented_with_its_fields() -> None:
    rows = documented_rows()
    for registry in (TELEMETRY, CONTROL):
        for tag in registry.tags():
            assert tag in rows, f"{tag} is missing from docs/telemetry.md"
            fields = [f.name for f in dataclasses.fields(registry.cls(tag))]
            assert rows[tag] == fields, (
                f"docs/telemetry.md lists {rows[tag]} for {tag}, the code has {fields}"
            )


def test_no_documented_event_is_gone_from_the_code() -> None:
    known = set(TELEMETRY.tags()) | set(CONTROL.tags())
    stale = set(documented_rows()) - known
    assert not stale, f"docs/telemetry.md documents types the code no longer has: {sorted(stale)}"
