"""Parsers for sockstat's option values; each names the bad value it refuses.

Each takes the text after the flag and returns the value, or raises
argparse.ArgumentTypeError with a message that becomes the one line of a usage
error ("sockstat: argument -P: unknown protocol 'sctp'; ...").  argparse is imported
only then: a plain listing is parsed without it (controller/flags.py).
"""

from __future__ import annotations

from common.schema import Proto

TYPE_CHECKING = False  # typing is not imported at run time: start-up (issue #10)
if TYPE_CHECKING:
    from typing import FrozenSet

PROTOCOL_NAMES = tuple(p.value for p in Proto)
MAX_PORT = 65535
MIN_SECONDS = 0.1
MAX_JOBS = 1024
SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def _refused(message: str) -> Exception:
    """Return argparse.ArgumentTypeError(message), whose text argparse shows as is."""
    from argparse import ArgumentTypeError  # noqa: PLC0415 - a bad value only

    return ArgumentTypeError(message)


def protocol_list(value: str) -> FrozenSet[Proto]:
    """Parse a comma list of protocols: ``tcp,udp,unix``."""
    names = ", ".join(PROTOCOL_NAMES)
    words = [w.strip().lower() for w in value.split(",") if w.strip()]
    if not words:
        msg = f"empty protocol list; expected some of: {names}"
        raise _refused(msg)
    for word in words:
        if word not in PROTOCOL_NAMES:
            msg = f"unknown protocol {word!r}; expected one of: {names}"
            raise _refused(msg)
    return frozenset(Proto(w) for w in words)


def port_list(value: str) -> FrozenSet[int]:
    """Parse a comma list of ports and ranges: ``22,80,8000-8100``."""
    ports: set[int] = set()
    for item in value.split(","):
        word = item.strip()
        first, _, last = word.partition("-")
        try:
            low = int(first)
            high = int(last) if last else low
        except ValueError:
            low = high = -1
        if not (1 <= low <= high <= MAX_PORT):
            msg = (
                f"bad port {word!r}; expected numbers 1-{MAX_PORT} "
                "or ranges like 8000-8100, separated by commas"
            )
            raise _refused(msg)
        ports.update(range(low, high + 1))
    return frozenset(ports)


def byte_size(value: str) -> int:
    """Parse a size in bytes: ``33554432``, ``512K``, ``32M``, ``1G`` (powers of 1024)."""
    text = value.strip().upper().removesuffix("B").removesuffix("I")
    number, unit = text.rstrip("KMG"), text[len(text.rstrip("KMG")) :]
    if not number.isdigit() or unit not in SIZE_UNITS or int(number) == 0:
        msg = f"bad size {value!r}; expected a number like 64M, 512K or 1G"
        raise _refused(msg)
    return int(number) * SIZE_UNITS[unit]


def seconds(value: str) -> float:
    """Parse a finite number of seconds, at least 0.1 (not nan, not inf)."""
    import math  # noqa: PLC0415 - only when a time is given: start-up (issue #10)

    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < MIN_SECONDS:
        msg = f"bad time {value!r}; expected a number of seconds >= {MIN_SECONDS}"
        raise _refused(msg)
    return number


def count(value: str, *, top: int = MAX_JOBS) -> int:
    """Parse a whole number from 1 to ``top``."""
    if not value.strip().isdigit() or not 1 <= int(value) <= top:
        msg = f"bad number {value!r}; expected 1-{top}"
        raise _refused(msg)
    return int(value)


def positive(value: str) -> int:
    """Parse a whole number of at least 1 (no upper bound)."""
    if not value.strip().isdigit() or int(value) < 1:
        msg = f"bad number {value!r}; expected 1 or more"
        raise _refused(msg)
    return int(value)
