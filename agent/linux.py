"""Linux backend: sock_diag dumps (or /proc/net text) plus one /proc/*/fd owner scan.

The owner scan (one readlink per open fd of every process) costs about as much as
the socket table itself: above a few thousand fds most of it runs in a helper
process on the other core while this process drains the netlink dumps
(agent/fdhelper.py).
"""

from __future__ import annotations

import _socket  # not socket.py: see agent/netlink.py
import errno
import os
import pwd
import sys
from array import array
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence

from agent import fdhelper
from agent import fdscan
from agent.fdhelper import HELPER_SHARE
from agent.files import read_file
from agent.netlink import NETLINK_SOCK_DIAG
from agent.netlink import DumpParser
from agent.netlink import InetDumpParser
from agent.netlink import UnixDumpParser
from agent.netlink import build_inet_request
from agent.netlink import build_tcp_compat_request
from agent.netlink import build_unix_request
from agent.netns import Namespace
from agent.netns import find_pid_in
from agent.netns import open_sockets_in
from agent.procfs import parse_cmdline
from agent.procfs import parse_proc_net_inet
from agent.procfs import parse_proc_net_unix
from agent.procfs import parse_status_uid
from agent.query import INET_FAMILIES
from agent.query import Query
from common.schema import HOLDERS
from common.schema import Family
from common.schema import Owner
from common.schema import Proto
from common.schema import Record
from common.schema import Socket

PROC = "/proc"
# Set to force the /proc/net text path, as ss(8) does with PROC_NET_TCP.
FORCE_PROC_NET_ENV = "SOCKSTAT_PROC_NET"
NAMESPACE_THREADS = 4
RECV_BUFFER = 1 << 16  # the kernel hands out at most ~32 KiB per datagram anyway

Warn = Callable[[str], None]


def read_netlink_dump(request: bytes, parser: DumpParser, sock: _socket.socket) -> None:
    """Send one dump request and feed every reply datagram to the parser."""
    sock.send(request)
    buf = bytearray(RECV_BUFFER)
    view = memoryview(buf)
    while not parser.done:
        size = sock.recv_into(buf)
        if size == 0:
            break
        parser.feed(view[:size])


def open_diag_socket() -> _socket.socket:
    """Open a NETLINK_SOCK_DIAG socket in this thread's network namespace."""
    return _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW, NETLINK_SOCK_DIAG)


def dump_netlink(query: Query, sock: _socket.socket, warn: Warn) -> list[Socket]:
    """Dump every requested table through one diag socket."""
    requests: list[tuple[bytes, DumpParser]] = []
    both = query.families >= INET_FAMILIES
    if Proto.TCP in query.protocols and both:
        requests.append((build_tcp_compat_request(), InetDumpParser(Proto.TCP, None)))
    for proto in (Proto.TCP, Proto.UDP):
        if proto not in query.protocols or (proto is Proto.TCP and both):
            continue
        for family in (Family.INET, Family.INET6):
            if family in query.families:
                request = build_inet_request(proto, family)
                requests.append((request, InetDumpParser(proto, family)))
    if Proto.UNIX in query.protocols:
        requests.append((build_unix_request(), UnixDumpParser()))
    records: list[Socket] = []
    for request, parser in requests:
        read_netlink_dump(request, parser, sock)
        if parser.interrupted:
            warn(f"the {parser.proto.value} table changed while it was read")
        records.extend(parser.records)
    return records


PROC_NET_FILES = {
    (Proto.TCP, Family.INET): "tcp",
    (Proto.TCP, Family.INET6): "tcp6",
    (Proto.UDP, Family.INET): "udp",
    (Proto.UDP, Family.INET6): "udp6",
}


def read_proc_net(query: Query, net_dir: str = PROC + "/net") -> list[Socket]:
    """Read the requested tables from /proc/net text (the sock_diag fallback)."""
    records: list[Socket] = []
    for (proto, family), name in PROC_NET_FILES.items():
        if proto in query.protocols and family in query.families:
            path = f"{net_dir}/{name}"
            try:
                data = read_file(path)
            except FileNotFoundError:  # kernel without IPv6
                continue
            records += parse_proc_net_inet(
                data, proto=proto, family=family, byteorder=sys.byteorder, source=path
            )
    if Proto.UNIX in query.protocols:
        path = f"{net_dir}/unix"
        records += parse_proc_net_unix(read_file(path), source=path)
    return records


class ProcessInfo:
    """Cached user, command and args per pid, read from /proc/<pid>."""

    def __init__(self, proc: str = PROC) -> None:
        self.proc = proc
        self._pids: dict[int, tuple[int | None, str | None, str, str] | None] = {}
        self._users: dict[int, str | None] = {}

    def get(self, pid: int) -> tuple[int | None, str | None, str, str] | None:
        """Return (uid, user, command, args), or None for a vanished process."""
        try:
            return self._pids[pid]
        except KeyError:
            info = self._pids[pid] = self._read(pid)
            return info

    def _read(self, pid: int) -> tuple[int | None, str | None, str, str] | None:
        base = f"{self.proc}/{pid}/"
        try:
            uid = parse_status_uid(read_file(base + "status"))
            command = read_file(base + "comm").rstrip(b"\n")
            args = parse_cmdline(read_file(base + "cmdline"))
        except OSError:  # exited since the fd scan
            return None
        return uid, self.user(uid), command.decode("utf-8", "backslashreplace"), args

    def user(self, uid: int | None) -> str | None:
        """Return the user name of uid in this zone's passwd, None if it has none."""
        if uid is None:
            return None
        try:
            return self._users[uid]
        except KeyError:
            try:
                name: str | None = pwd.getpwuid(uid).pw_name
            except KeyError:
                name = None
            self._users[uid] = name
            return name


def attach_owners(
    sockets: Iterable[Socket], scans: Iterable[array[int]], info: ProcessInfo
) -> None:
    """Set the sockets' owners from fd scans: each (pid, fd) holding one, in scan order.

    One pass over the scans' flat (inode, pid, fd) triples against the listed
    sockets by inode (an inode names one socket on the whole host, so one scan
    serves every namespace); fds of sockets not listed (unix ones under -P tcp)
    are passed over, and only processes holding a listed socket are read.
    """
    by_inode = {sock.inode: sock for sock in sockets if sock.inode}
    get = by_inode.get
    details: dict[int, tuple[int | None, str | None, str, str] | None] = {}
    for triples in scans:
        values = iter(triples)
        for inode, pid, fd in zip(values, values, values):
            sock = get(inode)
            if sock is None:
                continue
            try:
                d = details[pid]
            except KeyError:
                d = details[pid] = info.get(pid)
            if d is not None:
                owner = Owner(pid, fd, d[0], d[1], d[2], d[3])
                held = sock.owners
                sock.owners = (*held, owner) if held else (owner,)


class NamespaceSockets(Record):
    """What one network namespace answered: its sockets, or why it could not."""

    __slots__ = ("error", "gone", "namespace", "sockets", "warnings")

    def __init__(self, namespace: Namespace) -> None:
        self.namespace = namespace
        self.sockets: list[Socket] = []
        self.warnings: list[str] = []
        self.error: str | None = None
        self.gone = False  # the namespace vanished between listing and entering


def list_sockets(query: Query, warn: Warn) -> tuple[list[Socket], str]:
    """List the sockets of this network namespace with every process holding each."""
    here = Namespace("global", None, 0)
    (result,) = collect_namespaces(query, [here])
    for message in result.warnings:
        warn(message)
    if result.error is not None:
        raise OSError(result.error)
    return result.sockets, HOLDERS


def collect_namespaces(
    query: Query, namespaces: Sequence[Namespace]
) -> list[NamespaceSockets]:
    """List the sockets of several network namespaces with one /proc/*/fd scan.

    Socket inodes are global to the host, so one scan maps owners in every
    namespace; the tables are dumped through a diag socket created inside each.
    """
    results = [NamespaceSockets(ns) for ns in namespaces]
    names = fdhelper.proc_pids()
    helper = fdhelper.take_early()
    if helper is None:
        helper_names, own_names = fdhelper.split_by_fd_count(names, HELPER_SHARE)
        helper = fdhelper.HelperScan(helper_names)
    else:  # started by the sockstat command: the rest, and pids new since, are ours
        taken = set(helper.names)
        own_names = [name for name in names if name not in taken]
    with helper:
        paths = [ns.path for ns in namespaces if ns.path is not None]
        if os.environ.get(FORCE_PROC_NET_ENV):
            paths = []  # every namespace through /proc/<pid>/net
        entered = open_sockets_in(paths, open_diag_socket) if paths else {}
        if len(results) == 1:
            read_namespace(query, results[0], entered)
        else:
            # Each dump walks the kernel's whole hash table inside send()/recv(),
            # which release the GIL: namespaces are read in parallel.
            from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

            with ThreadPoolExecutor(NAMESPACE_THREADS) as pool:
                for _ in pool.map(lambda r: read_namespace(query, r, entered), results):
                    pass
        own: array[int] = array("q")
        denied = fdscan.scan(own_names, own)
        helper_denied, helped = helper.result()
    answered = [result for result in results if result.error is None]
    listed = [sock for result in answered for sock in result.sockets]
    attach_owners(listed, (own, helped), ProcessInfo())
    for result in answered:
        if denied + helper_denied:
            count = denied + helper_denied
            result.warnings.append(
                f"cannot read the open files of {count} processes (permission denied)"
            )
        # TIME_WAIT and request sockets (inode 0) belong to no process: not counted.
        unowned = len([s for s in result.sockets if s.inode and not s.owners])
        if unowned:
            result.warnings.append(
                f"{unowned} sockets have no visible owner "
                "(held by processes this user cannot inspect, or closed meanwhile)"
            )
    return results


def read_namespace(
    query: Query,
    result: NamespaceSockets,
    entered: dict[str, _socket.socket | OSError],
) -> None:
    """Read one namespace's tables into ``result``, through its diag socket if any."""
    ns, warn = result.namespace, result.warnings.append
    if ns.path is None:
        result.sockets = read_table(query, warn)
        return
    sock = entered.get(ns.path, OSError(errno.EPERM, "not entered"))
    if isinstance(sock, _socket.socket):
        try:
            result.sockets = dump_netlink(query, sock, warn)
        except OSError as err:
            failure: OSError = err
        else:
            return
        finally:
            sock.close()
    else:
        failure = sock
    if failure.errno == errno.ENOENT and not os.path.exists(ns.path):
        result.error, result.gone = f"network namespace {ns.path} no longer exists", True
        return
    # Without CAP_SYS_ADMIN there is no setns(2), but a process's /proc/<pid>/net
    # files show its namespace's tables to anyone (reference/linux.md §1.9).
    if ns.pid is None and failure.errno == errno.EPERM:
        ns.pid = find_pid_in(ns.path)
    if ns.pid is not None:
        try:
            result.sockets = read_proc_net(query, f"{PROC}/{ns.pid}/net")
        except OSError as err:
            result.error = f"cannot read /proc/{ns.pid}/net: {err.strerror}"
        else:
            reason = failure.strerror or str(failure)
            warn(f"sock_diag unavailable there ({reason}); read /proc/{ns.pid}/net")
        return
    reason = failure.strerror or str(failure)
    if failure.errno == errno.EPERM:
        reason += " (entering a network namespace needs root: CAP_SYS_ADMIN)"
    result.error = f"cannot enter network namespace {ns.path}: {reason}"


def read_table(query: Query, warn: Warn) -> list[Socket]:
    """Dump this namespace's socket tables through sock_diag, else from /proc/net."""
    if os.environ.get(FORCE_PROC_NET_ENV):
        return read_proc_net(query)
    try:
        sock = open_diag_socket()
        try:
            return dump_netlink(query, sock, warn)
        finally:
            sock.close()  # a plain _socket.socket: no context manager
    except OSError as err:
        warn(f"sock_diag unavailable ({err}); reading /proc/net instead")
        return read_proc_net(query)
