"""``sockstat --check`` against the real ``ss`` in a fresh network namespace.

A namespace of its own holds only the holder's sockets, so nothing else comes and
goes between the two listings.  One test puts a stand-in ``ss`` first in PATH: the
real ss with one line dropped, one made up and one pid changed, to show what a
disagreement looks like (the only thing stubbed is that disagreement).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.schema import Family
from common.schema import Owner
from common.schema import Proto
from common.schema import Socket
from controller.check import Comparison
from controller.check import OsTool
from tests.conftest import Holder
from tests.conftest import require
from tests.conftest import require_tool
from tests.conftest import run_sockstat
from tests.conftest import start_holder
from tests.conftest import stop_holder

SUMMARY = re.compile(
    r"summary: (\d+) endpoints from ss -tuanpe, (\d+) missing, (\d+) extra, "
    r"(\d+) with other owners: (agree|DIFFER)"
)


@pytest.fixture(scope="module")
def namespace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Holder]]:
    require(os.geteuid() == 0, "network namespaces need root")
    require_tool("ip")
    require_tool("ss")
    name = f"sstchk{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    held = None
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        held = start_holder(tmp_path_factory.mktemp(name), ["ip", "netns", "exec", name])
        yield name, held
    finally:
        if held is not None:
            stop_holder(held)
        subprocess.run(["ip", "netns", "delete", name], check=False)


def test_check_agrees_with_ss(namespace: tuple[str, Holder]) -> None:
    name, _ = namespace
    done = run_in(name, "--check")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("sockstat ")
    assert "--check on" in lines[0]
    assert lines[1] == "backend: NETLINK_SOCK_DIAG"
    assert "compared with: ss -tuanpe" in lines
    match = SUMMARY.search(done.stdout)
    assert match is not None, done.stdout
    # The holder's TCP and UDP sockets that ss -a lists: 3 + 3 TCP pairs, two
    # wildcard listeners, a shared listener, 3 UDP.  Its bound-only TCP socket is
    # not in ss's "all": said, not compared.
    assert match.groups() == ("12", "0", "0", "0", "agree")
    assert "not compared: 1 bound-only TCP sockets (ss -a does not list them)" in lines


def test_check_agrees_on_the_proc_net_backend(namespace: tuple[str, Holder]) -> None:
    name, _ = namespace
    done = run_in(name, "--check", env={"SOCKSTAT_PROC_NET": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "backend: /proc/net text" in done.stdout


def test_check_shows_each_difference(namespace: tuple[str, Holder], tmp_path: Path) -> None:
    name, held = namespace
    real_ss = shutil.which("ss")
    udp_port, listen_port = held.port("udp4"), held.port("tcp4_listen")
    # Stands in for an ss that disagrees: drops the UDP socket, invents a listener,
    # and names pid 1 as the owner of the TCP listener.
    stub = tmp_path / "ss"
    stub.write_text(
        "#!/bin/sh\n"
        f'"{real_ss}" "$@" | grep -v -E "127\\.0\\.0\\.1:{udp_port} +0\\.0\\.0\\.0:\\*" '
        f'| sed "/LISTEN .*127.0.0.1:{listen_port} /s/pid=[0-9]*/pid=1/"\n'
        "echo 'tcp LISTEN 0 128 0.0.0.0:5555 0.0.0.0:* "
        'users:(("ghost",pid=1,fd=3)) ino:1\'\n'
    )
    stub.chmod(0o755)
    done = run_in(name, "--check", env={"PATH": f"{tmp_path}:{os.environ['PATH']}"})
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert re.search(r"^missing  tcp  \*:5555 +\*:\* ", out, re.M), out
    assert re.search(rf"^extra    udp  127\.0\.0\.1:{udp_port} +\*:\* ", out, re.M), out
    owners = (
        rf"^owners   tcp  127\.0\.0\.1:{listen_port} +\*:\*  sockstat pids {held.pid}, "
    )
    assert re.search(owners + r"ss -tuanpe pids 1$", out, re.M), out
    match = SUMMARY.search(out)
    assert match is not None
    assert match.groups() == ("12", "1", "1", "1", "DIFFER")
    # The report ends by saying what to send with it.
    assert out.splitlines()[-1].startswith(
        "to report this difference, send this whole output together with, taken right "
        "after it: `ss -tuanpe`, `sockstat --format json -P tcp,udp` and `uname -a`"
    ), out
    assert "\nowners: every process holding each socket (compared)\n" in out


def run_in(name: str, *args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    ip = shutil.which("ip")
    assert ip is not None
    merged = {**os.environ, **(env or {})}
    return subprocess.run(
        [ip, "netns", "exec", name, sys.executable, "-m", "controller", *args],
        capture_output=True, text=True, env=merged, timeout=120, check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip


def sock(proto: Proto, local: tuple[str, int], remote: tuple[str, int] | None,
         *pids: int) -> Socket:  # fmt: skip
    family = Family.INET6 if ":" in local[0] else Family.INET
    raddr, rport = remote if remote else (None, None)
    owners = tuple(Owner(p, 3, 0, "root", "x", "x") for p in pids)
    return Socket(proto, family, "stream", "ESTABLISHED", local[0], local[1], raddr, rport,
                  None, None, None, None, owners)  # fmt: skip


def test_sockets_that_come_and_go_between_listings_are_not_differences() -> None:
    steady = sock(Proto.TCP, ("10.0.0.1", 22), ("10.0.0.2", 4000), 5)
    closed = sock(Proto.TCP, ("10.0.0.1", 22), ("10.0.0.3", 4001), 5)  # gone after ss
    opened = sock(Proto.TCP, ("10.0.0.1", 22), ("10.0.0.4", 4002), 5)  # new before ss
    tool = OsTool("ss", [steady, closed, opened], owners=True)
    result = Comparison([steady, closed], tool, [steady, opened], strict_owners=True)
    assert (result.missing, result.extra, result.owner_diffs) == ([], [], [])
    assert result.agree
    lost = Comparison([steady], OsTool("ss", [steady, closed], True), [steady],
                      strict_owners=True)  # fmt: skip
    assert lost.missing == [("tcp", "10.0.0.1", 22, "10.0.0.3", 4001)]


def test_wildcards_and_ipv6_spellings_match() -> None:
    ours = [sock(Proto.TCP, ("::", 22), None, 7), sock(Proto.UDP, ("0:0::1", 53), None, 8)]
    theirs = [sock(Proto.TCP, ("0.0.0.0", 22), ("0.0.0.0", 0), 7),
              sock(Proto.UDP, ("::1", 53), None, 8)]  # fmt: skip
    result = Comparison(ours, OsTool("ss", theirs, True), ours, strict_owners=True)
    assert result.agree


def test_netstats_dual_stack_pair_is_one_endpoint() -> None:
    # netstat lists a dual-stack listener as *.22 under IPv4 and IPv6; sockstat once.
    ours = [sock(Proto.TCP, ("::", 22), None, 7)]
    theirs = [sock(Proto.TCP, (address, 22), None, 7) for address in ("0.0.0.0", "::")]
    tool = OsTool("netstat -anu", theirs, True)
    assert Comparison(ours, tool, ours, strict_owners=True, wildcards_once=True).agree
    assert Comparison(ours, tool, ours, strict_owners=True).missing == [
        ("tcp", "*", 22, "*", 0)
    ]


def test_illumos_owner_differences_are_notes() -> None:
    creator = [sock(Proto.TCP, ("10.0.0.1", 22), ("10.0.0.2", 4000), 100)]
    holder = [sock(Proto.TCP, ("10.0.0.1", 22), ("10.0.0.2", 4000), 200)]
    result = Comparison(creator, OsTool("netstat -anu", holder, True), creator,
                        strict_owners=False)  # fmt: skip
    assert result.owner_diffs
    assert result.agree


def test_check_without_the_os_tool_says_so(tmp_path: Path) -> None:
    done = run_sockstat("--check", env={"PATH": str(tmp_path)})  # no ss anywhere
    assert done.returncode == 3
    assert (
        done.stderr
        == "sockstat: cannot check: cannot run `ss -tuanpe` (iproute2) to compare with\n"
    )
    assert done.stdout.startswith("sockstat ")


def test_check_is_for_this_zone_only() -> None:
    done = run_sockstat("--check", "somehost")
    assert done.returncode == 2
    assert "--check compares this host's own zone only" in done.stderr
