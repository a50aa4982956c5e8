"""The /proc/*/fd scan's helper process, and its early start by the sockstat command.

The owner scan (one readlink per open fd of every process) costs about as much as
the socket table itself, and Python threads cannot run both at once (the GIL): above
a few thousand fds most of the scan runs in a helper process on the other core
while the agent drains the netlink dumps.  A local ``sockstat`` starts that helper
before it has even imported the CLI (start_early(), from controller/launch.py), so
the scan also overlaps the controller's start-up; collect_namespaces() then takes
it (take_early()) instead of starting one.

Only the stdlib and agent/fdscan.py: start_early() runs before anything else is
imported.
"""

from __future__ import annotations

import os
import signal
import sys
from array import array

from agent import fdscan

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from subprocess import Popen

PROC = fdscan.PROC
# Share of the fd scan given to the helper process: the parent first spends about
# as long on the netlink dumps as on its own part of the scan.
HELPER_SHARE = 0.8
# Below these many open fds the scan takes less than starting a helper: a fork costs
# ~1 ms, a second interpreter (when forking is unsafe: other threads) ~20 ms.
HELPER_MIN_FDS = 2_000
HELPER_MIN_FDS_SPAWNED = 20_000
# An early helper (start_early) scans while the parent imports the CLI, ~20 ms, about
# 5,000 fds of scanning: half of that head start is added to its share, so both end
# together (at 10,000 fds in one process it then takes every pid).
EARLY_HEAD_START_FDS = 2_500


def proc_pids() -> list[str]:
    """Return the pids of /proc, as its entries name them."""
    return [name for name in os.listdir(PROC) if name.isdigit()]


def split_by_fd_count(
    names: list[str], share: float, head_start: int = 0
) -> tuple[list[str], list[str]]:
    """Split pids into (first, rest) with about ``share`` of the open fds in first.

    ``head_start`` fds more go first: the helper's, when it starts before the
    parent has anything else to do.

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
    goal = sum(weights) * share + head_start
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
        self.close()

    def close(self) -> None:
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


# The helper start_early() started, until collect_namespaces() takes it.
_early: list[HelperScan] = []


def start_early() -> None:
    """Start the helper's share of this host's fd scan now, for a listing to come.

    Called by the sockstat command before it imports the CLI (controller/launch.py):
    the scan then runs on the other core during the ~25 ms of the controller's
    imports instead of after them.  The pids it does not take, and any started
    since, are scanned by collect_namespaces() as before.  Only a forked helper
    (no second interpreter: that would cost more than the overlap saves).
    """
    if _early or not _can_fork():
        return
    try:
        names = proc_pids()
        helper_names, _ = split_by_fd_count(names, HELPER_SHARE, EARLY_HEAD_START_FDS)
        if helper_names:
            _early.append(HelperScan(helper_names))
    except OSError:  # no /proc, pipe or fork here: the collection says so, not a guess
        return


def take_early() -> HelperScan | None:
    """Return the helper start_early() started, once; None if there is none."""
    return _early.pop() if _early else None


def discard_early() -> None:
    """End an early helper nobody took (a usage error, a remote run): our own child."""
    helper = take_early()
    if helper is not None:
        helper.close()
