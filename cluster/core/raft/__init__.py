"""Raft (Ongaro & Ousterhout 2014; Ongaro's thesis 2014) as a pure state machine.

Import the API from here::

    from cluster.core.raft import RaftNode, RaftConfig, Ready, PersistentState

docs/raft-core.md is the contract: what to call, and what the caller must do
with each ``Ready`` and in which order.
"""

from cluster.core.raft.node import MEMBERSHIP_ACTIONS, RaftNode
from cluster.core.raft.progress import Mode, Progress
from cluster.core.raft.ready import Ready
from cluster.core.raft.settings import RaftConfig
from cluster.core.raft.types import (
    Accepted,
    HardState,
    NotLeader,
    PersistentState,
    Proposed,
    ProposeResult,
    RaftApiError,
    RaftInvariantError,
    ReadResult,
    ReadState,
    Refused,
    Role,
    Snapshot,
    SoftState,
)

__all__ = [
    "MEMBERSHIP_ACTIONS",
    "Accepted",
    "HardState",
    "Mode",
    "NotLeader",
    "PersistentState",
    "Progress",
    "ProposeResult",
    "Proposed",
    "RaftApiError",
    "RaftConfig",
    "RaftInvariantError",
    "RaftNode",
    "ReadResult",
    "ReadState",
    "Ready",
    "Refused",
    "Role",
    "Snapshot",
    "SoftState",
]
