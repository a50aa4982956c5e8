"""The snapshot records: one Snapshot per zone, holding Sockets, each with its Owners.

Records are plain classes with ``__slots__``.  They are not frozen: a frozen
dataclass costs about 3 µs per instance (``object.__setattr__`` per field), which is
180 ms for 60,000 sockets, more than the whole netlink dump.  Missing values are None.
"""

from __future__ import annotations

from enum import Enum

# 2: an owner already described in the snapshot is sent as [pid, fd] only.
SCHEMA_VERSION = 2


class Proto(str, Enum):
    """Transport protocol; the value is what users type after ``-P``."""

    TCP = "tcp"
    UDP = "udp"
    UNIX = "unix"

    def __str__(self) -> str:
        return self.value


class Family(str, Enum):
    """Address family of a socket."""

    INET = "inet"
    INET6 = "inet6"
    UNIX = "unix"

    def __str__(self) -> str:
        return self.value


# State names: the kernel's TCP names (include/net/tcp_states.h), plus the names ss(8)
# and the illumos MIB use for what TCP has no word for.
STATES = frozenset(
    {
        "ESTABLISHED",
        "SYN_SENT",
        "SYN_RECV",
        "FIN_WAIT1",
        "FIN_WAIT2",
        "TIME_WAIT",
        "CLOSE",
        "CLOSE_WAIT",
        "LAST_ACK",
        "LISTEN",
        "CLOSING",
        "NEW_SYN_RECV",
        "BOUND",  # TCP bound, neither listening nor connected (TCPF_BOUND_INACTIVE)
        "IDLE",  # illumos TCPS_IDLE: created, not bound
        "UNCONN",  # UDP or unix datagram socket without a peer (ss's name)
        "CONNECTING",  # unix socket in connect()
        "DISCONNECTING",
        "UNKNOWN",
    }
)

SOCK_TYPES = frozenset({"stream", "dgram", "seqpacket", "raw"})

# Why an agent could not take a snapshot, as a code in its trailer (the controller
# reports it as the target's status, never by reading the error's text).
AGENT_FAILED = "agent-error"  # the agent itself failed (no backend, an OS error)
ZONE_ENTRY_FAILED = "zone-entry-failed"  # the namespace could not be entered
ZONE_GONE = "zone-gone"  # the namespace vanished between listing and entering
FAILURES = frozenset({AGENT_FAILED, ZONE_ENTRY_FAILED, ZONE_GONE})
# Where a snapshot's owners come from: every process holding each socket (Linux's
# /proc/<pid>/fd, illumos's /proc/<pid>/fdinfo as root), or only the process that
# created it (the illumos MIB's CreationProcess, when /proc cannot be read).
HOLDERS = "holders"
CREATOR = "creator"
OWNER_SOURCES = frozenset({HOLDERS, CREATOR})


class Record:
    """Equality and repr from ``__slots__`` (kept sorted by ruff, so not field order).

    The shipped agent starts a Python for every zone and host, and the dataclasses
    module (with the inspect module it imports) would be a fifth of that start-up;
    each record writes its own ``__init__``, the hot path of a 60,000-socket dump.
    """

    __slots__: tuple[str, ...] = ()
    __hash__ = None  # type: ignore[assignment]  # mutable, like a plain dataclass

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in self.__slots__)

    def __repr__(self) -> str:
        fields = ", ".join(f"{f}={getattr(self, f)!r}" for f in self.__slots__)
        return f"{type(self).__name__}({fields})"


class Owner(Record):
    """One (process, file descriptor) that holds a socket open."""

    __slots__ = ("args", "command", "fd", "pid", "uid", "user")

    def __init__(
        self,
        pid: int,
        fd: int | None,
        uid: int | None,
        user: str | None,
        command: str | None,
        args: str | None,
    ) -> None:
        self.pid = pid
        self.fd = fd
        self.uid = uid
        self.user = user
        self.command = command
        self.args = args


class Socket(Record):
    """One socket of a zone.

    Inet sockets fill the address and port fields (addresses as printed by
    ``inet_ntop``, port 0 for none); unix sockets fill ``path`` (``@name`` for
    abstract names, None when unnamed) and ``peer`` (the peer socket's inode).
    """

    __slots__ = (
        "family",
        "inode",
        "local_address",
        "local_port",
        "owners",
        "path",
        "peer",
        "proto",
        "remote_address",
        "remote_port",
        "sock_type",
        "state",
        "uid",
    )

    def __init__(
        self,
        proto: Proto,
        family: Family,
        sock_type: str,
        state: str,
        local_address: str | None,
        local_port: int | None,
        remote_address: str | None,
        remote_port: int | None,
        path: str | None,
        inode: int | None,
        uid: int | None,
        peer: int | None,
        owners: tuple[Owner, ...],
    ) -> None:
        self.proto = proto
        self.family = family
        self.sock_type = sock_type
        self.state = state
        self.local_address = local_address
        self.local_port = local_port
        self.remote_address = remote_address
        self.remote_port = remote_port
        self.path = path
        self.inode = inode
        self.uid = uid
        self.peer = peer
        self.owners = owners

    @property
    def connected(self) -> bool:
        """Whether the socket has a peer (the seed's ``-c``; ``-l`` is the opposite)."""
        if self.proto is Proto.UNIX:  # illumos's unix list has a state, no peer
            return bool(self.peer) or self.state == "ESTABLISHED"
        return bool(self.remote_port)


class Snapshot(Record):
    """Every socket of one zone (or network namespace) at one moment."""

    __slots__ = (
        "agent_version",
        "elapsed",
        "errors",
        "failure",
        "host",
        "kernel",
        "owners_from",
        "platform",
        "sockets",
        "time",
        "warnings",
        "zone",
    )

    def __init__(
        self,
        host: str,
        zone: str,
        platform: str,
        kernel: str,
        agent_version: str,
        time: float,  # seconds since the epoch, when collection started
        elapsed: float = 0.0,  # seconds the agent took
        sockets: tuple[Socket, ...] = (),
        warnings: tuple[str, ...] = (),
        errors: tuple[str, ...] = (),
        failure: str | None = None,  # one of FAILURES when errors say why it failed
        owners_from: str | None = None,  # one of OWNER_SOURCES; None: no owners shown
    ) -> None:
        self.host = host
        self.zone = zone
        self.platform = platform
        self.kernel = kernel
        self.agent_version = agent_version
        self.time = time
        self.elapsed = elapsed
        self.sockets = sockets
        self.warnings = warnings
        self.errors = errors
        self.failure = failure
        self.owners_from = owners_from
