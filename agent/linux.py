"""Linux backend: sock_diag dumps (or /proc/net text) plus one /proc/*/fd owner scan.

The owner scan (one readlink per open fd of every process) costs about as much as
the socket table itself, and Python threads cannot run both at once (the GIL): above
a few thousand fds most of the scan runs in a forked child on the other core while
this process drains the netlink dumps.
"""

from __future__ import annotations

import errno
import os
import pwd
import signal
import socket
import sys
from array import array
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence

from agent import fdscan
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

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from subprocess import Popen

PROC = "/proc"
# Set to force the /proc/net text path, as ss(8) does with PROC_NET_TCP.
FORCE_PROC_NET_ENV = "SOCKSTAT_PROC_NET"
# Share of the fd scan given to the helper process: the parent first spends about
# as long on the netlink dumps as on its own part of the scan.
HELPER_SHARE = 0.8
# Below these many open fds the scan takes less than starting a helper: a fork costs
# ~1 ms, a second interpreter (when forking is unsafe: other threads) ~20 ms.
HELPER_MIN_FDS = 2_000
HELPER_MIN_FDS_SPAWNED = 20_000
NAMESPACE_THREADS = 4
RECV_BUFFER = 1 << 16  # the kernel hands out at most ~32 KiB per datagram anyway

Warn = Callable[[str], None]
# socket inode -> [(pid, fd), ...]
OwnerMap = dict[int, list[tuple[int, int]]]


def read_netlink_dump(request: bytes, parser: DumpParser, sock: socket.socket) -> None:
    """Send one dump request and feed every reply datagram to the parser."""
    sock.send(request)
    buf = bytearray(RECV_BUFFER)
    view = memoryview(buf)
    while not parser.done:
        size = sock.recv_into(buf)
        if size == 0:
            break
        parser.feed(view[:size])


def open_diag_socket() -> socket.socket:
    """Open a NETLINK_SOCK_DIAG socket in this thread's network namespace."""
    return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)


def dump_netlink(query: Query, sock: socket.socket, warn: Warn) -> list[Socket]:
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


def split_by_fd_count(names: list[str], share: float) -> tuple[list[str], list[str]]:
    """Split pids into (first, rest) with about ``share`` of the open fds in first.

    ``st_size`` of /proc/<pid>/fd is the number of open fds since Linux 6.2 ("proc:
    report open files as size in stat() for /proc/pid/fd"); older kernels report 0,
    and then the pids are split by number instead.
    """
    weights = []
    for name in names:
        try:
            weights.append(os.stat(f"{PROC}/{name}/fd").st_size or 1)
        except OSError:
            weights.append(1)
    least = HELPER_MIN_FDS if _can_fork() else HELPER_MIN_FDS_SPAWNED
    if sum(weights) < least:  # the helper would cost more than it saves
        return [], list(names)
    goal = sum(weights) * share
    first: list[str] = []
    rest: list[str] = []
    taken = 0
    for name, weight in sorted(zip(names, weights), key=lambda nw: -nw[1]):
        if taken + weight / 2 <= goal:
            first.append(name)
            taken += weight
        else:
            rest.append(name)
    return first, rest


def _can_fork() -> bool:
    """Whether a forked child can run Python safely: no other thread holds a lock.

    The agent itself starts threads only after the scan has begun; the controller,
    running the agent in-process, may be surveying other targets on its threads.
    """
    if not hasattr(os, "fork"):
        return False
    threading = sys.modules.get("threading")
    return threading is None or threading.active_count() == 1


class HelperScan:
    """The fd scan of some pids, run by a helper process on another core.

    Python threads cannot scan and parse at once (the GIL); a helper process can.
    The helper is a forked child when that is safe (it inherits fdscan, ~1 ms),
    else fdscan's own source in a second interpreter.  It is our own child, ended
    with us: if it cannot start or fails, its pids are scanned in-process instead.
    """

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self._proc: Popen[bytes] | None = None
        self._child: tuple[int, int] | None = None  # (pid, read end of its pipe)
        if not names:
            return
        if _can_fork():
            self._child = _fork_scan(names)
            return
        # Read only when needed: getting a module's source imports tokenize (~10 ms).
        source = _fdscan_source()
        if source and sys.executable:
            import subprocess  # noqa: PLC0415 - start-up time matters on small hosts

            try:
                self._proc = subprocess.Popen(
                    [sys.executable, "-S", "-I", "-c", source, *names],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                )
            except OSError:  # no second interpreter: result() scans these pids itself
                self._proc = None

    def __enter__(self) -> HelperScan:
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop our own helper if its result was never collected (an error path)."""
        if self._proc is not None and self._proc.returncode is None:
            self._proc.kill()
            self._proc.communicate()
        if self._child is not None:
            pid, read_end = self._child
            self._child = None
            os.close(read_end)
            _reap(pid, kill=True)

    def result(self) -> tuple[int, array[int]]:
        """Return (processes denied, flat (inode, pid, fd) triples)."""
        out: array[int] = array("q")
        data = None
        if self._child is not None:
            pid, read_end = self._child
            self._child = None
            with open(read_end, "rb") as pipe:
                data = pipe.read()
            data = data if _reap(pid, kill=False) == 0 else None
        elif self._proc is not None:
            data, _ = self._proc.communicate()
            data = data if self._proc.returncode == 0 else None
        if data is not None and len(data) % 24 == 8:
            out.frombytes(data)
            denied = out[0]
            del out[0]
            return denied, out
        out = array("q")  # no helper, or it failed: scan its share here instead
        return fdscan.scan(self.names, out), out


def _fork_scan(names: list[str]) -> tuple[int, int] | None:
    """Fork a child that scans ``names`` and writes fdscan.main's bytes to a pipe."""
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return None
    if pid:
        os.close(write_end)
        return pid, read_end
    # The child: only syscalls and our own arrays, then _exit (no atexit, no flush of
    # the parent's buffers).  Ctrl-C and SIGTERM end it at once, as they end us.
    status = 1
    try:
        os.close(read_end)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        out = array("q", [0])
        out[0] = fdscan.scan(names, out)
        view = memoryview(out.tobytes())
        while view:
            view = view[os.write(write_end, view) :]
        status = 0
    finally:
        os._exit(status)


def _reap(pid: int, *, kill: bool) -> int:
    """Wait for our forked scanner (killing it first if asked); return its exit code."""
    if kill:
        try:  # noqa: SIM105 - contextlib would be one more import for every agent
            os.kill(pid, signal.SIGKILL)  # our own child, never another process
        except ProcessLookupError:
            pass
    while True:
        try:
            _, status = os.waitpid(pid, 0)
        except InterruptedError:
            continue
        except ChildProcessError:  # reaped by someone else (a SIGCHLD handler)
            return 1
        return os.waitstatus_to_exitcode(status)


def _fdscan_source() -> str | None:
    loader = getattr(fdscan, "__loader__", None)
    try:
        return loader.get_source(fdscan.__name__) if loader is not None else None
    except (ImportError, OSError):
        return None


def merge_scans(scans: Iterable[array[int]]) -> OwnerMap:
    """Build the inode -> [(pid, fd), ...] map from flat scan triples."""
    owners: OwnerMap = {}
    get = owners.get
    for triples in scans:
        values = iter(triples)
        for inode, pid, fd in zip(values, values, values):
            holders = get(inode)
            if holders is None:
                owners[inode] = [(pid, fd)]
            else:
                holders.append((pid, fd))
    return owners


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


def attach_owners(sockets: Iterable[Socket], owners: OwnerMap, info: ProcessInfo) -> None:
    """Set every socket's owners: each (pid, fd) holding it, with user and command."""
    get_holders = owners.get
    pids = {pid for holders in owners.values() for pid, _ in holders}
    details = {pid: info.get(pid) for pid in pids}
    for sock in sockets:
        holders = get_holders(sock.inode) if sock.inode else None
        if holders is None:
            continue
        if len(holders) == 1:  # the common case, without a generator
            pid, fd = holders[0]
            d = details[pid]
            if d is not None:
                sock.owners = (Owner(pid, fd, d[0], d[1], d[2], d[3]),)
        else:
            sock.owners = tuple(
                Owner(pid, fd, d[0], d[1], d[2], d[3])
                for pid, fd in holders
                if (d := details[pid]) is not None
            )


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
    names = [name for name in os.listdir(PROC) if name.isdigit()]
    helper_names, own_names = split_by_fd_count(names, HELPER_SHARE)
    with HelperScan(helper_names) as helper:
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
    owners = merge_scans((own, helped))
    info = ProcessInfo()
    for result in results:
        if result.error is not None:
            continue
        if denied + helper_denied:
            count = denied + helper_denied
            result.warnings.append(
                f"cannot read the open files of {count} processes (permission denied)"
            )
        attach_owners(result.sockets, owners, info)
        # TIME_WAIT and request sockets (inode 0) belong to no process: not counted.
        unowned = sum(1 for s in result.sockets if s.inode and not s.owners)
        if unowned:
            result.warnings.append(
                f"{unowned} sockets have no visible owner "
                "(held by processes this user cannot inspect, or closed meanwhile)"
            )
    return results


def read_namespace(
    query: Query,
    result: NamespaceSockets,
    entered: dict[str, socket.socket | OSError],
) -> None:
    """Read one namespace's tables into ``result``, through its diag socket if any."""
    ns, warn = result.namespace, result.warnings.append
    if ns.path is None:
        result.sockets = read_table(query, warn)
        return
    sock = entered.get(ns.path, OSError(errno.EPERM, "not entered"))
    if isinstance(sock, socket.socket):
        with sock:
            try:
                result.sockets = dump_netlink(query, sock, warn)
            except OSError as err:
                failure: OSError = err
            else:
                return
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
        with open_diag_socket() as sock:
            return dump_netlink(query, sock, warn)
    except OSError as err:
        warn(f"sock_diag unavailable ({err}); reading /proc/net instead")
        return read_proc_net(query)
