"""Hops stacked by argv composition, run for real with the shell that would run them."""

from __future__ import annotations

import shlex
import subprocess
import sys

import pytest

from controller.hops import Become
from controller.hops import Netns
from controller.hops import Ship
from controller.hops import Zlogin
from controller.hops import fold
from controller.hops import refusing_hop
from controller.payload import build_payload
from controller.status import Status
from controller.transport import AGENT
from controller.transport import ENTERED

SHOW_ARGV = [sys.executable, "-c", "import sys; print(sys.argv[1:])", "a b", "x;y", "$HOME"]


@pytest.mark.parametrize("name", ["web;rm -rf /", "a b", "-Q", "", "x" * 64, "$(id)"])
def test_invalid_zone_names_never_reach_zlogin(name: str) -> None:
    with pytest.raises(ValueError, match="invalid zone name"):
        Zlogin(name)


def test_zlogin_gets_one_string_the_zone_shell_runs_as_the_argv() -> None:
    """zlogin(1) hands its command to the zone's shell: it must come out unchanged."""
    argv = Zlogin("web-01.prod").wrap(SHOW_ARGV)
    assert argv[:3] == ["zlogin", "-Q", "web-01.prod"]
    assert len(argv) == 4
    done = subprocess.run(["/bin/sh", "-c", argv[3]], capture_output=True, text=True)
    assert done.stdout.strip() == repr(["a b", "x;y", "$HOME"])
    assert done.stderr.splitlines() == [f"{ENTERED}zone:web-01.prod"]


@pytest.mark.parametrize(("method", "prefix"), [("sudo", ["sudo", "-n", "--"]),
                                                ("pfexec", ["pfexec"])])  # fmt: skip
def test_become_prefixes_and_announces(method: str, prefix: list[str]) -> None:
    argv = Become(method).wrap(SHOW_ARGV)
    assert argv[: len(prefix)] == prefix
    # What sudo or pfexec would exec once it has let us in:
    done = subprocess.run(argv[len(prefix) :], capture_output=True, text=True)
    assert done.stdout.strip() == repr(["a b", "x;y", "$HOME"])
    assert done.stderr.splitlines() == [f"{ENTERED}{method}"]
    with pytest.raises(ValueError, match="unknown become method"):
        Become("doas")


def test_agent_hops_wrap_only_the_agent() -> None:
    argv = fold((Netns(("/run/netns/a", "-")),), [AGENT, "-P", "tcp"])
    assert argv == [AGENT, "-P", "tcp", "--netns", "/run/netns/a", "--netns", "-"]
    with pytest.raises(ValueError, match="wraps the agent"):
        Netns(("x",)).wrap(["zlogin", "z", "x"])
    with pytest.raises(ValueError, match="wraps the agent"):
        Ship(build_payload()).wrap(["true"])


def test_a_remote_zone_stack_folds_inside_out() -> None:
    """Ship, then zlogin, then sudo (outermost): what runs over SSH for a zone."""
    payload = build_payload()
    hops = (Ship(payload), Zlogin("web"), Become("sudo"))
    argv = fold(hops, [AGENT, "-P", "tcp"])
    assert argv[:3] == ["sudo", "-n", "--"]
    zlogin = argv.index("zlogin")
    assert argv[zlogin : zlogin + 3] == ["zlogin", "-Q", "web"]
    inner = shlex.split(argv[zlogin + 3])
    assert inner[-3:] == payload.argv(["-P", "tcp"])[-3:]
    assert inner[-2:] == ["-P", "tcp"]


def test_the_hop_that_never_entered_is_the_one_that_refused() -> None:
    hops = (Ship(build_payload()), Zlogin("web"), Become("sudo"))
    assert refusing_hop(hops, frozenset()) == hops[2]
    assert refusing_hop(hops, frozenset({"sudo"})) == hops[1]
    assert refusing_hop(hops, frozenset({"sudo", "zone:web"})) is None
    assert hops[2].entry_status is Status.BECOME_FAILED
    assert hops[1].entry_status is Status.ZONE_ENTRY_FAILED
