"""The /proc/*/fd owner scan and its helper process: same answer however it is split.

No root needed: a process may read its own /proc/self/fd.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from array import array
from collections.abc import Iterator

import pytest

from agent import fdhelper
from agent import fdscan
from agent import linux
from agent.query import Query
from common.schema import Proto
from common.schema import Socket


def triples(values: array[int]) -> set[tuple[int, int, int]]:
    it = iter(values)
    return set(zip(it, it, it))


@pytest.fixture
def pairs() -> Iterator[list[socket.socket]]:
    """A few hundred sockets of our own, whose inodes the scan must find."""
    socks = [s for _ in range(150) for s in socket.socketpair()]
    yield socks
    for s in socks:
        s.close()


def expected(socks: list[socket.socket]) -> set[tuple[int, int, int]]:
    return {(os.fstat(s.fileno()).st_ino, os.getpid(), s.fileno()) for s in socks}


@pytest.mark.parametrize("fork", [True, False], ids=["forked", "spawned"])
def test_helper_finds_what_an_inprocess_scan_finds(
    pairs: list[socket.socket], fork: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fdhelper, "_can_fork", lambda: fork)
    names = [str(os.getpid())]
    with fdhelper.HelperScan(names) as helper:
        started = helper._child is not None or helper._proc is not None
        denied, found = helper.result()
    assert started  # the helper really ran: the result is not the fallback's
    assert denied == 0
    assert expected(pairs) <= triples(found)
    here = array("q")
    fdscan.scan(names, here)
    # Our own fds differ by the helper's pipe only, which is no socket.
    assert triples(found) == triples(here)


def test_a_failed_helper_is_replaced_by_an_inprocess_scan(
    pairs: list[socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = os.getpid()
    real_scan = fdscan.scan

    def scan_failing_in_child(names: list[str], out: array[int]) -> int:
        if os.getpid() != parent:
            msg = "the helper fails"
            raise OSError(msg)
        return real_scan(names, out)

    monkeypatch.setattr(fdhelper, "_can_fork", lambda: True)
    monkeypatch.setattr(fdscan, "scan", scan_failing_in_child)
    with fdhelper.HelperScan([str(parent)]) as helper:
        assert helper._child is not None
        denied, found = helper.result()
    assert denied == 0
    assert expected(pairs) <= triples(found)


def test_an_uncollected_helper_is_ended_and_reaped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fdhelper, "_can_fork", lambda: True)
    with fdhelper.HelperScan([str(os.getpid())]) as helper:
        assert helper._child is not None
        pid = helper._child[0]
    with pytest.raises(ChildProcessError):  # already reaped: no zombie left
        os.waitpid(pid, os.WNOHANG)


def test_no_helper_below_the_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    names = [str(os.getpid())]
    monkeypatch.setattr(fdhelper, "HELPER_MIN_FDS", 10**9)
    monkeypatch.setattr(fdhelper, "_can_fork", lambda: True)
    assert fdhelper.split_by_fd_count(names, fdhelper.HELPER_SHARE) == ([], names)


def test_threads_rule_out_forking() -> None:
    import threading  # noqa: PLC0415

    assert fdhelper._can_fork() is (threading.active_count() == 1)
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        assert not fdhelper._can_fork()
    finally:
        stop.set()
        worker.join()


# -- the early start by the sockstat command (controller/launch.py) ----------------


@pytest.fixture
def early(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """start_early() that always forks a helper, however few fds this machine has."""
    monkeypatch.setattr(fdhelper, "HELPER_MIN_FDS", 0)
    monkeypatch.setattr(fdhelper, "_can_fork", lambda: True)
    yield
    fdhelper.discard_early()


def owners_of(sockets: list[Socket], socks: list[socket.socket]) -> set[tuple[int, int]]:
    inodes = {os.fstat(s.fileno()).st_ino for s in socks}
    return {(o.pid, o.fd or 0) for s in sockets if s.inode in inodes for o in s.owners}


def test_an_early_helper_is_what_the_collection_uses(
    early: None, pairs: list[socket.socket]
) -> None:
    fdhelper.start_early()
    (helper,) = fdhelper._early
    assert helper._child is not None
    child = helper._child[0]
    # A process started after the helper: its pids are the collection's own scan.
    later = subprocess.Popen(
        [sys.executable, "-c", LISTENER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert later.stdout is not None
        path = later.stdout.readline().strip()
        sockets, _ = linux.list_sockets(Query(frozenset({Proto.UNIX})), print)
    finally:
        later.kill()
        later.wait()
    assert fdhelper._early == []  # taken, once
    with pytest.raises(ChildProcessError):  # and reaped
        os.waitpid(child, os.WNOHANG)
    assert owners_of(sockets, pairs) == {(os.getpid(), s.fileno()) for s in pairs}
    (listener,) = [s for s in sockets if s.path == path]
    assert [o.pid for o in listener.owners] == [later.pid]


LISTENER = """
import os, socket, sys, tempfile
path = os.path.join(tempfile.mkdtemp(), "s")
server = socket.socket(socket.AF_UNIX)
server.bind(path)
server.listen()
print(path, flush=True)
sys.stdin.read()
"""


def test_an_early_helper_nobody_takes_is_ended(early: None) -> None:
    fdhelper.start_early()
    (helper,) = fdhelper._early
    assert helper._child is not None
    child = helper._child[0]
    fdhelper.discard_early()
    assert fdhelper._early == []
    with pytest.raises(ChildProcessError):  # killed if still scanning, and reaped
        os.waitpid(child, os.WNOHANG)
    fdhelper.discard_early()  # a second call finds nothing to end


def test_a_head_start_adds_to_the_helpers_share(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fdhelper, "HELPER_MIN_FDS", 0)
    names = fdhelper.proc_pids()
    first, rest = fdhelper.split_by_fd_count(names, 0.0)
    assert first == []
    assert sorted(rest) == sorted(names)
    first, rest = fdhelper.split_by_fd_count(names, 0.0, head_start=10**9)
    assert sorted(first) == sorted(names)
    assert rest == []


def test_no_proc_to_read_means_no_early_helper(
    early: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guess must never fail a run: without /proc the collection reports it."""
    monkeypatch.setattr(fdhelper, "PROC", "/nonexistent-proc")
    fdhelper.start_early()
    assert fdhelper._early == []


def test_a_cancelled_run_ends_an_early_helper_nobody_took(early: None) -> None:
    """controller/launch.py registers discard_early as a closer of the run."""
    from controller.cancel import Cancellation  # noqa: PLC0415 - the controller's side

    fdhelper.start_early()
    (helper,) = fdhelper._early
    assert helper._child is not None
    child = helper._child[0]
    run = Cancellation()
    run.register(fdhelper.discard_early)
    run.cancel(signal.SIGINT)
    assert fdhelper._early == []
    with pytest.raises(ChildProcessError):  # killed and reaped by the closer
        os.waitpid(child, os.WNOHANG)
