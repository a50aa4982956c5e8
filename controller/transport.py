"""Run a command on a target: stdin in, stdout streamed to a sink, stderr kept short.

This is the one place where OS errors of running a command become TransportError.
Both output pipes are drained together (a full stderr pipe must never stall the
agent), and every run has a deadline after which our own child is killed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import signal
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import IO
from typing import Callable
from typing import Deque
from typing import Optional
from typing import Sequence

from common.errors import TransportError
from common.format import escape_text
from controller.cancel import RUN

log = logging.getLogger(__name__)

STDERR_LINES = 20  # what an error message quotes of a failed command's stderr
CHUNK = 1 << 16


@dataclass
class Completed:
    """How a command ended."""

    returncode: Optional[int]  # None when it was killed at its deadline
    stderr_tail: str
    timed_out: bool = False

    @property
    def last_error(self) -> str:
        """The last stderr line, escaped for a message ("" when there was none)."""
        lines = self.stderr_tail.splitlines()
        return escape_text(lines[-1]) if lines else ""


class StderrTail:
    """Keep the last lines of a stream, bounded, and log each one at DEBUG."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.lines: Deque[str] = deque(maxlen=STDERR_LINES)
        self._partial = b""

    def feed(self, data: bytes) -> None:
        """Take more stderr bytes."""
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()[-4096:]
        for raw in lines:
            self._add(raw)

    def _add(self, raw: bytes) -> None:
        line = raw[:1024].decode("utf-8", "backslashreplace").rstrip()
        if line:
            log.debug("%s: %s", self.label, line)
            self.lines.append(line)

    def text(self) -> str:
        """Return the kept lines (and an unfinished last one)."""
        if self._partial:
            self._add(self._partial)
            self._partial = b""
        return "\n".join(self.lines)


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
        raise TransportError(msg, target=label, argv=argv) from err
    stdin_pipe, stdout_pipe, stderr_pipe = proc.stdin, proc.stdout, proc.stderr
    if stdin_pipe is None or stdout_pipe is None or stderr_pipe is None:  # pragma: no cover
        msg = "subprocess pipes missing"
        raise TransportError(msg, target=label, argv=argv)
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
                    return Completed(None, tail.text(), timed_out=True)
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
        return Completed(None, tail.text(), timed_out=True)
    writer.join(1.0)
    return Completed(code, tail.text())


def _killpg(proc: subprocess.Popen[bytes]) -> None:
    """Kill our own child's process group (its session: zlogin and what it runs)."""
    if proc.returncode is not None:
        return
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
