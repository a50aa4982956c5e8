"""The agent's own command line (parsed by hand: argparse costs every zone's start-up)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agent import __version__
from agent.__main__ import parse_args
from common.schema import Family
from common.schema import Proto
from tests.conftest import ROOT


def agent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", *args],
        capture_output=True, text=True, cwd=ROOT, check=False, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--bogus"], "unrecognized argument: --bogus"),
        (["-P"], "argument -P: expected one argument"),
        (["-P", "tcpx"], "'tcpx' is not a valid Proto"),
        (["-f", "ipx"], "'ipx' is not a valid Family"),
        (["--netns"], "argument --netns: expected one argument"),
    ],
)
def test_bad_arguments_exit_2_with_one_reason(args: list[str], error: str) -> None:
    done = agent(*args)
    assert done.returncode == 2
    assert done.stdout == ""  # stdout carries only the msgpack stream
    usage, reason = done.stderr.splitlines()
    assert usage.startswith("usage: python3 -m agent ")
    assert reason == f"python3 -m agent: error: {error}"


def test_version() -> None:
    assert agent("--version").stdout == f"{__version__}\n"


def test_arguments_as_the_controller_writes_them() -> None:
    args = parse_args(
        ["-P", "tcp,unix", "-f", "inet6", "--netns", "-", "--netns=/run/netns/a"]
    )
    assert args.query.protocols == frozenset({Proto.TCP, Proto.UNIX})
    assert args.query.families == frozenset({Family.INET6})
    assert args.netns == ["-", "/run/netns/a"]
    assert not args.list_netns
    defaults = parse_args([])
    assert defaults.query.protocols == frozenset(Proto)
    assert parse_args(["--list-netns"]).list_netns
