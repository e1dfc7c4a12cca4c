"""New and departed cluster members: the ``AddPeer`` and ``RemovePeer`` commands.

A node learns its peers' addresses from its config at start. When the
launcher starts a new node for a membership change (thesis §4), the running
nodes must learn where it listens before the leader can replicate to it:
the hub sends every node ``AddPeer`` and the node adds the address to its
address book and opens a link (a plain, unshaped one) to it. ``RemovePeer``
closes the links to a node that was removed and stopped.

Membership itself (who votes) is decided by Raft, not here: these commands
only change who this node can talk to.
"""

from __future__ import annotations

from typing import Any

from cluster.config import NeighbourLink, PeerAddr
from cluster.node.node import Node
from cluster.schema.control import AddPeer, RemovePeer
from cluster.schema.raft import valid_node_id


class PeerCommands:
    def __init__(self, node: Node) -> None:
        self._node = node
        node.on_command(AddPeer, self._on_add)
        node.on_command(RemovePeer, self._on_remove)

    def _on_add(self, command: Any) -> None:
        assert isinstance(command, AddPeer)
        node = self._node
        if not valid_node_id(command.peer) or command.peer == node.id:
            raise ValueError(f"bad peer id {command.peer!r}")
        if not 0 < command.port <= 65535:
            raise ValueError(f"bad port {command.port}")
        address = PeerAddr(command.peer, command.host, command.port)
        if node.address_book.get(command.peer) == address and command.peer in node.neighbours:
            return  # a repeated command (the hub resends on reconnect)
        others = [n for peer, n in node.neighbours.items() if peer != command.peer]
        if command.peer in node.neighbours:
            node.apply_links(others)  # it moved: drop the link to the old address first
        node.address_book[command.peer] = address
        node.apply_links([*others, NeighbourLink(command.peer)])

    def _on_remove(self, command: Any) -> None:
        assert isinstance(command, RemovePeer)
        node = self._node
        if command.peer not in node.neighbours and command.peer not in node.address_book:
            return
        node.apply_links([n for peer, n in node.neighbours.items() if peer != command.peer])
        node.address_book.pop(command.peer, None)
