"""Pure parser for ``ss -tuanp`` (iproute2) text: the fallback where a zone has no Python.

ss(8) prints one socket per line; ``-p`` adds ``users:(("comm",pid=N,fd=M),...)`` and
``-e`` adds ``uid:N ino:N``.  It gives no process user and no arguments.
"""

from __future__ import annotations

import re

from common.errors import ParseError
from common.schema import Family
from common.schema import Owner
from common.schema import Proto
from common.schema import Socket

# ss's state names (sstate_name[] in misc/ss.c) to the kernel's.
SS_STATES = {
    "ESTAB": "ESTABLISHED",
    "SYN-SENT": "SYN_SENT",
    "SYN-RECV": "SYN_RECV",
    "FIN-WAIT-1": "FIN_WAIT1",
    "FIN-WAIT-2": "FIN_WAIT2",
    "TIME-WAIT": "TIME_WAIT",
    "UNCONN": "UNCONN",
    "CLOSE-WAIT": "CLOSE_WAIT",
    "LAST-ACK": "LAST_ACK",
    "LISTEN": "LISTEN",
    "CLOSING": "CLOSING",
    "CLOSED": "CLOSE",
    "BOUND-INACTIVE": "BOUND",
}
_USER = re.compile(r'\("((?:[^"\\]|\\.)*)",pid=(\d+),fd=(\d+)\)')
_INODE = re.compile(r"\bino:(\d+)")
_UID = re.compile(r"\buid:(\d+)")


def split_endpoint(text: str) -> tuple[Family, str | None, int]:
    """Split ``addr:port`` as ss prints it (``[v6]:port``, ``*`` wildcards).

    >>> split_endpoint("[::1]:22")
    (<Family.INET6: 'inet6'>, '::1', 22)
    >>> split_endpoint("127.0.0.53%lo:53")
    (<Family.INET: 'inet'>, '127.0.0.53', 53)
    """
    host, _, port_text = text.rpartition(":")
    port = 0 if port_text == "*" else int(port_text)
    family = Family.INET
    if host.startswith("["):
        host, family = host[1:-1], Family.INET6
    host = host.split("%", 1)[0]  # drop an interface scope
    if host == "*":
        return family, None, port
    if ":" in host:
        family = Family.INET6
    return family, host, port


def parse_ss(text: str, *, source: str = "ss -tuanp") -> list[Socket]:
    """Parse ``ss -tuan[p][e]`` output into sockets (owners without user or args)."""
    sockets: list[Socket] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0] == "Netid":
            continue
        try:
            sockets.append(_socket(fields))
        except (IndexError, KeyError, ValueError):
            # ValueError includes int() of an absurdly long number (its 4,300-digit
            # limit), as a hostile zone could print (found by bench/fuzz.py).
            msg = f"malformed line {lineno} in {source}: {line[:200]!r}"
            raise ParseError(msg, source=source, lineno=lineno) from None
    return sockets


def _socket(fields: list[str]) -> Socket:
    proto = Proto(fields[0])
    state = SS_STATES[fields[1]]
    family, local, lport = split_endpoint(fields[4])
    _, remote, rport = split_endpoint(fields[5])
    rest = " ".join(fields[6:])
    inode_match, uid_match = _INODE.search(rest), _UID.search(rest)
    owners = tuple(
        Owner(int(pid), int(fd), None, None, name.replace('\\"', '"'), None)
        for name, pid, fd in _USER.findall(rest)
    )
    return Socket(
        proto, family, "stream" if proto is Proto.TCP else "dgram", state,
        local, lport, remote if rport else None, rport or None, None,
        int(inode_match.group(1)) if inode_match else None,
        int(uid_match.group(1)) if uid_match else None, None, owners,
    )  # fmt: skip
