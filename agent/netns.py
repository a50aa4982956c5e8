"""Linux network namespaces: find them, name them, and open sock_diag sockets inside.

A socket's network namespace is fixed when it is created, so a diag socket made
inside a namespace keeps dumping that namespace after the thread comes back
(setns(2); reference/linux.md §1.9).  Only a short-lived worker thread ever
changes namespace; the agent's own threads never leave theirs.
"""

from __future__ import annotations

import _socket  # not socket.py: see agent/netlink.py
import os
from collections.abc import Callable
from collections.abc import Sequence

from agent.files import read_file
from common.schema import Record

PROC = "/proc"
NETNS_RUN_DIR = "/run/netns"  # where `ip netns add` bind-mounts named namespaces
CLONE_NEWNET = 0x40000000  # <linux/sched.h>
GLOBAL = "global"
# A docker/podman/containerd container id in /proc/<pid>/cgroup: 64 hex digits.
_CONTAINER_ID = rb"([0-9a-f]{64})"
_UNSAFE_NAME = r"[^A-Za-z0-9_.-]+"


class Namespace(Record):
    """One network namespace: its display name, a path that enters it, its inode.

    ``path`` is None for the namespace the agent runs in.  ``pid`` is a process in
    it, if any: its /proc/<pid>/net files are readable without privileges.
    """

    __slots__ = ("inode", "name", "path", "pid")

    def __init__(self, name: str, path: str | None, inode: int, pid: int | None = None):
        self.name = name
        self.path = path
        self.inode = inode
        self.pid = pid


def parse_container_id(cgroup: bytes) -> str | None:
    """Return the short (12-digit) container id in a /proc/<pid>/cgroup, if any.

    >>> parse_container_id(b"0::/system.slice/docker-" + b"ab" * 32 + b".scope")
    'abababababab'
    """
    import re  # noqa: PLC0415 - only listing namespaces needs re, not every agent start

    match = re.search(_CONTAINER_ID, cgroup)
    return match.group(1)[:12].decode() if match else None


def safe_name(text: str) -> str:
    """Return text reduced to a zone-like name: letters, digits, ``_ . -``."""
    import re  # noqa: PLC0415 - only listing namespaces needs re, not every agent start

    return re.sub(_UNSAFE_NAME, "_", text).strip("_")[:40] or "netns"


def list_namespaces(proc: str = PROC, run_dir: str = NETNS_RUN_DIR) -> list[Namespace]:
    """List every network namespace: this one (``global``), named ones, unnamed ones.

    Unnamed namespaces (containers) are found through /proc/*/ns/net; each is named
    after its container id, else its first process's command, plus its inode, so
    the name is readable and stable while the namespace lives.  Processes whose
    namespace link cannot be read (pid 1 in some sandboxes) are skipped.
    """
    own = os.stat(f"{proc}/self/ns/net").st_ino
    found: list[Namespace] = [Namespace(GLOBAL, None, own, os.getpid())]
    seen = {own}
    try:
        entries = sorted(os.listdir(run_dir))
    except OSError:
        entries = []
    first_pid: dict[int, int] = {}
    for name in sorted((n for n in os.listdir(proc) if n.isdigit()), key=int):
        try:
            inode = os.stat(f"{proc}/{name}/ns/net").st_ino
        except OSError:  # exited, or not ours to look at
            continue
        first_pid.setdefault(inode, int(name))
    for entry in entries:
        path = f"{run_dir}/{entry}"
        try:
            inode = os.stat(path).st_ino
        except OSError:
            continue
        if inode in seen:
            continue
        seen.add(inode)
        found.append(Namespace(entry, path, inode, first_pid.get(inode)))
    for inode, pid in sorted(first_pid.items(), key=lambda item: item[1]):
        if inode in seen:
            continue
        seen.add(inode)
        found.append(
            Namespace(_unnamed(proc, pid, inode), f"{proc}/{pid}/ns/net", inode, pid)
        )
    return found


def find_pid_in(path: str, proc: str = PROC) -> int | None:
    """Return a process in the namespace at ``path`` whose link this user may read."""
    try:
        inode = os.stat(path).st_ino
    except OSError:
        return None
    for name in os.listdir(proc):
        if name.isdigit():
            try:
                if os.stat(f"{proc}/{name}/ns/net").st_ino == inode:
                    return int(name)
            except OSError:  # exited, or not ours to look at
                continue
    return None


def _unnamed(proc: str, pid: int, inode: int) -> str:
    label: str | None = None
    try:
        label = parse_container_id(read_file(f"{proc}/{pid}/cgroup"))
        if label is None:
            label = read_file(f"{proc}/{pid}/comm").strip().decode("utf-8", "replace")
    except OSError:
        pass
    return f"{safe_name(label or 'netns')}-{inode}"


def _libc_setns() -> Callable[[int, int], None]:
    native: Callable[[int, int], None] | None = getattr(os, "setns", None)
    if native is not None:  # Python 3.12+
        return native
    import ctypes  # noqa: PLC0415 - only Pythons before 3.12 need it

    libc = ctypes.CDLL(None, use_errno=True)

    def setns(fd: int, nstype: int) -> None:
        if libc.setns(fd, nstype) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))

    return setns


def open_sockets_in(
    paths: Sequence[str], factory: Callable[[], _socket.socket]
) -> dict[str, _socket.socket | OSError]:
    """Create one socket inside each namespace path, from a short-lived thread.

    Returns a socket, or the OSError that prevented it (EPERM without
    CAP_SYS_ADMIN, ENOENT when the namespace is gone), per path.
    """
    results: dict[str, _socket.socket | OSError] = {}

    def work() -> None:
        try:
            setns = _libc_setns()
            home = os.open(f"{PROC}/thread-self/ns/net", os.O_RDONLY)
        except OSError as err:  # no setns at all here: every path fails alike
            results.update(dict.fromkeys(paths, err))
            return
        try:
            for path in paths:
                try:
                    target = os.open(path, os.O_RDONLY)
                except OSError as err:
                    results[path] = err
                    continue
                try:
                    setns(target, CLONE_NEWNET)  # EPERM without CAP_SYS_ADMIN
                except OSError as err:
                    results[path] = err
                    continue
                finally:
                    os.close(target)
                try:
                    results[path] = factory()
                except OSError as err:
                    results[path] = err
                try:
                    setns(home, CLONE_NEWNET)
                except OSError as err:
                    # Stranded in another namespace: this thread must not make
                    # another socket; it ends here, and the rest are not entered.
                    for rest in paths:
                        results.setdefault(rest, err)
                    return
        finally:
            os.close(home)

    import threading  # noqa: PLC0415 - only entering namespaces needs a thread

    worker = threading.Thread(target=work, name="sockstat-setns", daemon=True)
    worker.start()
    worker.join()
    for path in paths:
        results.setdefault(path, OSError(f"could not enter {path}"))
    return results
