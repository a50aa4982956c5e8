"""What the agent is asked to list: the collection side of the user's filters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import FrozenSet

from common.schema import Family
from common.schema import Proto

ALL_PROTOCOLS = frozenset({Proto.TCP, Proto.UDP, Proto.UNIX})
INET_FAMILIES = frozenset({Family.INET, Family.INET6})


@dataclass(frozen=True)
class Query:
    """Tables to read; everything finer (ports, states) is filtered by the controller."""

    protocols: FrozenSet[Proto] = ALL_PROTOCOLS
    families: FrozenSet[Family] = INET_FAMILIES

    def to_args(self) -> list[str]:
        """Return the agent command-line arguments that ask for this query."""
        protos = ",".join(sorted(p.value for p in self.protocols))
        families = ",".join(sorted(f.value for f in self.families))
        return ["-P", protos, "-f", families]
