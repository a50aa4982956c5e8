"""Runners: run an argv with stdin, stream stdout to an Output, keep stderr short.

A Runner is how a target is reached (here a local process; controller/sshrun.py
an SSH exec channel; controller/inprocess.py the agent in this process).  This is
the one place where OS errors of running a local command become TransportError.
Both output pipes are drained together (a full stderr pipe must never stall the
agent), and every run has a deadline after which our own child is killed.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import deque

from common.errors import LimitError
from common.errors import TransportError
from common.format import escape_text
from common.schema import Record
from controller import logs
from controller.cancel import RUN
from controller.status import Status

TYPE_CHECKING = False  # typing is not imported at run time: start-up (issue #10)
if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable
    from collections.abc import Sequence
    from typing import IO
    from typing import Protocol

    from common.schema import Snapshot

    class Output(Protocol):
        """Where a runner puts what came back on stdout."""

        def feed(self, data: bytes) -> None:
            """Take more stdout bytes; may raise to stop the command (bad output)."""

        def accept(self, snapshots: list[Snapshot]) -> None:
            """Take snapshots made in this process (controller/inprocess.py only)."""

    class Runner(Protocol):
        """Runs an argv with stdin on a target and returns how it ended."""

        @property
        def label(self) -> str:
            """The target's name in messages (a host)."""

        def run(
            self, argv: Sequence[str], *, stdin: bytes, output: Output, timeout: float
        ) -> Completed:
            """Run argv; raise TransportError when it cannot be run at all."""


STDERR_LINES = 20  # what an error message quotes of a failed command's stderr
AGENT = "sockstat-agent"  # argv[0] of the agent, before it is shipped or run in-process
ENTERED = "sockstat-entered:"  # controller/hops.py: an entering hop's stderr marker
MAX_HOPS = 8  # markers recorded per command
CHUNK = 1 << 16


class Completed(Record):
    """How a command ended."""

    __slots__ = ("entered", "returncode", "stderr_tail", "timed_out")

    def __init__(
        self,
        returncode: int | None,  # None when it was killed at its deadline
        stderr_tail: str,
        timed_out: bool = False,
        entered: frozenset[str] = frozenset(),  # hops that said they entered
    ) -> None:
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        self.timed_out = timed_out
        self.entered = entered

    @property
    def last_error(self) -> str:
        """The last stderr line, escaped for a message ("" when there was none)."""
        lines = self.stderr_tail.splitlines()
        return escape_text(lines[-1]) if lines else ""


class StderrTail:
    """Keep the last lines of a stream, bounded, and log each one at DEBUG.

    Hop markers (controller/hops.py ENTERED) are recorded, not kept as lines.
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self.lines: deque[str] = deque(maxlen=STDERR_LINES)
        self.entered: set[str] = set()
        self._partial = b""

    def feed(self, data: bytes) -> None:
        """Take more stderr bytes."""
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()[-4096:]
        for raw in lines:
            self._add(raw)

    def _add(self, raw: bytes) -> None:
        line = raw[:1024].decode("utf-8", "backslashreplace").rstrip()
        if line.startswith(ENTERED) and len(self.entered) < MAX_HOPS:
            self.entered.add(line[len(ENTERED) :])
        elif line:
            if logs.debug_enabled():  # -vv: each line as it comes
                logs.get(__name__).debug("%s: %s", self.label, line)
            self.lines.append(line)

    def text(self) -> str:
        """Return the kept lines (and an unfinished last one)."""
        if self._partial:
            self._add(self._partial)
            self._partial = b""
        return "\n".join(self.lines)

    def completed(self, returncode: int | None, *, timed_out: bool = False) -> Completed:
        """Return how the command ended, with what its stderr said."""
        text = self.text()
        return Completed(returncode, text, timed_out, frozenset(self.entered))


class TextOutput:
    """Stdout of a plain command (zoneadm, a probe), kept up to ``limit`` bytes."""

    def __init__(self, command: str, limit: int = 1 << 20) -> None:
        self.command = command
        self.limit = limit
        self.chunks: list[bytes] = []
        self.size = 0

    def feed(self, data: bytes) -> None:
        """Keep the bytes; a command that prints more than the limit is bad output."""
        self.size += len(data)
        if self.size > self.limit:
            msg = f"{self.command} printed more than {self.limit} bytes"
            raise LimitError(msg, limit="bytes")
        self.chunks.append(data)

    def accept(self, snapshots: list[Snapshot]) -> None:
        """Refuse snapshots: a plain command has none."""
        msg = f"{self.command} is not the agent"
        raise TypeError(msg)

    def text(self) -> str:
        """Return what the command printed, decoded (undecodable bytes replaced)."""
        return b"".join(self.chunks).decode("utf-8", "replace")


class LocalRunner(Record):
    """Run commands on this host, each in a session of its own."""

    __slots__ = ("label",)

    def __init__(self, label: str) -> None:
        self.label = label

    def run(
        self, argv: Sequence[str], *, stdin: bytes, output: Output, timeout: float
    ) -> Completed:
        """Run argv locally (see run_command)."""
        return run_command(
            argv, stdin=stdin, on_stdout=output.feed, timeout=timeout, label=self.label
        )


def _write_all(pipe: IO[bytes], data: bytes) -> None:
    # The command may not read its stdin at all (the fallback) or may die first.
    with contextlib.suppress(ValueError, OSError):
        pipe.write(data)
    with contextlib.suppress(OSError):
        pipe.close()


def run_command(
    argv: Sequence[str],
    *,
    stdin: bytes,
    on_stdout: Callable[[bytes], None],
    timeout: float,
    label: str,
) -> Completed:
    """Run argv locally; feed stdout to ``on_stdout`` as it arrives.

    An exception from ``on_stdout`` (bad agent output) kills the command and
    propagates.  Raises TransportError when the command cannot be started, and
    Interrupted when the run is cancelled (the command's group is killed then).
    """
    RUN.check()
    # Imported here: an in-process run (the common case) starts no process at all.
    import selectors  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import threading  # noqa: PLC0415

    deadline = time.monotonic() + timeout
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # our child and its children die together
        )
    except OSError as err:
        msg = f"cannot run {argv[0]}: {err.strerror or err}"
        status = Status.AGENT_ERROR
        raise TransportError(msg, status=status, target=label, argv=argv) from err
    stdin_pipe, stdout_pipe, stderr_pipe = proc.stdin, proc.stdout, proc.stderr
    if stdin_pipe is None or stdout_pipe is None or stderr_pipe is None:  # pragma: no cover
        msg = "subprocess pipes missing"
        raise TransportError(msg, status=Status.AGENT_ERROR, target=label, argv=argv)
    writer = threading.Thread(target=_write_all, args=(stdin_pipe, stdin), daemon=True)
    writer.start()
    tail = StderrTail(label)
    with selectors.DefaultSelector() as selector, RUN.closing(lambda: _killpg(proc)):
        selector.register(stdout_pipe, selectors.EVENT_READ, on_stdout)
        selector.register(stderr_pipe, selectors.EVENT_READ, tail.feed)
        try:
            while selector.get_map():
                RUN.check()
                left = deadline - time.monotonic()
                if left <= 0:
                    _kill(proc)
                    return tail.completed(None, timed_out=True)
                for key, _ in selector.select(min(left, 1.0)):
                    data = os.read(key.fd, CHUNK)
                    if not data:
                        selector.unregister(key.fileobj)
                        continue
                    key.data(data)
            RUN.check()  # killed by the cancellation: its output is incomplete
        except BaseException:
            _kill(proc)
            raise
    try:
        code = proc.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        _kill(proc)
        return tail.completed(None, timed_out=True)
    writer.join(1.0)
    return tail.completed(code)


def _killpg(proc: subprocess.Popen[bytes]) -> None:
    """Kill our own child's process group (its session: zlogin and what it runs)."""
    if proc.returncode is not None:
        return
    import signal  # noqa: PLC0415 - loaded with run_command's child

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        with contextlib.suppress(OSError):
            proc.kill()


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill our own child's process group and reap it."""
    _killpg(proc)
    proc.wait()
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
