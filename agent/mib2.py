"""Pure parsers of the illumos MIB2 socket tables that /dev/arp answers with.

No syscalls here (agent/illumos.py makes them): the request bytes, the reply's control
part, and the tables, from the layouts in illumos-gate usr/src/uts/common/inet/mib2.h
(with illumos-joyent's deltas), sys/tihdr.h and sys/tpicommon.h.  Everything is taken
from the reply itself: entry sizes come from the ``mib2_tcp_t``/``mib2_udp_t`` header
records, never compiled in, because TCP entries are 68, 172 or 176 bytes depending on
the build.  Integers are little-endian: illumos ships for x86 only (amd64, i386),
and the layouts below are x86's (on SPARC, where ``_LONG_LONG_ALIGNMENT_32 == 8``,
the TCP tail would not sit at size - 16); addresses are raw network-order bytes.

One rule decides which table entries are one socket (README "illumos"): the kernel
copies an IPv6 socket bound to ``::`` (without IPV6_V6ONLY, for TCP; any, for UDP)
into the IPv4 table as ``0.0.0.0`` (tcp_snmp_get(), udp_snmp_get()).  Such a copy is
dropped, as Linux lists the socket once (tcp6 on ``::``), only on evidence that it
*is* the IPv6 socket: its EXPER_SOCK_INFO row says MIB2_SOCKINFO_IPV6, or, where the
kernel gave no row (kernels before 2019, sockets without a vnode), the IPv6 table
holds a wildcard entry filled from the same kernel connection (TCP: the same
tcpConnEntryInfo block, creator and creation time, which an AF_INET socket's MSS
alone tells apart; UDP: the same udpInstance, the kernel's udp_t address).  A real
IPv4 listener beside an IPV6_V6ONLY one (sshd's) is never dropped.
Stdlib only, Python 3.9+.
"""

from __future__ import annotations

import socket
import struct

from common.errors import ParseError
from common.schema import Family
from common.schema import Owner
from common.schema import Proto
from common.schema import Socket

# Groups (opthdr.level) and tables (opthdr.name), mib2.h.
MIB2_TCP = 262  # IPPROTO_MAX + 6
MIB2_UDP = 263  # IPPROTO_MAX + 7
MIB2_TCP6 = 270  # IPPROTO_MAX + 14
MIB2_UDP6 = 271  # IPPROTO_MAX + 15
# Asked for one group at a time: ip_snmp_get() answers MIB2_TCP with the TCP tables
# only and MIB2_UDP with UDP's, where netstat's EXPER_IP_AND_ALL_IRES also gets
# every IP, interface and route table (large on routers).
EXPER_IP_AND_ALL_IRES = 1028  # EXPER + 4: what netstat asks for
MIB2_UDP_ENTRY = 5
MIB2_UDP6_ENTRY = 6
MIB2_TCP_CONN = 13
MIB2_TCP6_CONN = 14
EXPER_SOCK_INFO = 106  # mib2_socketInfoEntry_t[], since illumos 9531 (2019-10)
MIB2_SOCKINFO_STREAM = 0x1  # a TLI/XTI endpoint: held as a character device, not a socket
MIB2_SOCKINFO_IPV6 = 0x2  # "IPV6 entry in an IPv4 table": a dual-stack duplicate
# TPI primitives and flags (sys/tihdr.h, sys/tpicommon.h).  The request must be
# T_SVR4_OPTMGMT_REQ (9): ip_wput_nondata() silently drops any other primitive,
# T_OPTMGMT_REQ (27) included, and getmsg() would wait for ever.
T_SVR4_OPTMGMT_REQ = 9
T_ERROR_ACK = 18
T_OPTMGMT_ACK = 22
T_SUCCESS = 0x020
T_CURRENT = 0x080
TSYSERR = 8
MOREDATA = 2  # getmsg(): more of this message remains (sys/stropts.h)

# Internal TCP states (usr/src/uts/common/inet/tcp.h TCPS_*), in ce_state: unlike
# tcpConnState they tell IDLE and BOUND from CLOSED.  Names as our schema's.
TCP_STATES = {
    -6: "CLOSE",
    -5: "IDLE",
    -4: "BOUND",
    -3: "LISTEN",
    -2: "SYN_SENT",
    -1: "SYN_RECV",
    0: "ESTABLISHED",
    1: "CLOSE_WAIT",
    2: "FIN_WAIT1",
    3: "CLOSING",
    4: "LAST_ACK",
    5: "FIN_WAIT2",
    6: "TIME_WAIT",
}
TCPS_LISTEN = -3
MIB2_UDP_IDLE = 2  # states up to idle are copied into the v4 table
# ue_state (mib2.h MIB2_UDP_unbound, _idle, _connected, _unknown).
UDP_STATES = {1: "UNCONN", 2: "UNCONN", 3: "ESTABLISHED", 4: "UNKNOWN"}

# The smallest entry of each table that still holds the creating pid: the pre-2019
# layouts (68/96 bytes); UDP entries (36/64) have not changed since 2006.
MIN_ENTRY = {"tcp": 68, "tcp6": 96, "udp": 36, "udp6": 64}
MAX_ENTRY = 4096  # far above any layout: a larger size is a corrupt header
MAX_PORT = 0xFFFF
INADDR_ANY = bytes(4)
IN6ADDR_ANY = bytes(16)


ORDER = "<"  # x86: the kernel's integers
# Where tcpConnEntryInfo_t starts in the v4 and v6 entries: from there to the end
# (the info block, CreationProcess, CreationTime) both copies of a connection match.
TCP4_INFO_AT = 20
TCP6_INFO_AT = 48


class Layout:
    """The structs of mib2.h, sys/tihdr.h and sys/tiuser.h as x86 lays them out."""

    def __init__(self) -> None:
        order = self.order = ORDER
        # struct T_optmgmt_req/ack (4 x t_scalar_t) + struct opthdr (3 x t_uscalar_t).
        self.ctl = struct.Struct(order + "iiiiIII")
        self.error_ack = struct.Struct(order + "iiii")  # struct T_error_ack
        # mib2_tcp_t: tcpConnTableSize at 48, tcp6ConnTableSize at 208 (212 = legacy).
        self.tcp_header = struct.Struct(order + "48xi156xi")
        # mib2_udp_t: udpEntrySize at 12, udp6EntrySize at 16.
        self.udp_header = struct.Struct(order + "12xii")
        # tcpConnState, LocalAddress, LocalPort, RemAddress, RemPort.
        self.tcp4_head = struct.Struct(order + "i4si4si")
        # tcp6Conn LocalAddress, LocalPort, RemAddress, RemPort, IfIndex, State.
        self.tcp6_head = struct.Struct(order + "16si16siIi")
        # The last 16 bytes of every TCP layout: ce_state, CreationProcess, -Time.
        self.tcp_tail = struct.Struct(order + "iIQ")
        # udpLocalAddress, LocalPort, ue_state, ue_RemoteAddress, ue_RemotePort,
        # udpInstance, udpCreationProcess, udpCreationTime.
        self.udp4 = struct.Struct(order + "4sii4siIIQ")
        # udp6LocalAddress, LocalPort, IfIndex, ue_state, RemoteAddress, RemotePort,
        # udp6Instance, udp6CreationProcess, udp6CreationTime.
        self.udp6 = struct.Struct(order + "16siIi16siIIQ")
        # mib2_socketInfoEntry_t: sie_connidx, sie_inode, sie_flags, sie_dev.
        self.sock_info = struct.Struct(order + "4Q")


def build_request(layout: Layout, level: int) -> bytes:
    """Return the control part of a MIB request, as netstat's mibget() builds it.

    ``opthdr.len`` is 1, not 0: snmpcom_req() treats a zero-length request from a
    solaris10-branded zone as a legacy one and truncates every entry before the pid.
    """
    opt_offset = 16  # sizeof (struct T_optmgmt_req)
    opt_length = 12  # sizeof (struct opthdr)
    return layout.ctl.pack(
        T_SVR4_OPTMGMT_REQ, opt_length, opt_offset, T_CURRENT, level, 0, 1
    )


def parse_reply_control(
    layout: Layout, control: bytes, getmsg_rc: int
) -> tuple[int, int, int] | None:
    """Classify one reply's control part: (level, name, data length), or None at the end.

    Raises OSError for a T_ERROR_ACK (errno from the kernel when TLI_error is
    TSYSERR) and ParseError for anything that is not an acknowledgement.
    """
    if len(control) >= layout.error_ack.size:
        prim, _, tli_error, unix_error = layout.error_ack.unpack_from(control)
        if prim == T_ERROR_ACK:
            code = unix_error if tli_error == TSYSERR and unix_error > 0 else 71  # EPROTO
            raise OSError(code, f"/dev/arp refused the MIB request (TLI error {tli_error})")
    if len(control) < layout.ctl.size:
        msg = f"MIB reply control part of {len(control)} bytes, expected {layout.ctl.size}"
        raise ParseError(msg)
    prim, _, _, flags, level, name, length = layout.ctl.unpack_from(control)
    if prim != T_OPTMGMT_ACK or flags != T_SUCCESS:
        msg = f"MIB reply is not a T_OPTMGMT_ACK/T_SUCCESS ({prim}, flags {flags:#x})"
        raise ParseError(msg)
    if getmsg_rc == 0 and length == 0:
        return None  # the end-of-data message: no data part follows
    if getmsg_rc != MOREDATA:
        msg = (
            f"MIB reply for ({level}, {name}) without its data part (getmsg -> {getmsg_rc})"
        )
        raise ParseError(msg)
    return level, name, length


class EntrySizes:
    """Entry strides of the four tables, as the kernel reported them (0: not asked)."""

    __slots__ = ("tcp", "tcp6", "udp", "udp6")

    def __init__(self, tcp: int, tcp6: int, udp: int, udp6: int) -> None:
        self.tcp = tcp
        self.tcp6 = tcp6
        self.udp = udp
        self.udp6 = udp6

    def __str__(self) -> str:
        return f"tcp {self.tcp}, tcp6 {self.tcp6}, udp {self.udp}, udp6 {self.udp6}"


Items = dict[tuple[int, int], bytes]  # (level, name) -> data of one reply


def parse_entry_sizes(
    layout: Layout, items: Items, groups: tuple[int, ...] = (MIB2_TCP, MIB2_UDP)
) -> EntrySizes:
    """Read the entry sizes from the header records of the groups asked for."""
    sizes = EntrySizes(0, 0, 0, 0)
    checked: dict[str, int] = {}
    for group, header, names in (
        (MIB2_TCP, layout.tcp_header, ("tcp", "tcp6")),
        (MIB2_UDP, layout.udp_header, ("udp", "udp6")),
    ):
        if group not in groups:
            continue
        record = items.get((group, 0))
        if record is None:
            msg = f"MIB reply has no {'mib2_tcp_t' if group == MIB2_TCP else 'mib2_udp_t'}"
            raise ParseError(msg + " header record")
        if len(record) < header.size:
            msg = f"MIB header record ({group}, 0) too short ({len(record)} bytes)"
            raise ParseError(msg)
        for name, value in zip(names, header.unpack_from(record)):
            setattr(sizes, name, value)
            checked[name] = value
    for table, size in checked.items():
        smallest = MIN_ENTRY[table]
        if not smallest <= size <= MAX_ENTRY:
            msg = (
                f"{table} entry size {size} is outside {smallest}..{MAX_ENTRY} "
                "(a legacy or corrupt MIB reply)"
            )
            raise ParseError(msg)
    return sizes


def _entries(data: bytes, size: int, table: str) -> range:
    if len(data) % size:
        msg = f"{table} table of {len(data)} bytes is not whole {size}-byte entries"
        raise ParseError(msg)
    return range(0, len(data), size)


def _port(value: int, table: str) -> int:
    if not 0 <= value <= MAX_PORT:
        msg = f"{table} entry with port {value}"
        raise ParseError(msg)
    return value


def _owner(pid: int) -> tuple[Owner, ...]:
    # CreationProcess 0 is MIB2_UNKNOWN_PROCESS: closed or TIME_WAIT, no owner.
    return (Owner(pid, None, None, None, None, None),) if pid else ()


def _peer(address: str, port: int) -> tuple[str | None, int | None]:
    # No peer (a listener, an unconnected socket): None, as Linux and netstat say.
    return (address, port) if port else (None, None)


SockInfo = dict[int, tuple[int, int]]  # entry index -> (sie_inode, sie_flags)


def parse_sock_info(layout: Layout, items: Items, level: int) -> SockInfo:
    """Read one table's EXPER_SOCK_INFO rows (absent before 2019, or when empty)."""
    data = items.get((level, EXPER_SOCK_INFO), b"")
    rows: SockInfo = {}
    for offset in _entries(data, layout.sock_info.size, "socket info"):
        index, inode, flags, _ = layout.sock_info.unpack_from(data, offset)
        rows[index] = (inode, flags)
    return rows


def _is_copy(info: SockInfo, index: int, twin: bool) -> bool:
    """Whether v4 entry ``index`` is the kernel's copy of a v6 socket (module doc)."""
    row = info.get(index)
    if row is not None:
        return bool(row[1] & MIB2_SOCKINFO_IPV6)
    return twin


def _inode(info: SockInfo, index: int) -> int | None:
    """Return the socket inode to find holders by; None keeps the creator.

    netstat -u matches TLI/XTI endpoints (MIB2_SOCKINFO_STREAM) by the /dev/tcp
    device's major number instead; sockstat does not, so those keep the creator.
    """
    row = info.get(index)
    if row is None or row[1] & MIB2_SOCKINFO_STREAM:
        return None
    return row[0] or None


def parse_tcp(layout: Layout, items: Items, sizes: EntrySizes) -> list[Socket]:
    """Parse the TCP v4 and v6 tables; an IPv6 socket's v4 copy is dropped."""
    sockets: list[Socket] = []
    twins: set[tuple[int, bytes]] = set()  # (port, info block..end) of v6 wildcards
    ntop = socket.inet_ntop
    info6 = parse_sock_info(layout, items, MIB2_TCP6)
    data = items.get((MIB2_TCP6, MIB2_TCP6_CONN), b"")
    size = sizes.tcp6
    for index, offset in enumerate(_entries(data, size, "tcp6")):
        laddr, lport, raddr, rport, _, _ = layout.tcp6_head.unpack_from(data, offset)
        ce_state, pid, _ = layout.tcp_tail.unpack_from(data, offset + size - 16)
        lport = _port(lport, "tcp6")
        if ce_state <= TCPS_LISTEN and laddr == IN6ADDR_ANY:
            twins.add((lport, data[offset + TCP6_INFO_AT : offset + size]))
        remote, rport = _peer(ntop(socket.AF_INET6, raddr), _port(rport, "tcp6"))
        sockets.append(
            Socket(Proto.TCP, Family.INET6, "stream", TCP_STATES.get(ce_state, "UNKNOWN"),
                   ntop(socket.AF_INET6, laddr), lport, remote, rport, None,
                   _inode(info6, index), None, None, _owner(pid))
        )  # fmt: skip
    info = parse_sock_info(layout, items, MIB2_TCP)
    data = items.get((MIB2_TCP, MIB2_TCP_CONN), b"")
    size = sizes.tcp
    v4: list[Socket] = []
    for index, offset in enumerate(_entries(data, size, "tcp")):
        _, laddr, lport, raddr, rport = layout.tcp4_head.unpack_from(data, offset)
        ce_state, pid, _ = layout.tcp_tail.unpack_from(data, offset + size - 16)
        lport = _port(lport, "tcp")
        twin = (
            laddr == INADDR_ANY
            and (lport, data[offset + TCP4_INFO_AT : offset + size]) in twins
        )
        if _is_copy(info, index, twin):
            continue
        remote, rport = _peer(ntop(socket.AF_INET, raddr), _port(rport, "tcp"))
        v4.append(
            Socket(Proto.TCP, Family.INET, "stream", TCP_STATES.get(ce_state, "UNKNOWN"),
                   ntop(socket.AF_INET, laddr), lport, remote, rport, None,
                   _inode(info, index), None, None, _owner(pid))
        )  # fmt: skip
    return v4 + sockets


def parse_udp(layout: Layout, items: Items, sizes: EntrySizes) -> list[Socket]:
    """Parse the UDP v4 and v6 tables; an IPv6 socket's v4 copy is dropped."""
    sockets: list[Socket] = []
    twins: set[tuple[int, int, int, int]] = set()  # port, instance, creator, time
    ntop = socket.inet_ntop
    info6 = parse_sock_info(layout, items, MIB2_UDP6)
    data = items.get((MIB2_UDP6, MIB2_UDP6_ENTRY), b"")
    size = sizes.udp6
    for index, offset in enumerate(_entries(data, size, "udp6")):
        laddr, lport, _, state, raddr, rport, instance, pid, created = (
            layout.udp6.unpack_from(data, offset)
        )
        lport = _port(lport, "udp6")
        if state <= MIB2_UDP_IDLE and laddr == IN6ADDR_ANY:
            twins.add((lport, instance, pid, created))
        remote, rport = _peer(ntop(socket.AF_INET6, raddr), _port(rport, "udp6"))
        sockets.append(
            Socket(Proto.UDP, Family.INET6, "dgram", UDP_STATES.get(state, "UNKNOWN"),
                   ntop(socket.AF_INET6, laddr), lport, remote, rport, None,
                   _inode(info6, index), None, None, _owner(pid))
        )  # fmt: skip
    info = parse_sock_info(layout, items, MIB2_UDP)
    data = items.get((MIB2_UDP, MIB2_UDP_ENTRY), b"")
    size = sizes.udp
    v4: list[Socket] = []
    for index, offset in enumerate(_entries(data, size, "udp")):
        laddr, lport, state, raddr, rport, instance, pid, created = layout.udp4.unpack_from(
            data, offset
        )
        lport = _port(lport, "udp")
        twin = laddr == INADDR_ANY and (lport, instance, pid, created) in twins
        if _is_copy(info, index, twin):
            continue
        remote, rport = _peer(ntop(socket.AF_INET, raddr), _port(rport, "udp"))
        v4.append(
            Socket(Proto.UDP, Family.INET, "dgram", UDP_STATES.get(state, "UNKNOWN"),
                   ntop(socket.AF_INET, laddr), lport, remote, rport, None,
                   _inode(info, index), None, None, _owner(pid))
        )  # fmt: skip
    return v4 + sockets
