"""Pure parser for illumos ``netstat -an`` and ``-anu``: the no-Python zone fallback.

netstat prints fixed-width columns (usr/src/cmd/cmd-inet/usr.bin/netstat/netstat.c,
tcp_report_item_v4/_v6() and udp_report_item_v4/_v6()), so rows are read by position,
not by splitting on blanks: with ``-u`` (illumos 9531) a socket no process holds
prints *blank* User, Pid and Command columns (``unknown_proc`` through
``"%-8.8s %6s %-14.14s"``), and a command name may hold spaces.  Endpoints are
``address.port`` with ``*`` for the unspecified address or port, left-justified in 20
(IPv4) or 33 (IPv6) columns, wider when longer; a UDP socket that is not connected
prints a blank remote column.  ``-u`` repeats the whole row for each holder of a
socket: consecutive rows for the same endpoints are one socket with several owners.

What the text cannot say is parsed as documented here and in README.md: a missing
peer is no peer (None, as the MIB path and Linux give); an unknown state
(``UnknownState(n)``, ``Unknown State(n)`` cut to ten columns in IPv6 rows) is
``UNKNOWN``; user and command are netstat's, cut to 8 and 14 characters.  A
dual-stack socket is listed under IPv4 and IPv6, as netstat lists it: the text holds
nothing that tells the kernel's IPv4 copy of an IPv6 socket from a real IPv4 socket
beside an IPV6_V6ONLY one (agent/mib2.py drops a copy only on such evidence).
"""

from __future__ import annotations

import re

from common.errors import ParseError
from common.schema import Family
from common.schema import Owner
from common.schema import Proto
from common.schema import Socket

# mitcp_state() in netstat.c, to our state names.
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
# miudp_state(): MIB2_UDP_unbound, _idle, _connected.
UDP_STATES = {"Unbound": "UNCONN", "Idle": "UNCONN", "Connected": "ESTABLISHED"}
UNKNOWN = "UNKNOWN"  # "UnknownState(%d)" (TCP), "Unknown State(%d)" (UDP)
ANY = {Family.INET: "0.0.0.0", Family.INET6: "::"}  # noqa: S104 - netstat's "*"
# Column widths of the endpoints (%-20s / %-33s), the owner columns (%-8.8s %6s
# %-14.14s) and the IPv6 UDP state (%-10.10s).
ENDPOINT_WIDTH = {Family.INET: 20, Family.INET6: 33}
USER_WIDTH, PID_WIDTH, COMMAND_WIDTH, UDP6_STATE_WIDTH = 8, 6, 14, 10
_SECTION = re.compile(r"(TCP|UDP): IPv([46])\s*$")
_ENDPOINT = re.compile(r"(\*|[0-9A-Fa-f:.%]+)\.(\*|\d+)\Z")
_UNKNOWN_STATE = re.compile(r"Unknown ?St")


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


class _Row:
    """One row, read column by column from the left."""

    def __init__(self, line: str) -> None:
        self.line = line
        self.at = 0

    def field(self, width: int) -> str:
        """Take a left-justified ``%-Ns`` column and the blank after it."""
        end = self.at + width
        if self.line[end : end + 1] not in ("", " "):  # wider than its column
            found = self.line.find(" ", end)
            end = found if found >= 0 else len(self.line)
        text = self.line[self.at : end]
        self.at = end + 1
        return text.strip()

    def rest(self) -> str:
        return self.line[self.at :].strip()


def parse_netstat(text: str, *, source: str = "netstat -an") -> list[Socket]:
    """Parse illumos ``netstat -an[u]``: TCP and UDP, IPv4 and IPv6, owners with -u."""
    sockets: list[Socket] = []
    proto: Proto | None = None
    family = Family.INET
    owners_shown = False
    last: tuple[object, ...] | None = None  # the previous row's socket, for -u repeats
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        section = _SECTION.match(stripped)
        if section is not None:
            proto = Proto.TCP if section.group(1) == "TCP" else Proto.UDP
            family = Family.INET if section.group(2) == "4" else Family.INET6
            last = None
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
            sock, owner = _row(line, proto, family, owners_shown)
        except (ValueError, IndexError):
            msg = f"malformed line {lineno} in {source}: {line[:200]!r}"
            raise ParseError(msg, source=source, lineno=lineno) from None
        key = (sock.local_address, sock.local_port, sock.remote_address,
               sock.remote_port, sock.state)  # fmt: skip
        if owner is not None and key == last and sockets:  # another holder, same socket
            sockets[-1].owners += (owner,)
            continue
        if owner is not None:
            sock.owners = (owner,)
        last = key if owner is not None else None
        sockets.append(sock)
    return sockets


def _row(
    line: str, proto: Proto, family: Family, owners_shown: bool
) -> tuple[Socket, Owner | None]:
    row = _Row(line)
    width = ENDPOINT_WIDTH[family]
    local, lport = split_endpoint(row.field(width))
    remote_text = row.field(width)
    remote, rport = split_endpoint(remote_text) if remote_text else (None, 0)
    owner: Owner | None = None
    if owners_shown:
        user = row.field(USER_WIDTH)
        pid = row.field(PID_WIDTH)
        command = row.field(COMMAND_WIDTH)
        if pid:  # blank: no process holds it (netstat's unknown_proc)
            owner = Owner(int(pid), None, None, user or None, command or None, None)
    if proto is Proto.TCP:
        # Swind Send-Q Rwind Recv-Q State [If]: the state is one word.
        words = row.rest().split()
        if len(words) < 5:  # four counters and the state
            msg = "too few columns"
            raise ValueError(msg)
        name = words[4]
        state = TCP_STATES.get(name) or _unknown(name)
        if state == "IDLE" and lport:
            state = "BOUND"
        kind = "stream"
    else:
        name = row.field(UDP6_STATE_WIDTH) if family is Family.INET6 else row.rest()
        state = UDP_STATES.get(name) or _unknown(name)
        kind = "dgram"
    sock = Socket(
        proto, family, kind, state, local or ANY[family], lport,
        (remote or ANY[family]) if rport else None, rport or None,
        None, None, None, None, (),
    )  # fmt: skip
    return sock, owner


def _unknown(name: str) -> str:
    if _UNKNOWN_STATE.match(name) is None:
        msg = f"unknown state {name!r}"
        raise ValueError(msg)
    return UNKNOWN
