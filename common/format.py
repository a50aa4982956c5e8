"""Pure value formatting: endpoints, protocol labels, and escaping of untrusted text."""

from __future__ import annotations

import re

from common.schema import Family
from common.schema import Proto
from common.schema import Socket

NO_PEER = "*.*"  # the seed's REMOTE ADDRESS for a socket without a peer
UNKNOWN = "?"

# C0 and C1 controls, DEL, and the invisible or direction-changing format characters
# (zero-width, line/paragraph separators, bidi embeddings and isolates: "Trojan
# Source", CVE-2021-42574) that could make a terminal show something else.
# Compiled by re on first use (its cache keeps it): most text is plain ASCII, which
# escape_text() answers without it.
_UNSAFE_CHARS = "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]"
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_text(text: str) -> str:
    r"""Return text safe for a terminal: control characters become escapes.

    >>> escape_text("evil\x1b[2Jname")
    'evil\\x1b[2Jname'
    """
    # Printable ASCII has none of them (for ASCII, str.isprintable() refuses exactly
    # \x00-\x1f and \x7f): the usual name, path or command, without the regex.
    if text.isascii() and text.isprintable():
        return text
    if re.search(_UNSAFE_CHARS, text) is None:
        return text
    return re.sub(_UNSAFE_CHARS, _escape_char, text)


def format_endpoint(address: str | None, port: int | None, family: Family) -> str:
    """Format an inet endpoint; IPv6 addresses are bracketed, port 0 is ``*``.

    >>> format_endpoint("127.0.0.1", 22, Family.INET)
    '127.0.0.1:22'
    >>> format_endpoint("::", 0, Family.INET6)
    '[::]:*'
    """
    host = UNKNOWN if address is None else address
    if family is Family.INET6:
        host = f"[{host}]"
    return f"{host}:{port}" if port else f"{host}:*"


PROTO_LABELS = {
    (Proto.TCP, Family.INET): "tcp4",
    (Proto.TCP, Family.INET6): "tcp6",
    (Proto.UDP, Family.INET): "udp4",
    (Proto.UDP, Family.INET6): "udp6",
    (Proto.UNIX, Family.UNIX): "unix",
}


def proto_label(sock: Socket) -> str:
    """Return the seed's PROTO column value: tcp4, tcp6, udp4, udp6 or unix."""
    return PROTO_LABELS[sock.proto, sock.family]
