"""Decoding an agent's stream: bounded in memory, every field validated.

The controller treats every stream as untrusted (a zone's root controls the agent's
stdout): decoding is bounded in memory and validates every field, and a stream counts
only if it ends with its trailer, so a cut-off agent is told apart from an empty zone.
The format itself is common/wire.py's.
"""

from __future__ import annotations

import math

import msgpack

from common.errors import LimitError
from common.errors import SchemaError
from common.limits import DEFAULT_LIMITS
from common.limits import Limits
from common.schema import FAILURES
from common.schema import OWNER_SOURCES
from common.schema import SCHEMA_VERSION
from common.schema import SOCK_TYPES
from common.schema import STATES
from common.schema import Family
from common.schema import Owner
from common.schema import Proto
from common.schema import Snapshot
from common.schema import Socket
from common.wire import HEADER
from common.wire import OWNER_FIELDS
from common.wire import SOCKET_FIELDS
from common.wire import TRAILER

__all__ = [  # Limits too: the decoder's bounds, defined in common/limits.py
    "Limits",
    "Shared",
    "StreamDecoder",
    "decode_snapshot",
    "decode_snapshots",
    "socket_from_wire",
]

_PROTOS = {p.value: p for p in Proto}
_FAMILIES = {f.value: f for f in Family}
_SOCK_TYPES = {t: t for t in SOCK_TYPES}
_STATES = {s: s for s in STATES}
# inet_ntop output, optionally with an IPv6 zone index (fe80::1%eth0); a set, not a
# regular expression: the agent imports this module, and re costs its start-up ~3 ms.
_ADDRESS_CHARS = frozenset(
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz:.%_-"
)
_ADDRESS_MAX = 64


def decode_snapshots(data: bytes, limits: Limits = DEFAULT_LIMITS) -> list[Snapshot]:
    """Decode a complete stream of one or more snapshots."""
    decoder = StreamDecoder(limits)
    decoder.feed(data)
    return decoder.finish_all()


class StreamDecoder:
    """Incremental, bounded, validating decoder of one agent stream.

    Feed bytes as they arrive; ``finish()`` returns the Snapshot or raises SchemaError
    (``finish_all()`` when one agent reports several namespaces, one after another).
    Host and zone in the header are kept only as the agent's claim: the controller
    names targets itself.
    """

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self._unpacker = msgpack.Unpacker(
            raw=False,
            use_list=True,
            strict_map_key=True,
            max_buffer_size=limits.max_record_bytes,
            max_str_len=limits.max_text,
            max_bin_len=0,
            max_ext_len=0,
            max_array_len=max(limits.max_owners, limits.max_messages),
            max_map_len=32,
        )
        self._fed = 0
        self._record_end = 0  # stream offset where the last complete record ended
        self._header: dict[str, object] | None = None  # of the snapshot being read
        self._sockets: list[Socket] = []
        self._total = 0
        self._done: list[Snapshot] = []
        self._shared = Shared()

    @property
    def bytes_fed(self) -> int:
        """How many bytes the decoder has been given."""
        return self._fed

    def feed(self, data: bytes) -> None:
        """Decode more of the stream."""
        self._fed += len(data)
        if self._fed > self.limits.max_stream_bytes:
            msg = f"stream exceeds {self.limits.max_stream_bytes} bytes"
            raise LimitError(msg, limit="bytes")
        step = max(1, self.limits.max_record_bytes // 2)
        for start in range(0, len(data), step):
            try:
                self._unpacker.feed(data[start : start + step])
                for obj in self._unpacker:
                    self._accept(obj)
                    self._record_end = self._unpacker.tell()
            except SchemaError:
                raise
            except msgpack.BufferFull:
                pending = self.limits.max_record_bytes + 1
            except (ValueError, TypeError, msgpack.UnpackException) as err:
                msg = f"undecodable msgpack: {str(err) or type(err).__name__}"
                raise SchemaError(msg) from None
            else:
                # The C unpacker builds a partial object as bytes arrive, so its
                # buffer alone does not bound one record: count what is pending.
                end = min(start + step, len(data))
                pending = self._fed - len(data) + end - self._record_end
            if pending > self.limits.max_record_bytes:
                msg = f"a record exceeds {self.limits.max_record_bytes} bytes"
                raise SchemaError(msg)

    def finish(self) -> Snapshot:
        """Return the one snapshot of the stream; raise SchemaError unless complete."""
        snapshots = self.finish_all()
        if len(snapshots) != 1:
            msg = f"expected one snapshot, got {len(snapshots)}"
            raise SchemaError(msg)
        return snapshots[0]

    def finish_all(self) -> list[Snapshot]:
        """Return every snapshot of the stream (an agent asked for several zones)."""
        if self._header is not None or self._record_end != self._fed:
            where = "inside the header"
            if self._header is not None:
                where = f"after {len(self._sockets)} sockets"
            msg = f"stream cut off {where} (no trailer): the agent did not finish"
            raise SchemaError(msg)
        if not self._done:
            msg = "empty stream: no header"
            raise SchemaError(msg)
        return self._done

    def _accept(self, obj: object) -> None:
        if type(obj) is list and self._header is not None:  # a socket: most records
            if self._total >= self.limits.max_sockets:
                msg = f"more than {self.limits.max_sockets} sockets"
                raise LimitError(msg, limit="sockets")
            self._sockets.append(socket_from_wire(obj, len(self._sockets), self._shared))
            self._total += 1
            return
        if self._header is None:
            self._header = _check_header(obj)
            self._shared.processes = {}  # pids are described anew in each snapshot
        elif isinstance(obj, list):
            if self._total >= self.limits.max_sockets:
                msg = f"more than {self.limits.max_sockets} sockets"
                raise LimitError(msg, limit="sockets")
            self._sockets.append(socket_from_wire(obj, len(self._sockets), self._shared))
            self._total += 1
        elif isinstance(obj, dict) and obj.get("type") == TRAILER:
            count = obj.get("count")
            if type(count) is not int or count != len(self._sockets):
                msg = f"trailer count {count!r} != {len(self._sockets)} sockets received"
                raise SchemaError(msg)
            self._done.append(self._snapshot(self._header, obj))
            self._header, self._sockets = None, []
        else:
            msg = f"unexpected {type(obj).__name__} in stream"
            raise SchemaError(msg)

    def _snapshot(self, head: dict[str, object], tail: dict[str, object]) -> Snapshot:
        return Snapshot(
            host=_text(head, "host"),
            zone=_text(head, "zone"),
            platform=_text(head, "platform"),
            kernel=_text(head, "kernel"),
            agent_version=_text(head, "agent_version"),
            time=_number(head, "time"),
            elapsed=_number(tail, "elapsed"),
            sockets=tuple(self._sockets),
            warnings=self._messages(tail, "warnings"),
            errors=self._messages(tail, "errors"),
            failure=_failure(tail),
            owners_from=_owners_from(tail),
        )

    def _messages(self, tail: dict[str, object], key: str) -> tuple[str, ...]:
        items = tail.get(key, [])
        if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
            msg = f"trailer field {key!r} must be a list of strings"
            raise SchemaError(msg)
        if len(items) > self.limits.max_messages:
            msg = f"trailer field {key!r} holds more than {self.limits.max_messages} items"
            raise LimitError(msg, limit="bytes")
        return tuple(items)


def decode_snapshot(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Snapshot:
    """Decode one complete stream."""
    decoder = StreamDecoder(limits)
    decoder.feed(data)
    return decoder.finish()


def _check_header(obj: object) -> dict[str, object]:
    if not isinstance(obj, dict) or obj.get("type") != HEADER:
        msg = "stream does not start with a sockstat header"
        raise SchemaError(msg)
    version = obj.get("v")
    if version != SCHEMA_VERSION:
        msg = f"unknown schema version {version!r}; this controller reads {SCHEMA_VERSION}"
        raise SchemaError(msg)
    for key in ("host", "zone", "platform", "kernel", "agent_version"):
        _text(obj, key)
    _number(obj, "time")
    return obj


def _failure(tail: dict[str, object]) -> str | None:
    value = tail.get("failure")
    if value is None:
        return None
    if not isinstance(value, str) or value not in FAILURES:
        msg = f"trailer field 'failure' must be one of {sorted(FAILURES)}, got {value!r}"
        raise SchemaError(msg[:200])
    return value


def _owners_from(tail: dict[str, object]) -> str | None:
    value = tail.get("owners_from")  # absent: an agent that shows no owners
    if value is None:
        return None
    if not isinstance(value, str) or value not in OWNER_SOURCES:
        msg = f"trailer field 'owners_from' must be one of {sorted(OWNER_SOURCES)}"
        raise SchemaError(msg)
    return value


def _text(obj: dict[str, object], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        msg = f"field {key!r} must be a string, got {type(value).__name__}"
        raise SchemaError(msg)
    return value


def _number(obj: dict[str, object], key: str) -> float:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        msg = f"field {key!r} must be a number, got {type(value).__name__}"
        raise SchemaError(msg)
    number = float(value)
    if not math.isfinite(number):
        msg = f"field {key!r} must be a finite number, got {value!r}"
        raise SchemaError(msg)
    return number


def _bad(index: int, name: str, value: object) -> SchemaError:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return SchemaError(f"socket {index}: bad {name} {text}")


def _opt_int(value: object, index: int, name: str, top: int) -> int | None:
    if value is None:
        return None
    if type(value) is not int or not 0 <= value <= top:
        raise _bad(index, name, value)
    return value


def _port(value: object, index: int, name: str, shared: Shared | None) -> int | None:
    port = _opt_int(value, index, name, 0xFFFF)
    if port is None or shared is None:
        return port
    return shared.numbers.setdefault(port, port)


def _opt_str(value: object, index: int, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise _bad(index, name, value)


def _address(value: object, index: int, name: str, shared: Shared | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(index, name, value)
    if shared is not None:
        seen = shared.addresses.get(value)
        if seen is not None:  # kept only once checked
            return seen
    if not 0 < len(value) <= _ADDRESS_MAX or not _ADDRESS_CHARS.issuperset(value):
        raise _bad(index, name, value)
    if shared is not None:
        shared.addresses[value] = value
    return value


# (uid, user, command, args) of a pid, as its first owner entry described it.
Process = tuple["int | None", "str | None", "str | None", "str | None"]


class Shared:
    """What the records of one stream share, so that it is held (and checked) once.

    msgpack makes a new str per record; shared, a process's strings and each
    address cost what their distinct text costs.  Addresses are kept apart from
    owner strings: only a checked address may skip the address check.
    """

    __slots__ = ("addresses", "numbers", "processes", "strings")

    def __init__(self) -> None:
        self.strings: dict[str, str] = {}
        self.addresses: dict[str, str] = {}  # only checked ones: the fast path's test
        self.numbers: dict[int, int] = {}  # ports and pids repeat; inodes do not
        self.processes: dict[int, Process] = {}


U32 = 0xFFFFFFFF
U64 = 0xFFFFFFFFFFFFFFFF


def socket_from_wire(
    obj: list[object], index: int = 0, shared: Shared | None = None
) -> Socket:
    """Validate one socket array and return the record.

    With ``shared`` (one per stream), equal strings become one object and owners
    may name a pid described earlier in the snapshot as ``[pid, fd]``; without
    it, only full owners are valid.
    """
    if shared is not None:
        found = _common_socket(obj, shared)
        if found is not None:
            return found
    return _checked_socket(obj, index, shared)


_SOCKET_LENGTH = len(SOCKET_FIELDS)
_OWNER_LENGTH = len(OWNER_FIELDS)


def _common_socket(obj: list[object], shared: Shared) -> Socket | None:
    """Check the usual record inline; None sends it to the field-by-field path.

    A million sockets a run pass here (issue #13: ~2 µs instead of ~4): the same
    checks as _checked_socket, which alone words errors.  Enums, states and
    addresses are looked up among values already known good; the dicts' keys are
    all str, so no other type (an int, a list: TypeError) can match one.  Numbers
    are checked with ``type() is int``, so a bool or a float never passes for one.
    """
    if len(obj) != _SOCKET_LENGTH:
        return None
    (proto, family, sock_type, state, laddr, lport, raddr, rport) = obj[:8]
    (path, inode, uid, peer, owners) = obj[8:]
    try:
        proto_e = _PROTOS[proto]  # type: ignore[index]
        family_e = _FAMILIES[family]  # type: ignore[index]
        sock_type_s = _SOCK_TYPES[sock_type]  # type: ignore[index]
        state_s = _STATES[state]  # type: ignore[index]
    except (KeyError, TypeError):
        return None
    laddr_s = None if laddr is None else _known_address(laddr, shared)
    raddr_s = None if raddr is None else _known_address(raddr, shared)
    if (laddr_s is None and laddr is not None) or (raddr_s is None and raddr is not None):
        return None
    intern = shared.numbers.setdefault
    if lport is not None:
        if type(lport) is not int or not 0 <= lport <= 0xFFFF:
            return None
        lport = intern(lport, lport)
    if rport is not None:
        if type(rport) is not int or not 0 <= rport <= 0xFFFF:
            return None
        rport = intern(rport, rport)
    if (
        (path is not None and type(path) is not str)
        or (inode is not None and (type(inode) is not int or not 0 <= inode <= U64))
        or (uid is not None and (type(uid) is not int or not 0 <= uid <= U32))
        or (peer is not None and (type(peer) is not int or not 0 <= peer <= U64))
        or type(owners) is not list
    ):
        return None
    processes = shared.processes
    found = []
    for owner in owners:
        if type(owner) is not list:
            return None
        if len(owner) == 2:  # [pid, fd] of a pid described earlier
            pid, fd = owner
            if type(pid) is not int:  # before the lookup: a list is unhashable
                return None
            known = processes.get(pid)
        elif len(owner) == _OWNER_LENGTH:  # a pid's first description
            pid, fd, ouid, user, command, args = owner
            if (
                (ouid is not None and (type(ouid) is not int or not 0 <= ouid <= U32))
                or (user is not None and type(user) is not str)
                or (command is not None and type(command) is not str)
                or (args is not None and type(args) is not str)
            ):
                return None
            if type(pid) is not int or not 0 < pid <= U32:
                return None
            strings = shared.strings.setdefault
            known = processes[intern(pid, pid)] = (
                ouid,
                None if user is None else strings(user, user),
                None if command is None else strings(command, command),
                None if args is None else strings(args, args),
            )
        else:
            return None
        if known is None or type(pid) is not int or type(fd) is not int:
            return None
        if not 0 <= fd <= U32:
            return None
        found.append(Owner(intern(pid, pid), fd, *known))
    return Socket(
        proto_e, family_e, sock_type_s, state_s, laddr_s, lport, raddr_s, rport,
        path, inode, uid, peer, tuple(found),
    )  # fmt: skip


def _known_address(value: object, shared: Shared) -> str | None:
    """Return the shared copy of a valid address; None if it is not one."""
    if type(value) is not str:
        return None
    seen = shared.addresses.get(value)
    if seen is None and 0 < len(value) <= _ADDRESS_MAX and _ADDRESS_CHARS.issuperset(value):
        seen = shared.addresses[value] = value
    return seen


def _checked_socket(obj: list[object], index: int, shared: Shared | None) -> Socket:
    """Check one socket field by field, naming the first bad one."""
    if len(obj) != len(SOCKET_FIELDS):
        msg = f"socket {index}: {len(obj)} fields, expected {len(SOCKET_FIELDS)}"
        raise SchemaError(msg)
    (proto, family, sock_type, state, laddr, lport, raddr, rport) = obj[:8]
    (path, inode, uid, peer, owners) = obj[8:]
    proto_e = _PROTOS.get(proto) if isinstance(proto, str) else None
    if proto_e is None:
        raise _bad(index, "proto", proto)
    family_e = _FAMILIES.get(family) if isinstance(family, str) else None
    if family_e is None:
        raise _bad(index, "family", family)
    # The schema's own str objects, not one new copy per record.
    sock_type_s = _SOCK_TYPES.get(sock_type) if isinstance(sock_type, str) else None
    if sock_type_s is None:
        raise _bad(index, "sock_type", sock_type)
    state_s = _STATES.get(state) if isinstance(state, str) else None
    if state_s is None:
        raise _bad(index, "state", state)
    if not isinstance(owners, list):
        raise _bad(index, "owners", owners)
    return Socket(
        proto=proto_e,
        family=family_e,
        sock_type=sock_type_s,
        state=state_s,
        local_address=_address(laddr, index, "local_address", shared),
        local_port=_port(lport, index, "local_port", shared),
        remote_address=_address(raddr, index, "remote_address", shared),
        remote_port=_port(rport, index, "remote_port", shared),
        path=_opt_str(path, index, "path"),
        inode=_opt_int(inode, index, "inode", U64),
        uid=_opt_int(uid, index, "uid", U32),
        peer=_opt_int(peer, index, "peer", U64),
        owners=tuple(_owner(o, index, shared) for o in owners),
    )


def _owner(obj: object, index: int, shared: Shared | None) -> Owner:
    if not isinstance(obj, list) or len(obj) not in (2, len(OWNER_FIELDS)):
        raise _bad(index, "owner", obj)
    pid, fd = obj[0], obj[1]
    if type(pid) is not int or not 0 < pid <= U32:
        raise _bad(index, "owner pid", pid)
    if shared is not None:
        pid = shared.numbers.setdefault(pid, pid)
    if len(obj) == 2:  # a pid described earlier in this snapshot
        known = shared.processes.get(pid) if shared is not None else None
        if known is None:
            raise _bad(index, "owner (pid not described before)", pid)
        return Owner(pid, _opt_int(fd, index, "owner fd", U32), *known)
    uid, user, command, args = obj[2:]
    user = _opt_str(user, index, "owner user")
    command = _opt_str(command, index, "owner command")
    args = _opt_str(args, index, "owner args")
    if shared is not None:
        intern = shared.strings.setdefault
        user = None if user is None else intern(user, user)
        command = None if command is None else intern(command, command)
        args = None if args is None else intern(args, args)
    process = (_opt_int(uid, index, "owner uid", U32), user, command, args)
    if shared is not None:
        shared.processes[pid] = process
    return Owner(pid, _opt_int(fd, index, "owner fd", U32), *process)
