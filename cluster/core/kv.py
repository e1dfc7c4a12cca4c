"""The replicated key-value state machine, with client sessions for exactly-once writes.

Raft gives every node the same sequence of committed commands; this module
turns that sequence into the same map of keys to values on every node. It is
deterministic: the result depends only on the commands, never on time,
randomness or the node.

Exactly once (thesis §6.3): a client that times out does not know whether its
write took effect, so it retries, and the retry may commit as a second log
entry. Each write therefore carries ``(client_id, seq)``; the state machine
remembers, per client, the last sequence number applied and its result, and
answers a retry from that memory instead of applying it twice. Rules:

* a client has at most one write outstanding and numbers them 1, 2, 3...;
* ``seq == 1`` opens a session; a session unknown to us with ``seq > 1`` was
  evicted, and the write is refused (``session_expired``) rather than risk a
  second application — the client starts a new session;
* ``seq == last`` is a retry: the cached result is returned;
* ``seq < last`` is an old retry the client no longer waits for: refused;
* ``seq > last`` is new: applied.

Sessions are evicted least-recently-used beyond ``max_sessions``; since the
order is that of the log, every node evicts the same ones.

Reads do not go through here: a linearizable read asks Raft for a read index
(§6.4) and then calls ``get`` once that index is applied; a stale read calls
``get`` right away.

Files (hash-placed file storage) keep their metadata in a second namespace,
``files``: name → packed ``FileMeta`` (cluster/core/files/meta.py), plus the
placement settings under the reserved name ``/placement``. Three operations
write it, with the same sessions as key-value writes:

* ``fput`` (key = name, value = packed metadata): create or replace a file;
* ``fdel`` (key = name): delete it (``not_found`` if absent);
* ``fcas`` (key = name, expected = packed metadata read before, value = new):
  replace only if unchanged since it was read (``mismatch`` otherwise); how
  repairs change replica lists without losing a concurrent change.

The state machine checks the metadata (a malformed one is ``bad_meta``) and
stamps it with ``version`` = the index of the entry, so every node stores the
same bytes and a version never repeats. A file write answers with that
version (ASCII digits) as its value, a delete with the deleted version.
``file_change`` describes the file change the last applied entry made, so
the leader's shell can report it to the dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cluster.core.files.meta import PLACEMENT_KEY, FileMeta, PlacementSettings
from cluster.schema.codec import pack, unpack
from cluster.schema.registry import DecodeError

FILE_OPS = ("fput", "fdel", "fcas")
OPS = ("put", "delete", "append", "cas", *FILE_OPS)
FILE_CHANGE_OPS = {"fput": "put", "fcas": "replicas"}  # the FileChange op of each write
# Version 2 added the files namespace; version 1 snapshots still restore.
SNAPSHOT_VERSION = 2
# Sessions remembered at once: bounds memory; a client idle for this many
# other clients' writes must open a new session.
DEFAULT_MAX_SESSIONS = 10_000
MAX_KEY_CHARS = 1024  # keys appear in URLs and on the dashboard
MAX_VALUE_BYTES = 1024 * 1024  # one value fits in one Raft entry, one frame


@dataclass(frozen=True, slots=True)
class Command:
    op: str
    key: str
    value: bytes = b""
    expected: bytes | None = None  # cas: the value the key must hold (None: absent)
    client_id: str = ""  # empty: no session, at-least-once
    seq: int = 0

    def encode(self) -> bytes:
        return pack([self.op, self.key, self.value, self.expected, self.client_id, self.seq])


def decode_command(data: bytes) -> Command | None:
    """The command in a log entry, or None if the bytes are not a valid one."""
    try:
        raw = unpack(data)
    except (ValueError, DecodeError):
        return None
    if not isinstance(raw, list) or len(raw) != 6:
        return None
    op, key, value, expected, client_id, seq = raw
    if op not in OPS or not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_CHARS:
        return None
    if not isinstance(value, bytes) or len(value) > MAX_VALUE_BYTES:
        return None
    if not (expected is None or isinstance(expected, bytes)):
        return None
    if not isinstance(client_id, str) or not isinstance(seq, int) or seq < 0:
        return None
    return Command(op, key, value, expected, client_id, seq)


@dataclass(frozen=True, slots=True)
class KvResult:
    """What a write returns to its client.

    ``ok``: it took effect (a failed cas is ``ok`` False with ``error`` "mismatch").
    ``value``: the value before the write (put, delete, cas) or after it (append).
    ``duplicate``: answered from the session, not applied again.
    """

    ok: bool
    value: bytes | None = None
    error: str = ""
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class FileChange:
    """What an applied file operation changed; ``op`` is "put", "delete", "replicas"
    (an ``fcas`` of a file) or "placement" (the settings)."""

    name: str
    version: int
    op: str


@dataclass(slots=True)
class _Session:
    last_seq: int
    result: KvResult


class KvStore:
    def __init__(self, max_sessions: int = DEFAULT_MAX_SESSIONS) -> None:
        self.data: dict[str, bytes] = {}
        # File name (or PLACEMENT_KEY) → packed FileMeta (or PlacementSettings).
        self.files: dict[str, bytes] = {}
        self.applied_index = 0
        # The file change made by the entry applied last (None: not a file change).
        self.file_change: FileChange | None = None
        self.max_sessions = max_sessions
        # Insertion order is recency order: a touched session moves to the end.
        self._sessions: dict[str, _Session] = {}

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    def get_file(self, name: str) -> bytes | None:
        """The packed metadata of file ``name`` (``PLACEMENT_KEY``: the settings)."""
        return self.files.get(name)

    def file_names(self) -> list[str]:
        """Every file's name, sorted (the placement settings are not a file)."""
        return sorted(name for name in self.files if name != PLACEMENT_KEY)

    def apply(self, index: int, data: bytes) -> KvResult:
        """Apply the command of committed entry ``index`` (entries must come in order)."""
        if index <= self.applied_index:
            raise ValueError(f"entry {index} applied twice (applied {self.applied_index})")
        self.applied_index = index
        self.file_change = None
        cmd = decode_command(data)
        if cmd is None:
            return KvResult(False, error="bad_command")
        if not cmd.client_id:
            return self._execute(cmd)
        session = self._sessions.get(cmd.client_id)
        if session is None:
            if cmd.seq != 1:
                return KvResult(False, error="session_expired")
        else:
            if cmd.seq == session.last_seq:
                self._touch(cmd.client_id, session)
                r = session.result
                return KvResult(r.ok, r.value, r.error, duplicate=True)
            if cmd.seq < session.last_seq:
                return KvResult(False, error="stale_request", duplicate=True)
        result = self._execute(cmd)
        self._touch(cmd.client_id, _Session(cmd.seq, result))
        return result

    def apply_noop(self, index: int) -> None:
        """A committed entry that is not a command (no-op, configuration)."""
        if index <= self.applied_index:
            raise ValueError(f"entry {index} applied twice (applied {self.applied_index})")
        self.applied_index = index
        self.file_change = None

    def _execute(self, cmd: Command) -> KvResult:
        if cmd.op in FILE_OPS:
            return self._execute_file(cmd)
        before = self.data.get(cmd.key)
        if cmd.op == "put":
            self.data[cmd.key] = cmd.value
            return KvResult(True, before)
        if cmd.op == "delete":
            self.data.pop(cmd.key, None)
            return KvResult(True, before)
        if cmd.op == "append":
            after = (before or b"") + cmd.value
            if len(after) > MAX_VALUE_BYTES:
                return KvResult(False, before, error="too_large")
            self.data[cmd.key] = after
            return KvResult(True, after)
        # cas
        if before != cmd.expected:
            return KvResult(False, before, error="mismatch")
        self.data[cmd.key] = cmd.value
        return KvResult(True, before)

    def _execute_file(self, cmd: Command) -> KvResult:
        name = cmd.key
        before = self.files.get(name)
        version = self.applied_index
        if cmd.op == "fdel":
            if name == PLACEMENT_KEY:
                return KvResult(False, error="bad_meta")
            if before is None:
                return KvResult(False, error="not_found")
            del self.files[name]
            old_version = FileMeta.unpack(before).version
            self.file_change = FileChange(name, old_version, "delete")
            return KvResult(True, str(old_version).encode())
        if cmd.op == "fcas" and before != cmd.expected:
            return KvResult(False, error="mismatch")
        stamped = _stamped(name, cmd.value, version)
        if stamped is None:
            return KvResult(False, error="bad_meta")
        self.files[name] = stamped
        op = "placement" if name == PLACEMENT_KEY else FILE_CHANGE_OPS[cmd.op]
        self.file_change = FileChange(name, version, op)
        return KvResult(True, str(version).encode())

    def _touch(self, client_id: str, session: _Session) -> None:
        self._sessions.pop(client_id, None)
        self._sessions[client_id] = session
        if len(self._sessions) > self.max_sessions:
            del self._sessions[next(iter(self._sessions))]

    def session_count(self) -> int:
        return len(self._sessions)

    # -- snapshots -----------------------------------------------------------

    def snapshot(self) -> bytes:
        """Everything needed to continue from ``applied_index``, sessions included."""
        sessions = [
            [cid, s.last_seq, s.result.ok, s.result.value, s.result.error]
            for cid, s in self._sessions.items()
        ]
        items = sorted(self.data.items())
        files = sorted(self.files.items())
        return pack(
            [SNAPSHOT_VERSION, self.applied_index, self.max_sessions, items, sessions, files]
        )

    @classmethod
    def restore(cls, data: bytes) -> KvStore:
        raw: Any = unpack(data)
        # Version 1 had no files: [1, applied_index, max_sessions, items, sessions].
        if isinstance(raw, list) and len(raw) == 5 and raw[0] == 1:
            raw = [SNAPSHOT_VERSION, *raw[1:], []]
        if not isinstance(raw, list) or len(raw) != 6 or raw[0] != SNAPSHOT_VERSION:
            raise ValueError("not a key-value snapshot of a known version")
        _, applied_index, max_sessions, items, sessions, files = raw
        store = cls(max_sessions)
        store.applied_index = applied_index
        store.data = {key: value for key, value in items}
        store.files = {name: meta for name, meta in files}
        for cid, last_seq, ok, value, error in sessions:
            store._sessions[cid] = _Session(last_seq, KvResult(ok, value, error))
        return store


def _stamped(name: str, value: bytes, version: int) -> bytes | None:
    """``value`` checked as the metadata of ``name`` and re-packed with ``version``;
    None if it is not valid (the same answer on every node)."""
    try:
        if name == PLACEMENT_KEY:
            return PlacementSettings.unpack(value).with_version(version).pack()
        meta = FileMeta.unpack(value)
    except (ValueError, TypeError):
        return None
    if meta.name != name:
        return None
    return meta.with_version(version).pack()
