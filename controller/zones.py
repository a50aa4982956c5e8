"""Zones of a host: ``zoneadm list -p`` parsed, which zones to enter, -z patterns.

On illumos a zone's sockets can only be read from inside it (the kernel filters the
MIB by the caller's zone), so the agent is started there with ``zlogin``
(controller/hops.py).  A zone's name always comes from what the controller listed
and entered, never from an agent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List
from typing import Optional
from typing import Tuple

from common.errors import ParseError
from common.format import escape_text
from controller.status import Status

GLOBAL = "global"
# zonecfg(8): a name starts with an alphanumeric and holds alphanumerics, "-", "_"
# and "."; ZONENAME_MAX is 64 with the NUL (<sys/zone.h>).
ZONE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\Z")
HARDWARE_VM_BRANDS = frozenset({"kvm", "bhyve"})  # guests' sockets are not the zone's
ZONEADM_FIELDS = ("zoneid", "name", "state", "path", "uuid", "brand", "iptype", "did")


@dataclass(frozen=True)
class Zone:
    """One line of ``zoneadm list -p``."""

    zoneid: str
    name: str
    state: str
    path: str
    uuid: str
    brand: str
    iptype: str


def split_zoneadm_line(line: str) -> List[str]:
    r"""Split a ``zoneadm list -p`` line on ``:``, honouring ``\:`` escapes.

    >>> split_zoneadm_line(r"1:web:running:/zones/a\:b:u:joyent:excl:7")
    ['1', 'web', 'running', '/zones/a:b', 'u', 'joyent', 'excl', '7']
    """
    fields: List[str] = []
    current: List[str] = []
    chars = iter(line)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            current.append(following if following == ":" else char + following)
        elif char == ":":
            fields.append("".join(current))
            current = []
        else:
            current.append(char)
    fields.append("".join(current))
    return fields


def parse_zoneadm(text: str, *, source: str = "zoneadm list -p") -> List[Zone]:
    """Parse ``zoneadm list -p``: 7 fields upstream, 8 on SmartOS (a trailing did)."""
    zones = []
    # Lines end with "\n" only: a "\r" (or any other break splitlines() knows) in
    # a name is part of the name, to be refused by valid_zone_name(), not a line.
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        fields = split_zoneadm_line(line)
        if len(fields) not in (7, 8):
            msg = f"malformed line {lineno} in {source}: {line!r}"
            raise ParseError(msg, source=source, lineno=lineno)
        zones.append(Zone(*fields[:7]))
    return zones


def valid_zone_name(name: str) -> bool:
    """Whether a name is a legal zone name (and so safe to hand to zlogin)."""
    return ZONE_NAME.match(name) is not None


def why_not_entered(zone: Zone) -> Optional[Tuple[Status, str]]:
    """Return (status, reason) when a listed zone must not be entered, else None."""
    if zone.state != "running":
        return Status.SKIPPED, f"zone is {zone.state}"
    if zone.brand in HARDWARE_VM_BRANDS:
        return (
            Status.SKIPPED,
            f"hardware VM ({zone.brand}): its guest's sockets are not the zone's",
        )
    if not valid_zone_name(zone.name):
        return Status.ZONE_ENTRY_FAILED, f"invalid zone name {escape_text(zone.name)!r}"
    return None
