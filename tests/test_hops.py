"""Hops stacked by argv composition, run for real with the shell that would run them."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Barrier

import pytest

from agent.query import Query
from controller.hops import ZLOGIN_SCRIPT
from controller.hops import Become
from controller.hops import Netns
from controller.hops import Ship
from controller.hops import Zlogin
from controller.hops import fold
from controller.hops import refusing_hop
from controller.payload import _build_payload
from controller.payload import build_payload
from controller.request import SurveyRequest
from controller.status import Status
from controller.survey import Survey
from controller.transport import AGENT
from controller.transport import ENTERED

SHOW_ARGV = [sys.executable, "-c", "import sys; print(sys.argv[1:])", "a b", "x;y", "$HOME"]


@pytest.mark.parametrize("name", ["web;rm -rf /", "a b", "-Q", "", "x" * 64, "$(id)"])
def test_invalid_zone_names_never_reach_zlogin(name: str) -> None:
    with pytest.raises(ValueError, match="invalid zone name"):
        Zlogin(name, "/zones/x/root")


FAKE_ZLOGIN = """#!/bin/sh
# Records what zlogin was given, as JSON, and exits.
exec python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$@"
"""


@pytest.mark.parametrize("su", [True, False], ids=["with-su", "without-su"])
def test_zlogin_gets_what_both_zlogins_run_as_the_argv(tmp_path: Path, su: bool) -> None:
    """Upstream and SmartOS zlogin alike must run the agent's argv unchanged."""
    root = tmp_path / "zones" / "web" / "root"
    (root / "usr" / "bin").mkdir(parents=True)
    if su:
        (root / "usr" / "bin" / "su").touch()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "zlogin").write_text(FAKE_ZLOGIN)
    (bindir / "zlogin").chmod(0o755)
    argv = Zlogin("web-01.prod", str(root)).wrap(SHOW_ARGV)
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}
    given = json.loads(subprocess.run(argv, capture_output=True, text=True, env=env,
                                      check=True).stdout)  # fmt: skip
    assert given[:2] == ["-Q", "web-01.prod"]
    if su:  # one string, which su -c's shell parses (upstream; SmartOS with su)
        assert len(given) == 3
        inside = ["/bin/sh", "-c", given[2]]
    else:  # the words, which SmartOS execs as they are
        inside = given[2:]
    done = subprocess.run(inside, capture_output=True, text=True)
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
    hops = (Ship(payload), Zlogin("web", "/zones/web/root"), Become("sudo"))
    argv = fold(hops, [AGENT, "-P", "tcp"])
    assert argv[:3] == ["sudo", "-n", "--"]
    script = argv.index(ZLOGIN_SCRIPT)
    assert argv[script + 1 : script + 4] == ["sh", "web", "/zones/web/root"]
    inner = shlex.split(argv[script + 4])  # the string zlogin gets where there is su
    assert inner[-3:] == payload.argv(["-P", "tcp"])[-3:]
    assert inner[-2:] == ["-P", "tcp"]
    assert argv[-2:] == ["-P", "tcp"]  # and the words, where there is none


def test_the_hop_that_never_entered_is_the_one_that_refused() -> None:
    hops = (Ship(build_payload()), Zlogin("web", "/zones/web/root"), Become("sudo"))
    assert refusing_hop(hops, frozenset()) == hops[2]
    assert refusing_hop(hops, frozenset({"sudo"})) == hops[1]
    assert refusing_hop(hops, frozenset({"sudo", "zone:web"})) is None
    assert hops[2].entry_status is Status.BECOME_FAILED
    assert hops[1].entry_status is Status.ZONE_ENTRY_FAILED


def test_hosts_asking_at_once_share_one_payload() -> None:
    """Every host's worker asks for the payload after its handshake, all at once.

    Built once (lru_cache alone let 50 hosts build it ~30 times, compiling every
    module each time): the same object for all, and the build's cache holds it.
    """
    _build_payload.cache_clear()
    survey = Survey(SurveyRequest(query=Query()))
    workers = 16
    start = Barrier(workers)

    def ask(_: int) -> object:
        start.wait()
        return survey.payload

    with ThreadPoolExecutor(workers) as pool:
        payloads = list(pool.map(ask, range(workers)))
    assert all(p is payloads[0] for p in payloads)
    assert _build_payload.cache_info().misses == 1
