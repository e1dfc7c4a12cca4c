"""Client requests forwarded between nodes: any node accepts a write, the leader applies it.

A client may talk to any node (as with etcd). A node that is not the leader
wraps the request in a ``KvForward`` and sends it to the leader as an
ordinary routed message, so the dashboard shows the request travelling; the
leader answers with a ``KvForwardReply``, which the entry node turns into
the HTTP response. Both carry every request of one event-loop turn (a
batch), so a busy follower sends one frame per turn, not one per request.
``request_id`` is the entry node's own number for a request; ``trace_id``
(``n2:17``) names it in ``ClientRequest`` / ``ClientReply`` telemetry on
both nodes.

Linearizable reads are not forwarded this way: the follower asks the leader
for a read index (``ReadIndexRequest``, cluster/schema/raft.py) and serves
the read from its own state machine (thesis §6.4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cluster.schema.messages import wire

# Operations a KvForward may carry: writes of the key-value store, the
# single-server membership changes of ``POST /members`` (thesis §4), and the
# file metadata writes of the files namespace (cluster/core/kv.py).
FORWARD_OPS = ("put", "delete", "add", "remove", "fput", "fdel", "fcas")


# One forwarded request: [request_id, op, key, value, client_id, seq, trace_id]
# and, for ``fcas`` only, an eighth field: the expected old value (bytes or nil).
# ``client_id``/``seq`` is the client's session (exactly-once, thesis §6.3);
# ``key`` is the node id for ``add``/``remove``; ``trace_id`` is '' when the
# request is not followed on the dashboard.
ForwardedRequest = list[Any]
# One answer: [request_id, status, index, term, value before or None, error].
ForwardedReply = list[Any]


@wire
@dataclass(frozen=True, slots=True)
class KvForward:
    """Please propose these writes (or membership changes) for my clients.

    A follower sends everything it has for the leader in one message per
    event-loop turn: like entries in an AppendEntries, many requests share
    one frame, one authentication tag and one pair of telemetry events.
    """

    requests: list[ForwardedRequest]

    def text(self) -> str:
        if not self.requests:
            return "KvForward (empty)"
        first = self.requests[0]
        more = f" (+{len(self.requests) - 1} more)" if len(self.requests) > 1 else ""
        trace = f" #{first[6]}" if len(first) == 7 and first[6] else ""
        return f"KvForward {first[1]} {str(first[2])[:32]}{trace}{more}"


@wire
@dataclass(frozen=True, slots=True)
class KvForwardReply:
    """The leader's answers: per request an HTTP status, where the write committed
    or why it failed."""

    replies: list[ForwardedReply]

    def text(self) -> str:
        if not self.replies:
            return "KvForwardReply (empty)"
        first = self.replies[0]
        more = f" (+{len(self.replies) - 1} more)" if len(self.replies) > 1 else ""
        if len(first) != 6:
            return f"KvForwardReply{more}"
        outcome = f"i{first[2]}/t{first[3]}" if first[1] == 200 else str(first[5])[:40]
        return f"KvForwardReply #{first[0]} {first[1]} {outcome}{more}"


def parse_request(raw: Any) -> tuple[int, str, str, bytes, str, int, str] | None:
    """One forwarded request checked field by field (remote data), or None.

    The optional eighth field (``fcas``'s expected value) is read by
    ``request_expected``.
    """
    if not isinstance(raw, list) or len(raw) not in (7, 8):
        return None
    if len(raw) == 8 and not (raw[7] is None or isinstance(raw[7], bytes)):
        return None
    request_id, op, key, value, client_id, seq, trace_id = raw[:7]
    if not (
        isinstance(request_id, int)
        and op in FORWARD_OPS
        and isinstance(key, str)
        and isinstance(value, bytes)
        and isinstance(client_id, str)
        and isinstance(seq, int)
        and isinstance(trace_id, str)
    ):
        return None
    return request_id, op, key, value, client_id, seq, trace_id


def request_expected(raw: list[Any]) -> bytes | None:
    """The expected old value of a request ``parse_request`` accepted (None: absent)."""
    expected: bytes | None = raw[7] if len(raw) == 8 else None
    return expected


def parse_reply(raw: Any) -> tuple[int, int, int, int, bytes | None, str] | None:
    """One answer checked field by field, or None."""
    if not isinstance(raw, list) or len(raw) != 6:
        return None
    request_id, status, index, term, value, error = raw
    if not (
        isinstance(request_id, int)
        and isinstance(status, int)
        and isinstance(index, int)
        and isinstance(term, int)
        and (value is None or isinstance(value, bytes))
        and isinstance(error, str)
    ):
        return None
    return request_id, status, index, term, value, error
