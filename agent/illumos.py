"""illumos backend: TCP/UDP from /dev/arp, unix from a kstat, owners from /proc.

What netstat(8) and the original illumos-sockstat do, from Python: open /dev/arp, push
the tcp and udp modules, putmsg() a T_SVR4_OPTMGMT_REQ for the TCP group, then one
for UDP, and getmsg() the replies until each end-of-data message (netstat.c
mibget()).  No privilege is needed (the GET path has no policy check,
reference/illumos.md §6.5) and no process is stopped or traced.  Only the caller's
zone is in the tables: the controller enters each zone.

Owners are every process holding each socket, as ``netstat -u`` finds them: the
socket's inode (EXPER_SOCK_INFO) matched against each /proc/<pid>/fdinfo/<fd>.
That needs every process's fdinfo (mode 0500: root, as the agent runs in zones);
where one cannot be read, the owners are the creator the MIB names instead (an
accepted connection names its listener's creator), and the snapshot says which.

Unix sockets come from the sockfs kstat ``sock_unix_list``, as ``netstat -f unix``
reads them, their holders found by inode in the same walk where the records carry
one (see agent/sockfs.py).

This module is the syscall layer only; the bytes are parsed by agent/mib2.py,
agent/sockfs.py and agent/psinfo.py.  It imports on any OS: libc.so.1 and
libkstat.so.1 are loaded when a function runs.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import pwd
import select
import struct
import sys
import time

from agent.fdinfo import socket_inode
from agent.files import read_file
from agent.mib2 import EXPER_IP_AND_ALL_IRES
from agent.mib2 import EXPER_SOCK_INFO
from agent.mib2 import MIB2_TCP
from agent.mib2 import MIB2_TCP6
from agent.mib2 import MIB2_TCP6_CONN
from agent.mib2 import MIB2_TCP_CONN
from agent.mib2 import MIB2_UDP
from agent.mib2 import MIB2_UDP6
from agent.mib2 import MIB2_UDP6_ENTRY
from agent.mib2 import MIB2_UDP_ENTRY
from agent.mib2 import ORDER
from agent.mib2 import EntrySizes
from agent.mib2 import Items
from agent.mib2 import Layout
from agent.mib2 import build_request
from agent.mib2 import parse_entry_sizes
from agent.mib2 import parse_reply_control
from agent.mib2 import parse_tcp
from agent.mib2 import parse_udp
from agent.procfs import parse_cmdline
from agent.psinfo import parse_psinfo
from agent.query import Query
from agent.sockfs import parse_sock_unix_list
from common.errors import ParseError
from common.schema import CREATOR
from common.schema import HOLDERS
from common.schema import Owner
from common.schema import Proto
from common.schema import Socket

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from collections.abc import Callable

DEV_ARP = "/dev/arp"
I_PUSH = 0x5302  # sys/stropts.h: (STR | 02), STR = ('S' << 8)
REPLY_TIMEOUT = 10.0  # the kernel drops a request it does not understand: no reply
CONTROL_SIZE = 512  # netstat's control buffer (the acks are 28 bytes)
MAX_ITEM = 1 << 30  # one table's data: a larger announced length is corrupt
WANTED = frozenset(
    {
        (MIB2_TCP, 0),
        (MIB2_UDP, 0),
        (MIB2_TCP, MIB2_TCP_CONN),
        (MIB2_TCP6, MIB2_TCP6_CONN),
        (MIB2_UDP, MIB2_UDP_ENTRY),
        (MIB2_UDP6, MIB2_UDP6_ENTRY),
        (MIB2_TCP, EXPER_SOCK_INFO),
        (MIB2_TCP6, EXPER_SOCK_INFO),
        (MIB2_UDP, EXPER_SOCK_INFO),
        (MIB2_UDP6, EXPER_SOCK_INFO),
    }
)
UNIX_NO_OWNERS = (
    "unix sockets are listed without owners: this kernel's sock_unix_list records "
    "carry no socket inode (before illumos 9531), or /proc/<pid>/fdinfo cannot be read"
)
KSTAT_STRLEN = 31  # sys/kstat.h


class _Strbuf(ctypes.Structure):
    """struct strbuf (sys/stropts.h): maxlen, len, buf."""

    _fields_ = (("maxlen", ctypes.c_int), ("len", ctypes.c_int), ("buf", ctypes.c_void_p))


class _Kstat(ctypes.Structure):
    """The user-visible head of kstat_t (sys/kstat.h), up to ks_snaptime."""

    _fields_ = (
        ("ks_crtime", ctypes.c_longlong),
        ("ks_next", ctypes.c_void_p),
        ("ks_kid", ctypes.c_int),
        ("ks_module", ctypes.c_char * KSTAT_STRLEN),
        ("ks_resv", ctypes.c_ubyte),
        ("ks_instance", ctypes.c_int),
        ("ks_name", ctypes.c_char * KSTAT_STRLEN),
        ("ks_type", ctypes.c_ubyte),
        ("ks_class", ctypes.c_char * KSTAT_STRLEN),
        ("ks_flags", ctypes.c_ubyte),
        ("ks_data", ctypes.c_void_p),
        ("ks_ndata", ctypes.c_uint),
        ("ks_data_size", ctypes.c_size_t),
        ("ks_snaptime", ctypes.c_longlong),
    )


def read_unix_kstat() -> tuple[bytes, int]:
    """Return the sockfs sock_unix_list snapshot of this zone and its record count."""
    lib = ctypes.CDLL("libkstat.so.1", use_errno=True)
    lib.kstat_open.restype = ctypes.c_void_p
    lib.kstat_lookup.argtypes = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                                 ctypes.c_char_p)  # fmt: skip
    lib.kstat_lookup.restype = ctypes.POINTER(_Kstat)
    lib.kstat_read.argtypes = (ctypes.c_void_p, ctypes.POINTER(_Kstat), ctypes.c_void_p)
    lib.kstat_read.restype = ctypes.c_int
    lib.kstat_close.argtypes = (ctypes.c_void_p,)
    handle = lib.kstat_open()
    if not handle:
        code = ctypes.get_errno()
        raise OSError(code, f"kstat_open: {os.strerror(code)}")
    try:
        ksp = lib.kstat_lookup(handle, b"sockfs", 0, b"sock_unix_list")
        if not ksp or lib.kstat_read(handle, ksp, None) == -1:
            code = ctypes.get_errno()
            raise OSError(code, f"kstat sockfs:0:sock_unix_list: {os.strerror(code)}")
        head = ksp.contents
        size = min(head.ks_data_size, MAX_ITEM)
        data = ctypes.string_at(head.ks_data, size) if head.ks_data and size else b""
        return data, head.ks_ndata
    finally:
        lib.kstat_close(handle)


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL("libc.so.1", use_errno=True)
    strbuf_p = ctypes.POINTER(_Strbuf)
    int_p = ctypes.POINTER(ctypes.c_int)
    libc.getmsg.argtypes = (ctypes.c_int, strbuf_p, strbuf_p, int_p)
    libc.putmsg.argtypes = (ctypes.c_int, strbuf_p, strbuf_p, ctypes.c_int)
    return libc


def _checked(rc: int, call: str) -> int:
    if rc == -1:
        code = ctypes.get_errno()
        raise OSError(code, f"{call} on {DEV_ARP}: {os.strerror(code)}")
    return rc


def native_layout() -> Layout:
    """Return the MIB structs of this machine: x86's, the only ones illumos ships."""
    if sys.byteorder != "little":
        msg = "illumos on a big-endian machine (SPARC) is not supported"
        raise OSError(errno.ENOTSUP, msg)
    return Layout()


def read_mib(
    layout: Layout, groups: tuple[int, ...], timeout: float = REPLY_TIMEOUT
) -> Items:
    """Ask /dev/arp for each MIB group and return the tables' replies by (level, name)."""
    libc = _libc()
    fd = os.open(DEV_ARP, os.O_RDWR)
    items: Items = {}
    try:
        for module in (b"tcp\0", b"udp\0"):  # no-ops today, needed by old releases
            fcntl.ioctl(fd, I_PUSH, module)
        deadline = time.monotonic() + timeout
        for group in groups:
            items.update(_request(libc, fd, layout, group, deadline))
            if (group, 0) not in items:
                # A kernel that ignores the group shortcut of ip_snmp_get(): ask as
                # netstat does, for everything, and keep the socket tables.
                return _request(libc, fd, layout, EXPER_IP_AND_ALL_IRES, deadline)
        return items
    finally:
        os.close(fd)


def _request(
    libc: ctypes.CDLL, fd: int, layout: Layout, level: int, deadline: float
) -> Items:
    request = build_request(layout, level)
    request_buf = ctypes.create_string_buffer(request, len(request))
    control = _Strbuf(0, len(request), ctypes.cast(request_buf, ctypes.c_void_p))
    _checked(libc.putmsg(fd, ctypes.byref(control), None, 0), "putmsg")
    return _read_replies(libc, fd, layout, deadline)


def _read_replies(libc: ctypes.CDLL, fd: int, layout: Layout, deadline: float) -> Items:
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    control_buf = ctypes.create_string_buffer(CONTROL_SIZE)
    items: Items = {}
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not poller.poll(int(left * 1000) + 1):
            msg = f"no MIB reply from {DEV_ARP} within {REPLY_TIMEOUT:.0f} s"
            raise OSError(errno.ETIMEDOUT, msg)
        control = _Strbuf(CONTROL_SIZE, 0, ctypes.cast(control_buf, ctypes.c_void_p))
        flags = ctypes.c_int(0)
        rc = _checked(
            libc.getmsg(fd, ctypes.byref(control), None, ctypes.byref(flags)), "getmsg"
        )
        header = parse_reply_control(layout, control_buf.raw[: max(control.len, 0)], rc)
        if header is None:
            return items
        level, name, length = header
        if length > MAX_ITEM:
            msg = f"MIB reply ({level}, {name}) announces {length} bytes"
            raise ParseError(msg)
        data_buf = ctypes.create_string_buffer(max(length, 1))
        data = _Strbuf(length, 0, ctypes.cast(data_buf, ctypes.c_void_p))
        flags = ctypes.c_int(0)
        if _checked(
            libc.getmsg(fd, None, ctypes.byref(data), ctypes.byref(flags)), "getmsg"
        ):
            msg = (
                f"MIB reply ({level}, {name}) holds more than the {length} bytes announced"
            )
            raise ParseError(msg)
        if (level, name) in WANTED:  # statistics and MLP tables are read and dropped
            items[(level, name)] = data_buf.raw[: max(data.len, 0)]


def read_tables(query: Query) -> tuple[EntrySizes, list[Socket]]:
    """Return the kernel's entry sizes and the TCP/UDP sockets the query asks for."""
    layout = native_layout()
    groups = tuple(
        group
        for proto, group in ((Proto.TCP, MIB2_TCP), (Proto.UDP, MIB2_UDP))
        if proto in query.protocols
    )
    if not groups:
        return EntrySizes(0, 0, 0, 0), []
    items = read_mib(layout, groups)
    sizes = parse_entry_sizes(layout, items, groups)
    sockets: list[Socket] = []
    if MIB2_TCP in groups:
        sockets += parse_tcp(layout, items, sizes)
    if MIB2_UDP in groups:
        sockets += parse_udp(layout, items, sizes)
    return sizes, [s for s in sockets if s.family in query.families]


class ProcessTable:
    """Owners by pid, from psinfo (and SmartOS's world-readable cmdline), cached."""

    def __init__(self, proc: str = "/proc") -> None:
        self.proc = proc
        self.pointer_size = struct.calcsize("P")
        # SmartOS has /proc/<pid>/cmdline (OS-3463); upstream illumos only pr_psargs.
        self.has_cmdline = os.path.exists(f"{proc}/self/cmdline")
        self._owners: dict[int, Owner | None] = {}

    def owner(self, pid: int) -> Owner | None:
        """Return the process as an Owner, None if it has exited or cannot be read."""
        if pid not in self._owners:
            self._owners[pid] = self._read(pid)
        return self._owners[pid]

    def holder(self, pid_fd: tuple[int, int]) -> Owner | None:
        """Return the process holding a socket on one of its descriptors."""
        owner = self.owner(pid_fd[0])
        if owner is None:
            return None
        return Owner(owner.pid, pid_fd[1], owner.uid, owner.user, owner.command, owner.args)

    def _read(self, pid: int) -> Owner | None:
        try:
            info = parse_psinfo(read_file(f"{self.proc}/{pid}/psinfo"), self.pointer_size)
        except (OSError, ParseError):  # exited since the MIB was read
            return None
        args = info.args
        if self.has_cmdline:
            with contextlib.suppress(OSError):  # exited, or a system process
                args = parse_cmdline(read_file(f"{self.proc}/{pid}/cmdline")) or args
        try:
            user: str | None = pwd.getpwuid(info.uid).pw_name
        except KeyError:
            user = None
        return Owner(pid, None, info.uid, user, info.fname, args)


def list_sockets(query: Query, warn: Callable[[str], None]) -> tuple[list[Socket], str]:
    """List this zone's sockets with the processes holding them (or their creator)."""
    _, sockets = read_tables(query)
    if Proto.UNIX in query.protocols:
        data, count = read_unix_kstat()
        sockets += parse_sock_unix_list(data, count, ORDER)
    owners_from = attribute_owners(sockets)
    unix = [s for s in sockets if s.proto is Proto.UNIX]
    if unix and not any(s.owners for s in unix):
        warn(UNIX_NO_OWNERS)
    return sockets, owners_from


def attribute_owners(sockets: list[Socket], proc: str = "/proc") -> str:
    """Replace the MIB's creator pids by every holder, where /proc can tell them.

    Returns HOLDERS or CREATOR (common.schema), for the snapshot to say.  A socket
    without an inode (no EXPER_SOCK_INFO row: a kernel socket) keeps its creator;
    a unix socket has none, and gets owners only from a descriptor matching its
    inode.
    """
    processes = ProcessTable(proc)
    wanted = {s.inode for s in sockets if s.inode is not None}
    holders = find_holders(wanted, proc) if wanted else None
    for sock in sockets:
        if holders is not None and sock.inode is not None:
            found = holders.get(sock.inode, ())
            sock.owners = tuple(o for o in map(processes.holder, found) if o is not None)
        else:  # the creating pid the MIB names: one Owner, without fd
            pids = [o.pid for o in sock.owners]
            sock.owners = tuple(o for o in map(processes.owner, pids) if o is not None)
    return HOLDERS if holders is not None or not sockets else CREATOR


Holders = dict[int, list[tuple[int, int]]]  # socket inode -> [(pid, fd)]


def find_holders(inodes: set[int], proc: str = "/proc") -> Holders | None:
    """Map socket inodes to the (pid, fd) holding them; None if /proc cannot tell.

    Every process's fdinfo must be read: one that cannot be (not root, or a kernel
    without fdinfo) leaves the holders unknown, and the caller keeps the creators.
    A process that exits during the walk holds nothing any more.
    """
    found: Holders = {}
    for name in os.listdir(proc):
        if not name.isdigit():
            continue
        try:
            fds = os.listdir(f"{proc}/{name}/fdinfo")
        except FileNotFoundError:
            if not os.path.isdir(f"{proc}/self/fdinfo"):
                return None  # a kernel without fdinfo (before 2019)
            continue  # exited
        except PermissionError:
            return None  # not every process is ours to read
        pid = int(name)
        for fd in fds:
            try:
                entry = socket_inode(read_file(f"{proc}/{name}/fdinfo/{fd}"))
            except (OSError, ParseError):  # closed, or the process exited
                continue
            if entry is not None and entry[1] in inodes:
                found.setdefault(entry[1], []).append((pid, entry[0]))
    return found


def current_zone() -> str:
    """Return this zone's name (getzonenamebyid(getzoneid()), zone.h)."""
    libc = ctypes.CDLL("libc.so.1", use_errno=True)
    libc.getzoneid.restype = ctypes.c_int
    libc.getzonenamebyid.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t)
    libc.getzonenamebyid.restype = ctypes.c_ssize_t
    name = ctypes.create_string_buffer(64)  # ZONENAME_MAX
    if libc.getzonenamebyid(libc.getzoneid(), name, 64) < 0:
        return "global"
    return name.value.decode("ascii", "replace")
