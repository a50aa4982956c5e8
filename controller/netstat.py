"""Pure parser for illumos ``netstat -an`` and ``-anu``: the no-Python zone fallback.

Format (usr/src/cmd/cmd-inet/usr.bin/netstat/netstat.c, netstat(8)): sections headed
``TCP: IPv4``, ``UDP: IPv6``...; endpoints are ``address.port`` with ``*`` wildcards;
``-u`` (illumos 9531) adds ``User Pid Command`` after the endpoints, one row per
process holding the socket.  IPv6 rows may end with an interface column.
"""

from __future__ import annotations

import re

from common.errors import ParseError
from common.schema import Family
from common.schema import Owner
from common.schema import Proto
from common.schema import Socket

# mitcp_state() and miudp_state() in netstat.c, to our state names.
TCP_STATES = {
    "CLOSED": "CLOSE",
    "IDLE": "IDLE",
    "BOUND": "BOUND",
    "LISTEN": "LISTEN",
    "SYN_SENT": "SYN_SENT",
    "SYN_RCVD": "SYN_RECV",
    "ESTABLISHED": "ESTABLISHED",
    "CLOSE_WAIT": "CLOSE_WAIT",
    "FIN_WAIT_1": "FIN_WAIT1",
    "CLOSING": "CLOSING",
    "LAST_ACK": "LAST_ACK",
    "FIN_WAIT_2": "FIN_WAIT2",
    "TIME_WAIT": "TIME_WAIT",
}
UDP_STATES = {"Unbound": "UNCONN", "Idle": "UNCONN", "Connected": "ESTABLISHED"}
ANY = {Family.INET: "0.0.0.0", Family.INET6: "::"}  # noqa: S104 - netstat's "*"
_SECTION = re.compile(r"(TCP|UDP): IPv([46])\s*$")
_ENDPOINT = re.compile(r"(\*|[0-9A-Fa-f:.%]+)\.(\*|\d+)\Z")


def split_endpoint(text: str) -> tuple[str | None, int]:
    """Split ``addr.port`` as netstat prints it; ``*`` is any address or port.

    >>> split_endpoint("192.168.1.1.22")
    ('192.168.1.1', 22)
    >>> split_endpoint("*.*")
    (None, 0)
    """
    match = _ENDPOINT.match(text)
    if match is None:
        msg = f"bad endpoint {text!r}"
        raise ValueError(msg)
    address, port = match.groups()
    return (None if address == "*" else address), (0 if port == "*" else int(port))


def _is_endpoint(text: str) -> bool:
    return _ENDPOINT.match(text) is not None


def parse_netstat(text: str, *, source: str = "netstat -an") -> list[Socket]:
    """Parse illumos ``netstat -an[u]``: TCP and UDP, IPv4 and IPv6, owners with -u."""
    sockets: list[Socket] = []
    merged: dict[tuple[object, ...], Socket] = {}
    proto: Proto | None = None
    family = Family.INET
    owners_shown = False
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        section = _SECTION.match(stripped)
        if section is not None:
            proto = Proto.TCP if section.group(1) == "TCP" else Proto.UDP
            family = Family.INET if section.group(2) == "4" else Family.INET6
            continue
        if not stripped or stripped.startswith("---"):
            continue
        if stripped.endswith(":") or stripped.startswith("Active "):
            proto = None  # SCTP, unix sockets...: not parsed here
            continue
        if stripped.startswith("Local Address"):
            owners_shown = " Pid " in f" {stripped} "
            continue
        if proto is None:
            continue
        try:
            sock, owner = _row(stripped.split(), proto, family, owners_shown)
        except (ValueError, IndexError, KeyError, StopIteration):
            msg = f"malformed line {lineno} in {source}: {line[:200]!r}"
            raise ParseError(msg, source=source, lineno=lineno) from None
        key = (sock.proto, sock.family, sock.local_address, sock.local_port,
               sock.remote_address, sock.remote_port, sock.state)  # fmt: skip
        if owner is not None and key in merged:  # another holder of the same socket
            merged[key].owners += (owner,)
            continue
        if owner is not None:
            sock.owners = (owner,)
        merged[key] = sock
        sockets.append(sock)
    return sockets


def _row(
    fields: list[str], proto: Proto, family: Family, owners_shown: bool
) -> tuple[Socket, Owner | None]:
    local, lport = split_endpoint(fields[0])
    rest = fields[1:]
    remote: str | None = None
    rport = 0
    if rest and _is_endpoint(rest[0]):
        remote, rport = split_endpoint(rest[0])
        rest = rest[1:]
    states = TCP_STATES if proto is Proto.TCP else UDP_STATES
    index = next(i for i in range(len(rest) - 1, -1, -1) if rest[i] in states)
    state = states[rest[index]]
    if proto is Proto.TCP and state == "IDLE" and lport:
        state = "BOUND"
    owner: Owner | None = None
    if owners_shown:
        user, pid = rest[0], int(rest[1])
        # TCP: the command (which may hold spaces) is followed by 4 counters.
        end = index - 4 if proto is Proto.TCP else index
        command = " ".join(rest[2:end]) or None
        if pid > 0:  # 0: no process (MIB2_UNKNOWN_PROCESS)
            owner = Owner(pid, None, None, user, command, None)
    kind = "stream" if proto is Proto.TCP else "dgram"
    sock = Socket(
        proto, family, kind, state, local or ANY[family], lport,
        remote if rport else None, rport or None, None, None, None, None, (),
    )  # fmt: skip
    return sock, owner
