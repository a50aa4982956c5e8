"""What the agent is asked to list: the collection side of the user's filters."""

from __future__ import annotations

from common.schema import Family
from common.schema import Proto
from common.schema import Record

ALL_PROTOCOLS = frozenset({Proto.TCP, Proto.UDP, Proto.UNIX})
INET_FAMILIES = frozenset({Family.INET, Family.INET6})


class Query(Record):
    """Tables to read; everything finer (ports, states) is filtered by the controller."""

    __slots__ = ("families", "protocols")

    def __init__(
        self,
        protocols: frozenset[Proto] = ALL_PROTOCOLS,
        families: frozenset[Family] = INET_FAMILIES,
    ) -> None:
        self.protocols = protocols
        self.families = families

    def to_args(self) -> list[str]:
        """Return the agent command-line arguments that ask for this query."""
        protos = ",".join(sorted(p.value for p in self.protocols))
        families = ",".join(sorted(f.value for f in self.families))
        return ["-P", protos, "-f", families]
