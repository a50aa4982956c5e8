"""Click parameter types for sockstat's list-valued options."""

from __future__ import annotations

from typing import FrozenSet
from typing import Optional

import click

from common.schema import Proto

PROTOCOL_NAMES = tuple(p.value for p in Proto)
MAX_PORT = 65535


class ProtocolList(click.ParamType):  # type: ignore[type-arg, unused-ignore]
    """A comma list of protocols: ``tcp,udp,unix``."""

    name = "protocols"

    def convert(
        self, value: object, param: Optional[click.Parameter], ctx: Optional[click.Context]
    ) -> FrozenSet[Proto]:
        """Parse the list, naming the first unknown protocol."""
        if isinstance(value, frozenset):
            return value
        names = ", ".join(PROTOCOL_NAMES)
        words = [w.strip().lower() for w in str(value).split(",") if w.strip()]
        if not words:
            self.fail(f"empty protocol list; expected some of: {names}")
        for word in words:
            if word not in PROTOCOL_NAMES:
                self.fail(f"unknown protocol {word!r}; expected one of: {names}")
        return frozenset(Proto(w) for w in words)


class PortList(click.ParamType):  # type: ignore[type-arg, unused-ignore]
    """A comma list of ports and ranges: ``22,80,8000-8100``."""

    name = "ports"

    def convert(
        self, value: object, param: Optional[click.Parameter], ctx: Optional[click.Context]
    ) -> FrozenSet[int]:
        """Parse the list, naming the first bad port."""
        if isinstance(value, frozenset):
            return value
        ports: set[int] = set()
        for item in str(value).split(","):
            word = item.strip()
            first, _, last = word.partition("-")
            try:
                low = int(first)
                high = int(last) if last else low
            except ValueError:
                low = high = -1
            if not (1 <= low <= high <= MAX_PORT):
                self.fail(
                    f"bad port {word!r}; expected numbers 1-{MAX_PORT} "
                    "or ranges like 8000-8100, separated by commas"
                )
            ports.update(range(low, high + 1))
        return frozenset(ports)
