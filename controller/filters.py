"""Row selection: the seed's -4 -6 -c -l -L plus -P, -u and -p, applied to sockets."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable
from typing import FrozenSet
from typing import Optional

from agent.query import Query
from common.schema import Family
from common.schema import Proto
from common.schema import Socket


@lru_cache(maxsize=4096)
def is_loopback(address: Optional[str]) -> bool:
    """Whether an address is in 127.0.0.0/8 or is ::1 (v4-mapped loopback too)."""
    if not address:
        return False
    import ipaddress  # noqa: PLC0415 - only -L needs it

    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool((mapped or ip).is_loopback)


@dataclass(frozen=True)
class Filter:
    """Which sockets the user asked to see."""

    protocols: FrozenSet[Proto]
    families: FrozenSet[Family]
    listening: bool = True  # sockets without a peer
    connected: bool = True  # sockets with a peer
    hide_loopback: bool = False
    ports: Optional[FrozenSet[int]] = None

    @property
    def query(self) -> Query:
        """The part of the filter the agent applies while collecting."""
        return Query(self.protocols, self.families)

    def compile(self) -> Callable[[Socket], bool]:
        """Return the fastest predicate equivalent to matches()."""
        if (
            self.ports is None
            and not self.hide_loopback
            and self.listening
            and self.connected
        ):
            protocols, families, unix = self.protocols, self.families, Proto.UNIX

            def shown(sock: Socket) -> bool:
                return sock.proto in protocols and (
                    sock.family in families or sock.proto is unix
                )

            return shown
        return self.matches

    def matches(self, sock: Socket) -> bool:
        """Whether a socket is shown."""
        if sock.proto not in self.protocols:
            return False
        if sock.proto is Proto.UNIX:
            if self.ports is not None:  # unix sockets have no port
                return False
        elif sock.family not in self.families:
            return False
        if sock.connected:
            if not self.connected:
                return False
        elif not self.listening:
            return False
        if self.ports is not None and not (
            sock.local_port in self.ports or sock.remote_port in self.ports
        ):
            return False
        return not (
            self.hide_loopback
            and (is_loopback(sock.local_address) or is_loopback(sock.remote_address))
        )
