"""illumos MIB2 and psinfo parsers, on byte fixtures built from the documented layouts.

illumos cannot run here.  Every fixture is written field by field at the offsets of
reference/illumos.md §2-§5 (the declarations of mib2.h and procfs.h compiled for
amd64), independently of the parsers' struct formats, for all three TCP layouts, in
x86 byte order (the only one illumos ships).
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from agent import mib2
from agent.collect import select_backend
from agent.mib2 import Layout
from agent.psinfo import parse_psinfo
from common.errors import ParseError
from common.schema import Family
from common.schema import Proto
from tests.conftest import ROOT
from tests.conftest import require

ORDERS = ["<"]
# (v4 entry size, v6 entry size) -> offsets of ce_state, CreationProcess, CreationTime.
TCP_LAYOUTS = {
    "pre-2019 (68/96)": ((68, (52, 56, 60)), (96, (80, 84, 88))),
    "illumos (172/200)": ((172, (156, 160, 164)), (200, (184, 188, 192))),
    "SmartOS (176/204)": ((176, (160, 164, 168)), (204, (188, 192, 196))),
}
TCPS = {"LISTEN": -3, "ESTABLISHED": 0, "TIME_WAIT": 6, "BOUND": -4, "IDLE": -5}
MIB2_TCP_STATE = {"LISTEN": 2, "ESTABLISHED": 5, "TIME_WAIT": 11, "BOUND": 1, "IDLE": 1}


def put(buf: bytearray, order: str, fmt: str, offset: int, value: object) -> None:
    struct.pack_into(order + fmt, buf, offset, value)


def tcp_header(order: str, tcp: int, tcp6: int) -> bytes:
    buf = bytearray(228)  # mib2_tcp_t
    put(buf, order, "i", 48, tcp)  # tcpConnTableSize
    put(buf, order, "i", 208, tcp6)  # tcp6ConnTableSize
    return bytes(buf)


def udp_header(order: str, udp: int = 36, udp6: int = 64) -> bytes:
    buf = bytearray(40)  # mib2_udp_t
    put(buf, order, "i", 12, udp)
    put(buf, order, "i", 16, udp6)
    return bytes(buf)


def tcp4(layout: tuple[int, tuple[int, int, int]], order: str, state: str,
         local: tuple[str, int], remote: tuple[str, int], pid: int,
         mss: int = 1220) -> bytes:  # fmt: skip
    size, (ce_at, pid_at, time_at) = layout
    buf = bytearray(b"\xab" * size)  # the stats in between must not matter
    put(buf, order, "I", ce_at - 4, mss)  # ce_mss, just before ce_state
    put(buf, order, "i", 0, MIB2_TCP_STATE[state])
    buf[4:8] = socket.inet_pton(socket.AF_INET, local[0])
    put(buf, order, "i", 8, local[1])
    buf[12:16] = socket.inet_pton(socket.AF_INET, remote[0])
    put(buf, order, "i", 16, remote[1])
    put(buf, order, "i", ce_at, TCPS[state])
    put(buf, order, "I", pid_at, pid)
    put(buf, order, "Q", time_at, 123456)
    return bytes(buf)


def tcp6(layout: tuple[int, tuple[int, int, int]], order: str, state: str,
         local: tuple[str, int], remote: tuple[str, int], pid: int,
         mss: int = 1220) -> bytes:  # fmt: skip
    size, (ce_at, pid_at, time_at) = layout
    buf = bytearray(b"\xab" * size)
    put(buf, order, "I", ce_at - 4, mss)
    buf[0:16] = socket.inet_pton(socket.AF_INET6, local[0])
    put(buf, order, "i", 16, local[1])
    buf[20:36] = socket.inet_pton(socket.AF_INET6, remote[0])
    put(buf, order, "i", 36, remote[1])
    put(buf, order, "I", 40, 2)  # tcp6ConnIfIndex
    put(buf, order, "i", 44, MIB2_TCP_STATE[state])
    put(buf, order, "i", ce_at, TCPS[state])
    put(buf, order, "I", pid_at, pid)
    put(buf, order, "Q", time_at, 123456)
    return bytes(buf)


def udp4(order: str, state: int, local: tuple[str, int], remote: tuple[str, int],
         pid: int, instance: int = 0xDEADBEEF) -> bytes:  # fmt: skip
    buf = bytearray(36)  # mib2_udpEntry_t
    buf[0:4] = socket.inet_pton(socket.AF_INET, local[0])
    put(buf, order, "i", 4, local[1])
    put(buf, order, "i", 8, state)  # ue_state
    buf[12:16] = socket.inet_pton(socket.AF_INET, remote[0])
    put(buf, order, "i", 16, remote[1])
    put(buf, order, "I", 20, instance)  # udpInstance: the kernel's udp_t address
    put(buf, order, "I", 24, pid)
    put(buf, order, "Q", 28, 99)
    return bytes(buf)


def udp6(order: str, state: int, local: tuple[str, int], remote: tuple[str, int],
         pid: int, instance: int = 0xDEADBEEF) -> bytes:  # fmt: skip
    buf = bytearray(64)  # mib2_udp6Entry_t
    buf[0:16] = socket.inet_pton(socket.AF_INET6, local[0])
    put(buf, order, "i", 16, local[1])
    put(buf, order, "I", 20, 0)  # udp6IfIndex
    put(buf, order, "i", 24, state)
    buf[28:44] = socket.inet_pton(socket.AF_INET6, remote[0])
    put(buf, order, "i", 44, remote[1])
    put(buf, order, "I", 48, instance)
    put(buf, order, "I", 52, pid)
    put(buf, order, "Q", 56, 99)
    return bytes(buf)


def sock_info(order: str, index: int, flags: int, inode: int = 77) -> bytes:
    return struct.pack(order + "4Q", index, inode, flags, 0)  # mib2_socketInfoEntry_t


def rows(sockets: list) -> list[tuple]:  # type: ignore[type-arg]
    return [
        (s.proto.value, s.family.value, s.state, s.local_address, s.local_port,
         s.remote_address, s.remote_port, [o.pid for o in s.owners])
        for s in sockets
    ]  # fmt: skip


NO_PEER = (None, None)  # a listener's or an unconnected socket's: as on Linux


def parse(order: str, items: mib2.Items) -> list:  # type: ignore[type-arg]
    layout = Layout()
    sizes = mib2.parse_entry_sizes(layout, items)
    return mib2.parse_tcp(layout, items, sizes) + mib2.parse_udp(layout, items, sizes)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("build", sorted(TCP_LAYOUTS))
def test_tcp_tables_of_every_layout(build: str, order: str) -> None:
    v4, v6 = TCP_LAYOUTS[build]
    items = {
        (mib2.MIB2_TCP, 0): tcp_header(order, v4[0], v6[0]),
        (mib2.MIB2_UDP, 0): udp_header(order),
        (mib2.MIB2_TCP, mib2.MIB2_TCP_CONN): b"".join([
            tcp4(v4, order, "LISTEN", ("0.0.0.0", 22), ("0.0.0.0", 0), 501),
            tcp4(v4, order, "ESTABLISHED", ("10.0.0.5", 22), ("10.0.0.9", 50123), 501),
            tcp4(v4, order, "TIME_WAIT", ("10.0.0.5", 80), ("10.0.0.7", 61000), 0),
        ]),
        (mib2.MIB2_TCP6, mib2.MIB2_TCP6_CONN): b"".join([
            tcp6(v6, order, "BOUND", ("fe80::1", 8080), ("::", 0), 65536),
            tcp6(v6, order, "ESTABLISHED", ("2001:db8::1", 443), ("2001:db8::2", 65535), 7),
        ]),
    }  # fmt: skip
    assert rows(parse(order, items)) == [
        ("tcp", "inet", "LISTEN", "0.0.0.0", 22, *NO_PEER, [501]),
        ("tcp", "inet", "ESTABLISHED", "10.0.0.5", 22, "10.0.0.9", 50123, [501]),
        ("tcp", "inet", "TIME_WAIT", "10.0.0.5", 80, "10.0.0.7", 61000, []),
        ("tcp", "inet6", "BOUND", "fe80::1", 8080, *NO_PEER, [65536]),
        ("tcp", "inet6", "ESTABLISHED", "2001:db8::1", 443, "2001:db8::2", 65535, [7]),
    ]


@pytest.mark.parametrize("order", ORDERS)
def test_udp_tables(order: str) -> None:
    v4, v6 = TCP_LAYOUTS["illumos (172/200)"]
    items = {
        (mib2.MIB2_TCP, 0): tcp_header(order, v4[0], v6[0]),
        (mib2.MIB2_UDP, 0): udp_header(order),
        (mib2.MIB2_UDP, mib2.MIB2_UDP_ENTRY): b"".join([
            udp4(order, 2, ("0.0.0.0", 53), ("0.0.0.0", 0), 300),  # idle
            udp4(order, 3, ("10.0.0.5", 5353), ("10.0.0.1", 53), 301),  # connected
        ]),
        (mib2.MIB2_UDP6, mib2.MIB2_UDP6_ENTRY): udp6(order, 1, ("::1", 0), ("::", 0), 0),
    }  # fmt: skip
    assert rows(parse(order, items)) == [
        ("udp", "inet", "UNCONN", "0.0.0.0", 53, *NO_PEER, [300]),
        ("udp", "inet", "ESTABLISHED", "10.0.0.5", 5353, "10.0.0.1", 53, [301]),
        ("udp", "inet6", "UNCONN", "::1", 0, *NO_PEER, []),
    ]
    assert {s.proto for s in parse(order, items)} == {Proto.UDP}


SMARTOS = TCP_LAYOUTS["SmartOS (176/204)"]
ANY4, ANY6 = ("0.0.0.0", 0), ("::", 0)


def dual_stack_items(sock_info_rows: dict[int, bytes]) -> mib2.Items:
    v4, v6 = SMARTOS
    items = {
        (mib2.MIB2_TCP, 0): tcp_header("<", v4[0], v6[0]),
        (mib2.MIB2_UDP, 0): udp_header("<"),
        # The kernel copies a v6 listener on :: without IPV6_V6ONLY into the v4
        # table as 0.0.0.0 (tcp_snmp_get()); a real v4 listener of another
        # process on the same port must stay.
        (mib2.MIB2_TCP, mib2.MIB2_TCP_CONN): b"".join([
            tcp4(v4, "<", "LISTEN", ("0.0.0.0", 22), ANY4, 600),
            tcp4(v4, "<", "LISTEN", ("0.0.0.0", 22), ANY4, 601),
        ]),
        (mib2.MIB2_TCP6, mib2.MIB2_TCP6_CONN):
            tcp6(v6, "<", "LISTEN", ("::", 22), ANY6, 600),
        (mib2.MIB2_UDP, mib2.MIB2_UDP_ENTRY): udp4("<", 2, ("0.0.0.0", 53), ANY4, 9),
        (mib2.MIB2_UDP6, mib2.MIB2_UDP6_ENTRY): udp6("<", 2, ("::", 53), ANY6, 9),
    }  # fmt: skip
    for level, rows in sock_info_rows.items():
        items[(level, mib2.EXPER_SOCK_INFO)] = rows
    return items


ONCE = [
    ("tcp", "inet", "LISTEN", "0.0.0.0", 22, *NO_PEER, [601]),
    ("tcp", "inet6", "LISTEN", "::", 22, *NO_PEER, [600]),
    ("udp", "inet6", "UNCONN", "::", 53, *NO_PEER, [9]),
]


@pytest.mark.parametrize(
    "sock_info_rows",
    [
        # The kernel marks the copies (illumos since 2019).
        {mib2.MIB2_TCP: sock_info("<", 0, mib2.MIB2_SOCKINFO_IPV6)
                        + sock_info("<", 1, 0),
         mib2.MIB2_UDP: sock_info("<", 0, mib2.MIB2_SOCKINFO_IPV6)},
        # No EXPER_SOCK_INFO (before 2019): the copies match their v6 entry.
        {},
        # A table, but no row for the copy (a socket without a vnode).
        {mib2.MIB2_TCP: sock_info("<", 1, 0)},
    ],
    ids=["sock-info", "pre-2019", "no-row"],
)  # fmt: skip
def test_an_ipv6_sockets_v4_copy_is_dropped(sock_info_rows: dict[int, bytes]) -> None:
    assert rows(parse("<", dual_stack_items(sock_info_rows))) == ONCE


def test_a_v4_listener_beside_a_v6only_one_of_the_same_pid_stays() -> None:
    # sshd: a V6ONLY listener on :: and its own AF_INET one on 0.0.0.0, created in
    # the same clock tick; only the AF_INET socket's MSS (tcp_mss_def_ipv4, 536)
    # tells it from a copy, and no sockinfo row says anything (pre-2019).
    v4, _ = SMARTOS
    items = dual_stack_items({})
    items[(mib2.MIB2_TCP, mib2.MIB2_TCP_CONN)] = tcp4(
        v4, "<", "LISTEN", ("0.0.0.0", 22), ANY4, 600, mss=536
    )
    items[(mib2.MIB2_UDP, mib2.MIB2_UDP_ENTRY)] = udp4(
        "<", 2, ("0.0.0.0", 53), ANY4, 9, instance=0xFEEDF00D
    )
    assert rows(parse("<", items)) == [
        ("tcp", "inet", "LISTEN", "0.0.0.0", 22, *NO_PEER, [600]),
        ("tcp", "inet6", "LISTEN", "::", 22, *NO_PEER, [600]),
        ("udp", "inet", "UNCONN", "0.0.0.0", 53, *NO_PEER, [9]),
        ("udp", "inet6", "UNCONN", "::", 53, *NO_PEER, [9]),
    ]


def test_sock_info_gives_each_socket_its_inode() -> None:
    items = dual_stack_items({
        mib2.MIB2_TCP: sock_info("<", 1, 0, inode=4242),
        mib2.MIB2_TCP6: sock_info("<", 0, 0, inode=4343),
    })  # fmt: skip
    tcp = [s for s in parse("<", items) if s.proto is Proto.TCP]
    assert [(s.family, s.inode) for s in tcp] == [(Family.INET, 4242), (Family.INET6, 4343)]


def base_items(order: str = "<") -> mib2.Items:
    v4, v6 = TCP_LAYOUTS["illumos (172/200)"]
    return {
        (mib2.MIB2_TCP, 0): tcp_header(order, v4[0], v6[0]),
        (mib2.MIB2_UDP, 0): udp_header(order),
        (mib2.MIB2_TCP, mib2.MIB2_TCP_CONN):
            tcp4(v4, order, "LISTEN", ("0.0.0.0", 22), ("0.0.0.0", 0), 5),
    }  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda i: i.pop((mib2.MIB2_TCP, 0)), "no mib2_tcp_t"),
        (lambda i: i.__setitem__((mib2.MIB2_UDP, 0), b"\0" * 10), "too short"),
        (lambda i: i.__setitem__((mib2.MIB2_TCP, 0), tcp_header("<", 56, 200)),
         "tcp entry size 56"),  # a legacy (truncated) reply
        (lambda i: i.__setitem__((mib2.MIB2_TCP, 0), tcp_header("<", 0, 200)), "size 0"),
        (lambda i: i.__setitem__((mib2.MIB2_TCP, 0), tcp_header("<", 1 << 30, 200)),
         "outside"),
        (lambda i: i.__setitem__((mib2.MIB2_TCP, mib2.MIB2_TCP_CONN),
                                 i[(mib2.MIB2_TCP, mib2.MIB2_TCP_CONN)][:-1]),
         "not whole 172-byte entries"),
        (lambda i: i.__setitem__((mib2.MIB2_TCP, mib2.EXPER_SOCK_INFO), b"\0" * 33),
         "socket info table"),
    ],
    ids=["no-header", "short-header", "legacy", "zero", "huge", "truncated", "sockinfo"],
)  # fmt: skip
def test_malformed_tables_are_a_clear_error(change: object, message: str) -> None:
    items = base_items()
    change(items)  # type: ignore[operator]
    with pytest.raises(ParseError, match=message):
        parse("<", items)


def test_wrong_byte_order_is_refused_not_misread() -> None:
    with pytest.raises(ParseError, match="entry size"):
        parse("<", base_items(">"))


def test_port_out_of_range() -> None:
    items = base_items()
    v4, _ = TCP_LAYOUTS["illumos (172/200)"]
    items[(mib2.MIB2_TCP, mib2.MIB2_TCP_CONN)] = tcp4(
        v4, "<", "LISTEN", ("0.0.0.0", 70000), ("0.0.0.0", 0), 5
    )
    with pytest.raises(ParseError, match="port 70000"):
        parse("<", items)


def test_random_bytes_never_crash_or_hang() -> None:
    rng = random.Random(5)  # noqa: S311 - reproducible garbage, not secrets
    for _ in range(300):
        items = base_items()
        key = rng.choice(list(items))
        items[key] = bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 7, 172, 400])))
        with contextlib.suppress(ParseError):  # anything else fails the test
            parse("<", items)


@pytest.mark.parametrize("order", ORDERS)
def test_request_bytes_match_the_documented_layout(order: str) -> None:
    request = mib2.build_request(Layout(), mib2.MIB2_TCP)
    # struct T_optmgmt_req {PRIM_type, OPT_length, OPT_offset, MGMT_flags} then
    # struct opthdr {level, name, len}: 7 x 4 bytes (sys/tihdr.h, sys/tpicommon.h).
    fields = [9, 12, 16, 0x80, 262, 0, 1]  # T_SVR4_OPTMGMT_REQ ... MIB2_TCP, len = 1
    expected = b"".join(v.to_bytes(4, "little" if order == "<" else "big") for v in fields)
    assert request == expected
    assert len(request) == 28


def ack(order: str, level: int, name: int, length: int, prim: int = 22,
        flags: int = 0x20) -> bytes:  # fmt: skip
    return struct.pack(order + "iiiiIII", prim, 12, 16, flags, level, name, length)


@pytest.mark.parametrize("order", ORDERS)
def test_reply_control_parts(order: str) -> None:
    layout = Layout()
    assert mib2.parse_reply_control(layout, ack(order, 262, 13, 344), 2) == (262, 13, 344)
    # An empty table still has a (zero-length) data part: MOREDATA, not the end.
    assert mib2.parse_reply_control(layout, ack(order, 271, 6, 0), 2) == (271, 6, 0)
    assert mib2.parse_reply_control(layout, ack(order, 0, 0, 0), 0) is None  # EOD
    with pytest.raises(ParseError, match="without its data part"):
        mib2.parse_reply_control(layout, ack(order, 262, 13, 344), 0)
    with pytest.raises(ParseError, match="T_OPTMGMT_ACK"):
        mib2.parse_reply_control(layout, ack(order, 262, 13, 0, flags=0x40), 2)
    with pytest.raises(ParseError, match="control part of 10 bytes"):
        mib2.parse_reply_control(layout, b"\0" * 10, 2)
    error_ack = struct.pack(order + "iiii", 18, 9, 8, errno.EACCES)  # TSYSERR
    with pytest.raises(OSError, match="refused") as caught:
        mib2.parse_reply_control(layout, error_ack, 0)
    assert caught.value.errno == errno.EACCES


def psinfo(size: int, order: str, pid: int, uid: int, fname: bytes, psargs: bytes,
           zoneid: int) -> bytes:  # fmt: skip
    # Offsets of reference/illumos.md §5.2 (psinfo_t, 416) and psinfo32_t (336).
    at = {416: (8, 24, 136, 152, 276), 336: (8, 24, 88, 104, 220)}[size]
    buf = bytearray(b"\x5a" * size)
    put(buf, order, "i", at[0], pid)
    put(buf, order, "I", at[1], uid)
    buf[at[2] : at[2] + 16] = fname.ljust(16, b"\0")[:16]
    buf[at[3] : at[3] + 80] = psargs.ljust(80, b"\0")[:80]
    put(buf, order, "i", at[4], zoneid)
    return bytes(buf)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize(("pointer", "size"), [(8, 416), (4, 336)])
def test_psinfo_both_data_models(pointer: int, size: int, order: str) -> None:
    args = b"/usr/lib/ssh/sshd -D -o ListenAddress=0.0.0.0 " + b"x" * 40  # > 79 bytes
    data = psinfo(size, order, 4242, 60001, b"sshd", args, 3)
    info = parse_psinfo(data, pointer, order)
    assert (info.pid, info.uid, info.fname, info.zoneid) == (4242, 60001, "sshd", 3)
    assert info.args == args[:80].decode()  # no NUL in the field: all 80 bytes
    full_name = parse_psinfo(psinfo(size, order, 1, 0, b"a" * 16, b"", 0), pointer, order)
    assert full_name.fname == "a" * 16
    with pytest.raises(ParseError, match="expected"):
        parse_psinfo(data[: size - 1], pointer, order)


def test_psinfo_escapes_nothing_but_decodes_safely() -> None:
    data = psinfo(416, "<", 7, 0, b"ev\xffil", b"a\x1b[2Jb", 0)
    info = parse_psinfo(data, 8)
    assert info.fname == "ev\\xffil"  # undecodable bytes kept visible, not raised
    assert info.args == "a\x1b[2Jb"  # the renderer escapes control characters


def test_backend_is_chosen_by_platform_and_imports_on_linux() -> None:
    from agent import illumos  # noqa: PLC0415 - the import itself is under test

    assert select_backend("sunos5") is illumos.list_sockets
    assert illumos.native_layout().order == "<"


def sockinfo(order: str, size: int, family: int, kind: int, state: int, path: bytes,
             laddr_len: int, peer_path: bytes = b"") -> bytes:  # fmt: skip
    # struct sockinfo (sys/socketvar.h) at the offsets in agent/sockfs.py's docstring,
    # padded to si_size with what follows in a k_sockinfo (address strings).
    buf = bytearray(b"\x77" * size)
    put(buf, order, "I", 0, size)  # si_size
    put(buf, order, "h", 4, family)
    put(buf, order, "h", 6, kind)
    put(buf, order, "H", 8, 0)  # si_flag
    put(buf, order, "I", 12, state)
    put(buf, order, "I", 16, 0)  # si_ux_laddr_sou_magic
    put(buf, order, "I", 20, 0)
    put(buf, order, "i", 24, 1)  # si_serv_type T_COTS
    put(buf, order, "I", 28, laddr_len)  # si_laddr_soa_len
    put(buf, order, "I", 32, 0)
    put(buf, order, "H", 36, 1)
    put(buf, order, "H", 38, 1)
    buf[40:1065] = path.ljust(1025, b"\0")
    buf[1065:2090] = peer_path.ljust(1025, b"\0")
    return bytes(buf)


@pytest.mark.parametrize("order", ORDERS)
def test_unix_sockets_from_the_sockfs_kstat(order: str) -> None:
    from agent.sockfs import parse_sock_unix_list  # noqa: PLC0415

    records = [
        # Older and newer struct versions differ in size: each is stepped by si_size.
        sockinfo(order, 2100, 1, 2, 0x020 | 0x200, b"/var/run/.sshd", 16),  # listener
        sockinfo(order, 2236, 1, 2, 0x001, b"", 0, b"/var/run/.sshd"),  # client
        sockinfo(order, 2236, 2, 1, 0x020, b"ignored", 9),  # not AF_UNIX: skipped
        sockinfo(order, 2236, 1, 1, 0x020, b"/tmp/log \x1b", 14),  # bound datagram
        sockinfo(order, 2100, 1, 6, 0x002, b"", 0),  # seqpacket, connecting
    ]
    sockets = parse_sock_unix_list(b"".join(records), len(records), order)
    assert [(s.sock_type, s.state, s.path, s.connected) for s in sockets] == [
        ("stream", "LISTEN", "/var/run/.sshd", False),
        ("stream", "ESTABLISHED", None, True),
        ("dgram", "UNCONN", "/tmp/log \x1b", False),
        ("seqpacket", "CONNECTING", None, False),
    ]
    assert {(s.proto, s.family) for s in sockets} == {(Proto.UNIX, Family.UNIX)}
    assert all(s.owners == () for s in sockets)


def test_unix_kstat_malformed() -> None:
    from agent.sockfs import parse_sock_unix_list  # noqa: PLC0415

    good = sockinfo("<", 2100, 1, 2, 0, b"", 0)
    with pytest.raises(ParseError, match="cut off"):
        parse_sock_unix_list(good, 2)  # says two, holds one
    with pytest.raises(ParseError, match="size 12"):
        parse_sock_unix_list(struct.pack("<I", 12) + good[4:], 1)
    with pytest.raises(ParseError, match="cut off"):
        parse_sock_unix_list(good[:2000], 1)
    assert parse_sock_unix_list(b"", 0) == []


def test_ctypes_structs_match_the_lp64_declarations() -> None:
    # Offsets worked out by hand from sys/kstat.h and sys/stropts.h for LP64 (amd64
    # and sparcv9 align alike); ctypes lays the structs out by the same C rules.
    import ctypes  # noqa: PLC0415

    from agent.illumos import _Kstat  # noqa: PLC0415
    from agent.illumos import _Strbuf  # noqa: PLC0415

    require(ctypes.sizeof(ctypes.c_void_p) == 8, "the offsets below are LP64's")
    assert (_Strbuf.maxlen.offset, _Strbuf.len.offset, _Strbuf.buf.offset) == (0, 4, 8)
    assert ctypes.sizeof(_Strbuf) == 16
    offsets = {name: getattr(_Kstat, name).offset for name, _ in _Kstat._fields_}
    assert offsets == {
        "ks_crtime": 0, "ks_next": 8, "ks_kid": 16, "ks_module": 20, "ks_resv": 51,
        "ks_instance": 52, "ks_name": 56, "ks_type": 87, "ks_class": 88,
        "ks_flags": 119, "ks_data": 120, "ks_ndata": 128, "ks_data_size": 136,
        "ks_snaptime": 144,
    }  # fmt: skip


def fdinfo(fd: int, mode: int, inode: int) -> bytes:
    # prfdinfo_t (sys/procfs.h): pr_fd, pr_mode, pr_ino, ... then pr_misc records;
    # offsets asserted against a C compiler in tests/test_layouts.py.
    buf = bytearray(b"\x33" * 256)
    struct.pack_into("<iIQ", buf, 0, fd, mode, inode)
    return bytes(buf)


S_IFSOCK, S_IFREG = 0o140000, 0o100000


def fake_proc(root: Path, processes: dict[int, dict[int, tuple[int, int]]]) -> str:
    """A /proc with psinfo and fdinfo files: {pid: {fd: (mode, inode)}}."""
    (root / "self" / "fdinfo").mkdir(parents=True)
    for pid, fds in processes.items():
        (root / str(pid) / "fdinfo").mkdir(parents=True)
        (root / str(pid) / "psinfo").write_bytes(
            psinfo(416, "<", pid, 0, f"cmd{pid}".encode(), f"cmd{pid} -x".encode(), 0)
        )
        for fd, (mode, inode) in fds.items():
            (root / str(pid) / "fdinfo" / str(fd)).write_bytes(fdinfo(fd, mode, inode))
    return str(root)


def holder_items() -> mib2.Items:
    return dual_stack_items({
        mib2.MIB2_TCP: sock_info("<", 0, mib2.MIB2_SOCKINFO_IPV6, inode=4343)
                       + sock_info("<", 1, 0, inode=4242),
        mib2.MIB2_TCP6: sock_info("<", 0, 0, inode=4343),
    })  # fmt: skip


def owner_rows(sockets: list) -> list[tuple]:  # type: ignore[type-arg]
    return [(s.local_port, s.family.value, [(o.pid, o.fd, o.command) for o in s.owners])
            for s in sockets]  # fmt: skip


def test_every_holder_replaces_the_creator(tmp_path: Path) -> None:
    from agent.illumos import attribute_owners  # noqa: PLC0415

    proc = fake_proc(tmp_path, {
        100: {3: (S_IFSOCK, 4242), 4: (S_IFREG, 4343)},  # a file with a socket's inode
        200: {7: (S_IFSOCK, 4242), 8: (S_IFSOCK, 4343)},  # shared, and the v6 listener
        601: {},  # the creator the MIB names, which no longer holds the socket
    })  # fmt: skip
    sockets = parse("<", holder_items())
    assert attribute_owners(sockets, proc) == "holders"
    assert owner_rows(sockets) == [
        (22, "inet", [(100, 3, "cmd100"), (200, 7, "cmd200")]),
        (22, "inet6", [(200, 8, "cmd200")]),
        (53, "inet6", []),  # no inode (no sockinfo row): its creator, 9, has exited
    ]


def test_unix_sockets_held_by_their_inode(tmp_path: Path) -> None:
    # illumos-gate's record ends with si_inode (2152); OmniOS's holds a pid count
    # and a pid there, which read as a number no descriptor has: no owner claimed.
    from agent.illumos import attribute_owners  # noqa: PLC0415
    from agent.sockfs import INODE_AT  # noqa: PLC0415
    from agent.sockfs import parse_sock_unix_list  # noqa: PLC0415

    gate = bytearray(sockinfo("<", INODE_AT + 8, 1, 2, 0x020 | 0x200, b"/run/a", 8))
    struct.pack_into("<Q", gate, INODE_AT, 5151)
    omnios = bytearray(sockinfo("<", INODE_AT + 8, 1, 2, 0x020 | 0x200, b"/run/b", 8))
    struct.pack_into("<Ii", omnios, INODE_AT, 1, 777)  # si_pn_cnt, si_pids[0]
    sockets = parse_sock_unix_list(bytes(gate + omnios), 2)
    proc = fake_proc(tmp_path, {300: {5: (S_IFSOCK, 5151)}, 777: {4: (S_IFSOCK, 9)}})
    assert attribute_owners(sockets, proc) == "holders"
    assert [(s.path, [(o.pid, o.fd) for o in s.owners]) for s in sockets] == [
        ("/run/a", [(300, 5)]),
        ("/run/b", []),
    ]


def test_a_tli_endpoint_keeps_its_creator(tmp_path: Path) -> None:
    # MIB2_SOCKINFO_STREAM: a TLI/XTI endpoint, held as /dev/tcp, not a socket.
    from agent.illumos import attribute_owners  # noqa: PLC0415

    proc = fake_proc(tmp_path, {601: {}})
    items = dual_stack_items({
        mib2.MIB2_TCP: sock_info("<", 1, mib2.MIB2_SOCKINFO_STREAM, inode=4242),
    })  # fmt: skip
    sockets = parse("<", items)
    assert sockets[0].inode is None
    attribute_owners(sockets, proc)
    assert owner_rows(sockets)[0] == (22, "inet", [(601, None, "cmd601")])


def test_without_fdinfo_the_creator_stays(tmp_path: Path) -> None:
    from agent.illumos import attribute_owners  # noqa: PLC0415

    (tmp_path / "601").mkdir()  # a kernel before fdinfo: no /proc/<pid>/fdinfo at all
    (tmp_path / "601" / "psinfo").write_bytes(psinfo(416, "<", 601, 0, b"sshd", b"", 0))
    sockets = parse("<", holder_items())
    assert attribute_owners(sockets, str(tmp_path)) == "creator"
    assert owner_rows(sockets)[0] == (22, "inet", [(601, None, "sshd")])


def test_without_root_the_creator_stays() -> None:
    # One process's fdinfo (mode 0500, root's) cannot be read by this user: the
    # holders are not all known, so none are claimed.
    require(os.geteuid() == 0, "this test needs root to switch to another user")
    setpriv = shutil.which("setpriv")
    require(setpriv is not None, "setpriv is not installed")
    with tempfile.TemporaryDirectory() as directory:  # pytest's tmp_path is 0700
        os.chmod(directory, 0o755)  # noqa: S103 - for the user the test becomes
        root = Path(directory) / "proc"
        proc = fake_proc(root, {100: {3: (S_IFSOCK, 4242)}, 601: {}})
        for path in [root, *root.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        (root / "100" / "fdinfo").chmod(0o500)
        assert_creator_for_nobody(str(setpriv), proc)


def assert_creator_for_nobody(setpriv: str, proc: str) -> None:
    script = (
        "import sys; from agent.illumos import find_holders; "
        f"print(find_holders({{4242}}, {proc!r}))"
    )
    done = subprocess.run(
        [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
         sys.executable, "-c", script],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout.strip() == "None"
    assert find_holders_as_root(proc) == {4242: [(100, 3)]}


def find_holders_as_root(proc: str) -> object:
    from agent.illumos import find_holders  # noqa: PLC0415

    return find_holders({4242}, proc)
