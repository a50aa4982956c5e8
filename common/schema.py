"""The snapshot records: one Snapshot per zone, holding Sockets, each with its Owners.

Records are plain dataclasses with ``__slots__``.  They are not frozen: a frozen
dataclass costs about 3 µs per instance (``object.__setattr__`` per field), which is
180 ms for 60,000 sockets, more than the whole netlink dump.  Missing values are None.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from enum import Enum
from typing import Optional
from typing import Tuple

SCHEMA_VERSION = 1


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


@dataclass
class Owner:
    """One (process, file descriptor) that holds a socket open."""

    __slots__ = ("args", "command", "fd", "pid", "uid", "user")
    pid: int
    fd: Optional[int]
    uid: Optional[int]
    user: Optional[str]
    command: Optional[str]
    args: Optional[str]


@dataclass
class Socket:
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
    proto: Proto
    family: Family
    sock_type: str
    state: str
    local_address: Optional[str]
    local_port: Optional[int]
    remote_address: Optional[str]
    remote_port: Optional[int]
    path: Optional[str]
    inode: Optional[int]
    uid: Optional[int]
    peer: Optional[int]
    owners: Tuple[Owner, ...]

    @property
    def connected(self) -> bool:
        """Whether the socket has a peer (the seed's ``-c``; ``-l`` is the opposite)."""
        if self.proto is Proto.UNIX:
            return bool(self.peer)
        return bool(self.remote_port)


@dataclass
class Snapshot:
    """Every socket of one zone (or network namespace) at one moment."""

    host: str
    zone: str
    platform: str
    kernel: str
    agent_version: str
    time: float  # seconds since the epoch, when collection started
    elapsed: float = 0.0  # seconds the agent took
    sockets: Tuple[Socket, ...] = ()
    warnings: Tuple[str, ...] = ()
    errors: Tuple[str, ...] = field(default=())
