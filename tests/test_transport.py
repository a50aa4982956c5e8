"""Running local commands: deadlines, a flood of stderr, children killed with the group."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from common.errors import LimitError
from common.errors import TransportError
from controller.status import Status
from controller.transport import Completed
from controller.transport import LocalRunner
from controller.transport import TextOutput
from controller.transport import run_command

PY = sys.executable


def collect(
    argv: list[str], timeout: float = 20.0, stdin: bytes = b""
) -> tuple[bytes, Completed]:
    chunks: list[bytes] = []
    done = run_command(argv, stdin=stdin, on_stdout=chunks.append, timeout=timeout,
                       label="test")  # fmt: skip
    return b"".join(chunks), done


def test_stdout_stdin_and_exit_status() -> None:
    out, done = collect([PY, "-c", "import sys; sys.stdout.write(sys.stdin.read()[::-1]);"
                         "sys.exit(4)"], stdin=b"abc")  # fmt: skip
    assert out == b"cba"
    assert done.returncode == 4
    assert not done.timed_out


def test_a_flood_on_stderr_never_stalls_stdout() -> None:
    script = (
        "import sys; sys.stderr.write('e' * 30_000_000 + '\\nlast line\\n'); print('ok')"
    )
    out, done = collect([PY, "-c", script])
    assert out == b"ok\n"
    assert done.last_error == "last line"
    assert len(done.stderr_tail) < 30_000


def test_deadline_kills_the_whole_process_group(tmp_path: object) -> None:
    """A command that started children is killed with them at its deadline."""
    script = (
        "import os, subprocess, sys, time;"
        "child = subprocess.Popen(['sleep', '300']);"
        "print(child.pid, flush=True); time.sleep(300)"
    )
    out, done = collect([PY, "-c", script], timeout=1.0)
    assert done.timed_out
    assert done.returncode is None
    child = int(out.split()[0])
    for _ in range(100):  # reaped by init once killed; wait for it to go
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.02)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the command's child outlived its deadline")


def test_output_that_raises_stops_the_command() -> None:
    output = TextOutput("yes", limit=1000)
    runner = LocalRunner("test")
    with pytest.raises(LimitError, match="printed more than 1000 bytes"):
        runner.run(["yes"], stdin=b"", output=output, timeout=20)


def test_a_command_that_cannot_run_is_a_transport_error() -> None:
    with pytest.raises(TransportError, match="cannot run /nonexistent") as raised:
        collect(["/nonexistent/zlogin"])
    assert raised.value.status == Status.AGENT_ERROR
    assert raised.value.argv == ["/nonexistent/zlogin"]


def test_entered_markers_are_recorded_not_kept_as_lines() -> None:
    script = "echo sockstat-entered:sudo >&2; echo real error >&2; exit 1"
    _, done = collect(["/bin/sh", "-c", script])
    assert done.entered == frozenset({"sudo"})
    assert done.stderr_tail == "real error"
