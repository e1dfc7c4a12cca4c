"""The ``SetFaults`` command reaching one node: check it, apply it, confirm it.

A command is remote data: the rules are checked as a whole by the same pure
code the backend validates requests with (cluster/core/faults.py), and a bad
set is refused (``commands_refused``) so the node never runs half of one.
Each applied set is confirmed with a ``FaultsApplied`` event, so the
dashboard and the tests know when a partition really is in force at every
node, not only requested.
"""

from __future__ import annotations

from typing import Any

from cluster.core.faults import FaultError, FaultRules
from cluster.node.clock import wall_ms
from cluster.node.node import Node
from cluster.schema.control import SetFaults
from cluster.schema.telemetry import FaultsApplied


class FaultCommands:
    """Applies the hub's network faults to ``node``'s gate (node.faults)."""

    def __init__(self, node: Node) -> None:
        self._node = node
        node.on_command(SetFaults, self._on_set_faults)

    def _on_set_faults(self, command: Any) -> None:
        assert isinstance(command, SetFaults)
        try:
            rules = FaultRules.from_wire(command.partition, command.oneways, command.links)
        except FaultError as exc:
            raise ValueError(f"SetFaults refused: {exc}") from exc  # counted by the node
        node = self._node
        node.faults.apply(rules, command.version)
        links = {peer: fault.settings() for peer, fault in rules.links_from(node.id).items()}
        blocked = rules.blocked_from(node.id, node.address_book)
        node.emit(FaultsApplied(node.id, wall_ms(), command.version, blocked, links))
