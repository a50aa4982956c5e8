"""Click parameter types for sockstat's list-valued options."""

from __future__ import annotations

import math
from typing import FrozenSet
from typing import Optional

import click

from common.schema import Proto

PROTOCOL_NAMES = tuple(p.value for p in Proto)
MAX_PORT = 65535
MIN_SECONDS = 0.1
SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


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


class ByteSize(click.ParamType):  # type: ignore[type-arg, unused-ignore]
    """A size in bytes: ``33554432``, ``512K``, ``32M``, ``1G`` (powers of 1024)."""

    name = "size"

    def convert(
        self, value: object, param: Optional[click.Parameter], ctx: Optional[click.Context]
    ) -> int:
        """Parse the size, naming the bad value."""
        if isinstance(value, int):
            return value
        text = str(value).strip().upper().removesuffix("B").removesuffix("I")
        number, unit = text.rstrip("KMG"), text[len(text.rstrip("KMG")) :]
        if not number.isdigit() or unit not in SIZE_UNITS or int(number) == 0:
            self.fail(f"bad size {value!r}; expected a number like 64M, 512K or 1G")
        return int(number) * SIZE_UNITS[unit]


class Seconds(click.ParamType):  # type: ignore[type-arg, unused-ignore]
    """A finite number of seconds, at least 0.1 (not nan, not inf)."""

    name = "seconds"

    def convert(
        self, value: object, param: Optional[click.Parameter], ctx: Optional[click.Context]
    ) -> float:
        """Parse the number, naming the bad value."""
        try:
            seconds = float(str(value))
        except ValueError:
            seconds = math.nan
        if not math.isfinite(seconds) or seconds < MIN_SECONDS:
            self.fail(f"bad time {value!r}; expected a number of seconds >= {MIN_SECONDS}")
        return seconds
