"""Row selection: the seed's -4 -6 -c -l -L plus -P, -u and -p, applied once to a run."""

from __future__ import annotations

from functools import lru_cache

from agent.query import Query
from common.schema import Family
from common.schema import Proto
from common.schema import Record

TYPE_CHECKING = False  # typing is not imported at run time: start-up (issue #10)
if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Iterator

    from common.schema import Socket
    from controller.results import FleetResult
    from controller.results import TargetResult


@lru_cache(maxsize=4096)
def is_loopback(address: str | None) -> bool:
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


class Filter(Record):
    """Which sockets the user asked to see."""

    __slots__ = (
        "connected",
        "families",
        "hide_loopback",
        "listening",
        "ports",
        "protocols",
    )

    def __init__(
        self,
        protocols: frozenset[Proto],
        families: frozenset[Family],
        listening: bool = True,  # sockets without a peer
        connected: bool = True,  # sockets with a peer
        hide_loopback: bool = False,
        ports: frozenset[int] | None = None,
    ) -> None:
        self.protocols = protocols
        self.families = families
        self.listening = listening
        self.connected = connected
        self.hide_loopback = hide_loopback
        self.ports = ports

    @classmethod
    def from_switches(
        cls,
        *,
        protocols: frozenset[Proto] | None = None,
        unix: bool = False,
        inet4: bool = False,
        inet6: bool = False,
        listening: bool = False,
        connected: bool = False,
        hide_loopback: bool = False,
        ports: frozenset[int] | None = None,
    ) -> Filter:
        """Turn the seed's switches into a Filter (the seed's defaults where none)."""
        chosen = set(protocols or (Proto.TCP, Proto.UDP))
        if unix:
            chosen.add(Proto.UNIX)
        families = {f for f, on in ((Family.INET, inet4), (Family.INET6, inet6)) if on}
        return cls(
            protocols=frozenset(chosen),
            families=frozenset(families or (Family.INET, Family.INET6)),
            # Neither -l nor -c means both, as in the seed.
            listening=listening or not connected,
            connected=connected or not listening,
            hide_loopback=hide_loopback,
            ports=ports,
        )

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


class Selection:
    """The targets of a run and, for each that answered, the sockets shown, in order.

    Made once by select(), before rendering: renderers only write rows.
    """

    def __init__(self, groups: list[tuple[TargetResult, list[Socket]]]) -> None:
        self.groups = groups

    @property
    def targets(self) -> list[TargetResult]:
        """Every target, answered or not."""
        return [target for target, _ in self.groups]

    @property
    def rows(self) -> Iterator[tuple[TargetResult, Socket]]:
        """(target, socket) for every shown socket, target by target."""
        for target, sockets in self.groups:
            for sock in sockets:
                yield target, sock

    def by_target(
        self, *, answered: bool = False
    ) -> Iterator[tuple[TargetResult, list[Socket]]]:
        """(target, shown sockets) per target with rows (with ``answered``: per answer)."""
        for target, sockets in self.groups:
            if sockets or (answered and target.snapshot is not None):
                yield target, sockets

    def counts(self) -> dict[int, int]:
        """Shown sockets per target, keyed by ``id(target)``."""
        return {id(target): len(sockets) for target, sockets in self.groups}


def select(result: FleetResult, filt: Filter) -> Selection:
    """Apply the filter once: the rows every renderer writes."""
    matches = filt.compile()
    groups = []
    for target in result.targets:
        snapshot = target.snapshot
        shown = [] if snapshot is None else [s for s in snapshot.sockets if matches(s)]
        groups.append((target, shown))
    return Selection(groups)
