"""Pure builders and parsers for NETLINK_SOCK_DIAG dumps (no I/O).

Layouts from include/uapi/linux/{netlink,sock_diag,inet_diag,unix_diag}.h; everything
is host byte order except ports and addresses (network order).
"""

from __future__ import annotations

import _socket
import errno
import os
import struct

from common.schema import Family
from common.schema import Proto
from common.schema import Socket

# _socket, the C module, not socket.py: that wrapper turns every AF_/SOCK_/MSG_
# constant into an enum and imports selectors when first imported (~2 ms of a local
# listing); the agent needs no more than its functions, constants and plain sockets.
NETLINK_SOCK_DIAG = 4  # linux/netlink.h; not exported by Python's socket module
SOCK_DIAG_BY_FAMILY = 20  # linux/sock_diag.h
# The legacy request (struct inet_diag_req, linux/inet_diag.h) for TCP.  The kernel
# answers it with AF_UNSPEC as the family (inet_diag_dump_compat(), "compatibility"),
# so one dump walks the hash table once for IPv4 and IPv6 together: a full-table
# walk costs ~3 ms per dump even in an empty namespace (reference/linux.md §1.4).
TCPDIAG_GETSOCK = 18
REPLY_TYPES = (SOCK_DIAG_BY_FAMILY, TCPDIAG_GETSOCK)
NLM_F_REQUEST = 0x01
NLM_F_MULTI = 0x02  # set on every reply of a dump
NLM_F_DUMP = 0x300  # NLM_F_ROOT | NLM_F_MATCH
NLM_F_DUMP_INTR = 0x10  # the table changed during the dump
NLMSG_ERROR = 2
NLMSG_DONE = 3
ALL_STATES = 0xFFFFFFFF  # bit 13 (TCPF_BOUND_INACTIVE) adds bound-only TCP sockets
UDIAG_SHOW_NAME = 0x01
UDIAG_SHOW_PEER = 0x04
UDIAG_SHOW_UID = 0x40
UNIX_DIAG_NAME = 0  # the enum has no NONE member: NAME is 0 (linux/unix_diag.h)
UNIX_DIAG_PEER = 2
UNIX_DIAG_UID = 7

NLMSGHDR = struct.Struct("=IHHII")  # struct nlmsghdr, 16 bytes
INET_DIAG_REQ_V2 = struct.Struct("=BBBBIHH16s16sI8s")  # 56 bytes
# struct inet_diag_req: family, src_len, dst_len, ext, id, states, dbs; 60 bytes.
INET_DIAG_REQ_COMPAT = struct.Struct("=BBBBHH16s16sI8sII")
INET_DIAG_MSG = struct.Struct("=BBBBHH16s16sI8sIIIII")  # 72 bytes
UNIX_DIAG_REQ = struct.Struct("=BBHIII8s")  # 24 bytes
UNIX_DIAG_MSG = struct.Struct("=BBBBI8s")  # 16 bytes
NLATTR = struct.Struct("=HH")
NLMSG_INET_DIAG = struct.Struct("=IHHII" + INET_DIAG_MSG.format[1:])  # header + message
INT = struct.Struct("=i")
U32 = struct.Struct("=I")

# include/net/tcp_states.h; 7 (TCP_CLOSE) with a local port is a bound-only socket,
# reported when TCPF_BOUND_INACTIVE is requested (kernel commit 91051f003948).
TCP_STATES = {
    1: "ESTABLISHED",
    2: "SYN_SENT",
    3: "SYN_RECV",
    4: "FIN_WAIT1",
    5: "FIN_WAIT2",
    6: "TIME_WAIT",
    7: "CLOSE",
    8: "CLOSE_WAIT",
    9: "LAST_ACK",
    10: "LISTEN",
    11: "CLOSING",
    12: "NEW_SYN_RECV",
}
# UDP and unix sockets reuse the TCP numbers: 7 unconnected, 1 connected; unix also
# 10 listening and 2 connecting (net/unix/diag.c, what ss prints).
DGRAM_STATES = {1: "ESTABLISHED", 7: "UNCONN"}
UNIX_STATES = {1: "ESTABLISHED", 2: "CONNECTING", 7: "UNCONN", 10: "LISTEN"}
UNIX_TYPES = {1: "stream", 2: "dgram", 5: "seqpacket"}  # SOCK_* in linux/net.h

ntohs = _socket.ntohs
_IPPROTO = {Proto.TCP: _socket.IPPROTO_TCP, Proto.UDP: _socket.IPPROTO_UDP}
_AF = {Family.INET: _socket.AF_INET, Family.INET6: _socket.AF_INET6}


class DumpError(OSError):
    """The kernel ended a dump with an error (no diag handler, bad request...)."""


def build_inet_request(proto: Proto, family: Family, seq: int = 1) -> bytes:
    """Return a SOCK_DIAG_BY_FAMILY dump request for every socket of proto/family."""
    body = INET_DIAG_REQ_V2.pack(
        _AF[family], _IPPROTO[proto], 0, 0, ALL_STATES, 0, 0, b"", b"", 0, b"\xff" * 8
    )
    head = NLMSGHDR.pack(
        NLMSGHDR.size + len(body), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, seq, 0
    )
    return head + body


def build_tcp_compat_request(seq: int = 1) -> bytes:
    """Return a legacy TCPDIAG_GETSOCK dump of every TCP socket, IPv4 and IPv6."""
    body = INET_DIAG_REQ_COMPAT.pack(
        _socket.AF_INET, 0, 0, 0, 0, 0, b"", b"", 0, b"\xff" * 8, ALL_STATES, 0
    )
    head = NLMSGHDR.pack(
        NLMSGHDR.size + len(body), TCPDIAG_GETSOCK, NLM_F_REQUEST | NLM_F_DUMP, seq, 0
    )
    return head + body


def build_unix_request(seq: int = 1) -> bytes:
    """Return a dump request for every unix socket with name, peer and uid."""
    show = UDIAG_SHOW_NAME | UDIAG_SHOW_PEER | UDIAG_SHOW_UID
    body = UNIX_DIAG_REQ.pack(_socket.AF_UNIX, 0, 0, ALL_STATES, 0, show, b"\xff" * 8)
    head = NLMSGHDR.pack(
        NLMSGHDR.size + len(body), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, seq, 0
    )
    return head + body


class DumpParser:
    """Parse the datagrams of one dump; ``done`` turns true at NLMSG_DONE.

    ``family`` is what was asked for: None for a TCPDIAG_GETSOCK dump of both.

    ``interrupted`` records NLM_F_DUMP_INTR: the table changed while it was dumped,
    so the listing may miss or repeat a socket (the caller may retry).
    """

    def __init__(self, proto: Proto, family: Family | None) -> None:
        self.proto = proto
        self.family = family
        self.done = False
        self.interrupted = False
        self.records: list[Socket] = []
        # Converted addresses, one cache per family: 0.0.0.0 and :: are the same
        # sixteen zero bytes in inet_diag_sockid (and 127.0.0.1 those of 7f00:1::),
        # so a cache keyed by the bytes alone names one family's address with the
        # other's (issue #9).
        self._ntop: dict[int, dict[bytes, str]] = {
            _socket.AF_INET: {},
            _socket.AF_INET6: {},
        }

    def feed(self, data: bytes | memoryview) -> None:
        """Parse one or more whole netlink messages."""
        offset, size = 0, len(data)
        unpack_head = NLMSGHDR.unpack_from
        while offset + 16 <= size and not self.done:
            length, kind, flags, _seq, _pid = unpack_head(data, offset)
            if length < 16 or offset + length > size:
                msg = f"truncated netlink message at offset {offset} (length {length})"
                raise DumpError(errno.EPROTO, msg)
            if flags & NLM_F_DUMP_INTR:
                self.interrupted = True
            if kind == NLMSG_DONE:
                # The payload is an int: -ENOENT when the kernel has no diag handler
                # for the protocol (e.g. CONFIG_INET_RAW_DIAG unset).
                code = INT.unpack_from(data, offset + 16)[0] if length >= 20 else 0
                if code < 0:
                    raise DumpError(-code, os.strerror(-code))
                self.done = True
            elif kind == NLMSG_ERROR:
                code = INT.unpack_from(data, offset + 16)[0] if length >= 20 else 0
                raise DumpError(-code, os.strerror(-code) if code else "netlink error")
            elif kind in REPLY_TYPES:
                self._message(data, offset + 16, offset + length)
            offset += (length + 3) & ~3  # NLMSG_ALIGN

    def _message(self, data: bytes | memoryview, start: int, end: int) -> None:
        raise NotImplementedError


class InetDumpParser(DumpParser):
    """Parser for inet_diag_msg replies (TCP or UDP, one family)."""

    def _message(self, data: bytes | memoryview, start: int, end: int) -> None:
        """Parse one reply the careful path met (after a flagged one) like any other."""
        if end - start < INET_DIAG_MSG.size:
            msg = f"short inet_diag_msg ({end - start} bytes)"
            raise DumpError(errno.EPROTO, msg)
        # Through feed()'s loop, the one place records are made: the message alone,
        # behind a header without the flag that sent it here.
        self.feed(
            NLMSGHDR.pack(end - start + 16, SOCK_DIAG_BY_FAMILY, 0, 0, 0) + data[start:end]
        )

    def feed(self, data: bytes | memoryview) -> None:
        """Parse whole messages; replies are made into records here, in one loop.

        One loop with everything written out, no call per message: a third of a
        local listing's parse time at 10,000 sockets.  What it does not take (DONE,
        ERROR, a flagged or short message) goes to DumpParser.feed, which hands
        each reply back through _message().
        """
        offset, size = 0, len(data)
        unpack = NLMSG_INET_DIAG.unpack_from
        append = self.records.append
        ntop4, ntop6 = self._ntop[_socket.AF_INET], self._ntop[_socket.AF_INET6]
        af_inet, inet, inet6 = _socket.AF_INET, Family.INET, Family.INET6
        proto = self.proto
        tcp = proto is Proto.TCP
        names = TCP_STATES if tcp else DGRAM_STATES
        kind = "stream" if tcp else "dgram"
        while offset + NLMSG_INET_DIAG.size <= size:
            # nlmsghdr (5 fields) + inet_diag_msg (linux/inet_diag.h).
            (length, msg_type, flags, _seq, _pid, af, state, _timer, _retrans,
             sport, dport, src, dst, _if, _cookie, _expires, _rqueue, _wqueue,
             uid, inode) = unpack(data, offset)  # fmt: skip
            if msg_type not in REPLY_TYPES or flags & NLM_F_DUMP_INTR or length < 88:
                break  # DONE, ERROR, short or flagged: the careful path below
            if offset + length > size:
                msg = f"truncated netlink message at offset {offset} (length {length})"
                raise DumpError(errno.EPROTO, msg)
            # Each message names its family: a compat dump holds both.
            if af == af_inet:
                family, ntop = inet, ntop4
            else:
                family, ntop = inet6, ntop6
            local = ntop.get(src)
            if local is None:
                local = ntop[src] = _inet_ntop(family, src)
            rport: int | None = ntohs(dport)
            remote: str | None = None
            if rport:
                remote = ntop.get(dst)
                if remote is None:
                    remote = ntop[dst] = _inet_ntop(family, dst)
            else:
                rport = None  # no peer
            lport = ntohs(sport)
            name = "BOUND" if tcp and state == 7 and lport else names.get(state, "UNKNOWN")
            # TIME_WAIT and request sockets carry inode 0 and uid 0: no owner, no uid.
            append(
                Socket(
                    proto, family, kind, name, local, lport, remote, rport, None,
                    inode or None, uid if inode else None, None, (),
                )
            )  # fmt: skip
            offset += (length + 3) & ~3  # NLMSG_ALIGN
        if offset < size:
            super().feed(data[offset:])


class UnixDumpParser(DumpParser):
    """Parser for unix_diag_msg replies with NAME, PEER and UID attributes."""

    def __init__(self) -> None:
        super().__init__(Proto.UNIX, Family.UNIX)

    def _message(self, data: bytes | memoryview, start: int, end: int) -> None:
        if end - start < UNIX_DIAG_MSG.size:
            msg = f"short unix_diag_msg ({end - start} bytes)"
            raise DumpError(errno.EPROTO, msg)
        _fam, kind, state, _pad, inode, _cookie = UNIX_DIAG_MSG.unpack_from(data, start)
        path: str | None = None
        peer: int | None = None
        uid: int | None = None
        offset = start + UNIX_DIAG_MSG.size
        while offset + 4 <= end:
            length, attr = NLATTR.unpack_from(data, offset)
            if length < 4 or offset + length > end:
                break
            attr &= 0x3FFF  # mask NLA_F_NESTED and NLA_F_NET_BYTEORDER
            if attr == UNIX_DIAG_NAME:
                path = decode_unix_name(bytes(data[offset + 4 : offset + length]))
            elif attr == UNIX_DIAG_PEER and length >= 8:
                peer = U32.unpack_from(data, offset + 4)[0] or None
            elif attr == UNIX_DIAG_UID and length >= 8:
                uid = U32.unpack_from(data, offset + 4)[0]
            offset += (length + 3) & ~3  # NLA_ALIGN
        self.records.append(
            Socket(
                Proto.UNIX, Family.UNIX, UNIX_TYPES.get(kind, "stream"),
                UNIX_STATES.get(state, "UNKNOWN"), None, None, None, None, path,
                inode or None, uid, peer, (),
            )
        )  # fmt: skip


def decode_unix_name(raw: bytes) -> str | None:
    r"""Decode a sun_path: abstract names (leading NUL) become ``@name``.

    >>> decode_unix_name(b"\x00hidden")
    '@hidden'
    >>> decode_unix_name(b"/run/x.sock\x00")
    '/run/x.sock'
    """
    if not raw:
        return None
    if raw[:1] == b"\0":
        return "@" + raw[1:].decode("utf-8", "backslashreplace")
    return raw.rstrip(b"\0").decode("utf-8", "backslashreplace") or None


def _inet_ntop(family: Family, raw: bytes) -> str:
    if family is Family.INET:
        return _socket.inet_ntop(_socket.AF_INET, raw[:4])
    return _socket.inet_ntop(_socket.AF_INET6, raw)


def parse_inet_dump(
    data: bytes, *, proto: Proto, family: Family | None = None
) -> list[Socket]:
    """Parse a captured inet dump (concatenated datagrams) into raw sockets."""
    parser = InetDumpParser(proto, family)
    parser.feed(data)
    return parser.records


def parse_unix_dump(data: bytes) -> list[Socket]:
    """Parse a captured unix dump (concatenated datagrams) into raw sockets."""
    parser = UnixDumpParser()
    parser.feed(data)
    return parser.records
