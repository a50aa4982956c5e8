"""Pure parsers for Linux /proc text: /proc/net/{tcp,udp,unix}[6] and /proc/<pid> files.

Formats: Documentation/networking/proc_net_tcp.rst, get_tcp4_sock() in
net/ipv4/tcp_ipv4.c, unix_seq_show() in net/unix/af_unix.c, proc(5).
"""

from __future__ import annotations

import _socket  # not socket.py: see agent/netlink.py

from agent.netlink import DGRAM_STATES
from agent.netlink import TCP_STATES
from agent.netlink import UNIX_TYPES
from common.errors import ParseError
from common.schema import Family
from common.schema import Proto
from common.schema import Socket

# unix_seq_show(): __SO_ACCEPTCON in Flags marks a listener; St is the socket_state
# (SS_UNCONNECTED 1, SS_CONNECTING 2, SS_CONNECTED 3, SS_DISCONNECTING 4).
SO_ACCEPTCON = 0x10000
UNIX_SOCKET_STATES = {1: "UNCONN", 2: "CONNECTING", 3: "ESTABLISHED", 4: "DISCONNECTING"}


def decode_address(text: str, family: Family, byteorder: str) -> str:
    """Decode a /proc/net address column: each 32-bit word is printed in host order.

    >>> decode_address("0100007F", Family.INET, "little")
    '127.0.0.1'
    >>> decode_address("0000000000000000FFFF00000100007F", Family.INET6, "little")
    '::ffff:127.0.0.1'
    """
    raw = b"".join(
        int(text[i : i + 8], 16).to_bytes(4, byteorder)  # type: ignore[arg-type]
        for i in range(0, len(text), 8)
    )
    if family is Family.INET:
        if len(raw) != 4:
            msg = f"bad IPv4 address {text!r}"
            raise ValueError(msg)
        return _socket.inet_ntop(_socket.AF_INET, raw)
    if len(raw) != 16:
        msg = f"bad IPv6 address {text!r}"
        raise ValueError(msg)
    return _socket.inet_ntop(_socket.AF_INET6, raw)


def parse_proc_net_inet(
    data: bytes, *, proto: Proto, family: Family, byteorder: str, source: str
) -> list[Socket]:
    """Parse /proc/net/{tcp,tcp6,udp,udp6} into raw sockets.

    Bound-only TCP sockets are not in these files (only sock_diag lists them).
    """
    records: list[Socket] = []
    lines = data.decode("ascii", "replace").splitlines()
    cache: dict[str, str] = {}
    for lineno, line in enumerate(lines[1:], start=2):
        fields = line.split()
        if not fields:
            continue
        try:
            local_text, remote_text, state_hex = fields[1], fields[2], fields[3]
            uid, inode = int(fields[7]), int(fields[9])
            laddr, lport_hex = local_text.split(":")
            raddr, rport_hex = remote_text.split(":")
            state = int(state_hex, 16)
            lport, rport = int(lport_hex, 16), int(rport_hex, 16)
            for text in (laddr, raddr):
                if text not in cache:
                    cache[text] = decode_address(text, family, byteorder)
        except (IndexError, ValueError):
            msg = f"malformed line {lineno} in {source}: {line!r}"
            raise ParseError(msg, source=source, lineno=lineno) from None
        if proto is Proto.TCP:
            name = TCP_STATES.get(state, "UNKNOWN")
            kind = "stream"
        else:
            name = DGRAM_STATES.get(state, "UNKNOWN")
            kind = "dgram"
        remote: str | None = cache[raddr] if rport else None
        records.append(
            Socket(
                proto, family, kind, name, cache[laddr], lport, remote, rport or None,
                None, inode or None, uid if inode else None, None, (),
            )
        )  # fmt: skip
    return records


def parse_proc_net_unix(data: bytes, *, source: str = "/proc/net/unix") -> list[Socket]:
    """Parse /proc/net/unix into raw sockets (no peer: the file has no such column)."""
    records: list[Socket] = []
    lines = data.decode("utf-8", "backslashreplace").splitlines()
    for lineno, line in enumerate(lines[1:], start=2):
        # Split at most 7 times: a path may contain spaces.
        fields = line.split(None, 7)
        if not fields:
            continue
        try:
            flags, kind, state = (int(fields[i], 16) for i in (3, 4, 5))
            inode = int(fields[6])
        except (IndexError, ValueError):
            msg = f"malformed line {lineno} in {source}: {line!r}"
            raise ParseError(msg, source=source, lineno=lineno) from None
        path = fields[7] if len(fields) == 8 else None
        name = (
            "LISTEN" if flags & SO_ACCEPTCON else UNIX_SOCKET_STATES.get(state, "UNKNOWN")
        )
        records.append(
            Socket(
                Proto.UNIX, Family.UNIX, UNIX_TYPES.get(kind, "stream"), name, None,
                None, None, None, path, inode or None, None, None, (),
            )
        )  # fmt: skip
    return records


# Characters of a command line kept: at most 128 KiB of UTF-8, below the decoder's
# limit for one string (common/decode.py), so real processes never trip it.
MAX_ARGS = 32_768


def parse_status_uid(data: bytes) -> int | None:
    """Return the real uid from /proc/<pid>/status (the ``Uid:`` line's first field)."""
    for line in data.split(b"\n"):
        if line.startswith(b"Uid:"):
            fields = line.split()
            return int(fields[1]) if len(fields) > 1 else None
    return None


def parse_cmdline(data: bytes, *, limit: int = MAX_ARGS) -> str:
    r"""Join /proc/<pid>/cmdline's NUL-separated arguments with spaces.

    Longer than ``limit`` characters, the text is cut there and marked with how
    much was left out: a 2 MB command line (Linux allows them) must not make its
    zone's stream too big to be trusted.

    >>> parse_cmdline(b"python3\x00-m\x00http.server\x00")
    'python3 -m http.server'
    >>> parse_cmdline(b"java\x00-cp\x00abcdefgh", limit=10)
    'java -cp a [cut: 7 more characters]'
    """
    text = data.rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "backslashreplace")
    if len(text) > limit:
        text = f"{text[:limit]} [cut: {len(text) - limit} more characters]"
    return text
