"""Hosts reached as OpenSSH reaches them: jump chains, tokens, and both ssh_config readers.

The judge is OpenSSH itself.  ``ssh -v`` run on a case logs every hop it chains
("Executing proxy command: exec ssh -l U -p P -J REST -W '[H]:P' HOP"), where the
first hop connects ("Connecting to H port P") and the identity files it expands;
every address in these cases is on loopback, to a closed port, so nothing
answers and nothing leaves the machine.  The resolved route (controller/targets.py)
must say the same, whichever ssh_config reader decided.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from controller.hostnames import BadTargetError
from controller.hosts import HostSpec
from controller.hosts import parse_target
from controller.hosts import spec_from_variables
from controller.proxycommand import expand_proxy_command
from controller.targets import Resolver
from controller.targets import SshSettings
from controller.targets import parse_jump
from tests.conftest import require_tool
from tests.conftest import run_sockstat

CLOSED_PORT = 9  # discard: nothing listens on it here, on any loopback address


@dataclass
class Case:
    name: str
    config: str
    target: str = "target"
    variables: dict[str, object] | None = None  # an inventory host instead


CASES = [
    Case("three-hops-and-a-hop-with-its-own-jump", f"""\
Host target
  HostName 127.0.0.21
  Port {CLOSED_PORT}
  User tuser
  ProxyJump alice@mid:2200,last
Host mid
  HostName 127.0.0.22
  ProxyJump outer
Host last
  HostName 127.0.0.23
  Port 2300
  User luser
Host outer
  HostName 127.0.0.24
  Port {CLOSED_PORT}
"""),
    Case("uri-jump-and-star-block", f"""\
Host * !gate
  ProxyJump ssh://bob@gate:{CLOSED_PORT}
Host gate
  HostName 127.0.0.31
Host target
  HostName 127.0.0.32
"""),
    Case("jump-by-address", f"""\
Host target
  HostName 127.0.0.41
  ProxyJump carol@127.0.0.42:{CLOSED_PORT}
"""),
    Case("inventory-common-args-jump", "Host gate2\n  HostName 127.0.0.52\n  User gu\n"
         f"  Port {CLOSED_PORT}\n", target="inv1",
         variables={"ansible_host": "127.0.0.51", "ansible_port": 2251,
                    "ansible_user": "iu", "ansible_ssh_common_args": "-o ProxyJump=gate2"}),
    Case("command-line-user-and-port", f"""\
Host target
  HostName 127.0.0.61
  User cfg
  ProxyJump 127.0.0.62:{CLOSED_PORT}
""", target="cli@target:2261"),
]  # fmt: skip

EXEC = re.compile(
    r"debug1: Executing proxy command: exec \S*ssh (.*) -W '\[(.+)\]:(\d+)' (\S+)$"
)
CONNECT = re.compile(r"debug1: Connecting to (\S+) \[\S+\] port (\d+)\.$")
IDENTITY = re.compile(r"debug1: identity file (\S+) type")


def spec_of(case: Case) -> HostSpec:
    if case.variables is not None:
        return spec_from_variables(case.target, case.variables, source="ansible-inventory")
    return parse_target(case.target)


def ssh_v(config: Path, spec: HostSpec, *extra: str) -> list[str]:
    """Run OpenSSH on the case as a user would; return its debug lines."""
    argv = [require_tool("ssh"), "-v", "-F", str(config), "-o", "BatchMode=yes", "-o",
            "ConnectTimeout=3", "-o", "UserKnownHostsFile=/dev/null", *extra]  # fmt: skip
    if spec.source == "argument":
        argv += ["-l", spec.user] if spec.user else []
        argv += ["-p", str(spec.port)] if spec.port else []
    argv += [*spec.ssh_g_args(), "--", spec.host_arg, "true"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    return done.stderr.splitlines()


def chain_as_ssh_does(
    lines: list[str],
) -> tuple[list[tuple[str, str, int]], tuple[str, int]]:
    """(hop host, where it leads), innermost first; and where the first hop connects."""
    hops = []
    connect = None
    for line in lines:
        if m := EXEC.search(line):
            hops.append((m.group(4), m.group(2), int(m.group(3)), m.group(1)))
        elif m := CONNECT.search(line):
            connect = (m.group(1), int(m.group(2)))
    assert connect is not None, "\n".join(lines)
    return [(h, a, p) for h, a, p, _ in hops], connect


def chain_as_we_do(
    settings: SshSettings,
) -> tuple[list[tuple[str, str, int]], tuple[str, int]]:
    path = [settings, *reversed(settings.jumps)]
    hops = [
        (hop.host_arg, reached.hostname, reached.port)
        for reached, hop in zip(path, path[1:])
    ]
    first = path[-1]
    return hops, (first.hostname, first.port)


def comparable(settings: SshSettings) -> dict[str, object]:
    body = dict(settings.__dict__, resolved_by=None)
    body["jumps"] = [comparable(j) for j in settings.jumps]
    return body


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_jump_chains_as_openssh_chains_them(case: Case, tmp_path: Path) -> None:
    ssh = require_tool("ssh")
    config = tmp_path / "config"
    config.write_text(case.config)
    spec = spec_of(case)
    judged = chain_as_ssh_does(ssh_v(config, spec))
    ours = Resolver(str(config), ssh=ssh).resolve(spec)
    assert chain_as_we_do(ours) == judged
    builtin = Resolver(str(config), ssh="").resolve(spec)
    assert builtin.resolved_by == "built-in ssh_config reader"
    assert comparable(builtin) == comparable(ours)


def test_hop_users_and_ports_are_the_ones_ssh_passes(tmp_path: Path) -> None:
    """-l/-p on each hop's ssh command line are what our hop settings hold."""
    ssh = require_tool("ssh")
    config = tmp_path / "config"
    config.write_text(CASES[0].config)
    lines = ssh_v(config, parse_target("target"))
    ours = Resolver(str(config), ssh=ssh).resolve(parse_target("target"))
    by_host = {hop.host_arg: hop for hop in ours.jumps}
    for line in lines:
        if m := EXEC.search(line):
            options, host = m.group(1), m.group(4)
            if user := re.search(r"-l (\S+)", options):
                assert by_host[host].user == user.group(1)
            if port := re.search(r"-p (\d+)", options):
                assert by_host[host].port == int(port.group(1))
    assert [j.name for j in ours.jumps] == ["outer", "alice@mid:2200", "last"]
    assert (ours.jumps[1].user, ours.jumps[1].port) == ("alice", 2200)
    assert (ours.jumps[2].user, ours.jumps[2].port) == ("luser", 2300)


def test_identity_file_tokens_expand_after_hostname_user_and_port(tmp_path: Path) -> None:
    ssh = require_tool("ssh")
    config = tmp_path / "config"
    config.write_text(
        # ssh reads identity files once connected: a ProxyCommand that exits at
        # once is "connected" without a socket.
        f"Host alias\n  HostName 127.0.0.71\n  Port {CLOSED_PORT}\n"
        "  ProxyCommand /bin/false\n"
        "  IdentityFile ~/.ssh/id_%h_%r_%p\n  IdentityFile /keys/%n/%k/%u/%%/%C\n"
        "  IdentityFile ${HOME}/k_%d\n  IdentitiesOnly yes\n"
    )
    for spec in (
        parse_target("someone@alias"),
        spec_from_variables(
            "inv",
            {"ansible_host": "alias", "ansible_user": "iu"},
            source="ansible-inventory",
        ),
    ):
        judged = [
            m.group(1)
            for line in ssh_v(config, spec)
            if (m := IDENTITY.search(line)) and not m.group(1).endswith("-cert")
        ]
        for resolver in (Resolver(str(config), ssh=ssh), Resolver(str(config), ssh="")):
            assert resolver.resolve(spec).identity_files == judged


def test_proxy_command_is_expanded_as_ssh_expands_it(tmp_path: Path) -> None:
    ssh = require_tool("ssh")
    config = tmp_path / "config"
    config.write_text(
        "Host target\n  HostName 127.0.0.81\n  User pu\n"
        f"  ProxyCommand /bin/false %h %p %r %n # comment\n  Port {CLOSED_PORT}\n"
    )
    lines = ssh_v(config, parse_target("target"))
    (judged,) = [
        line.split("Executing proxy command: ", 1)[1]
        for line in lines
        if "Executing proxy command" in line
    ]
    for resolver in (Resolver(str(config), ssh=ssh), Resolver(str(config), ssh="")):
        settings = resolver.resolve(parse_target("target"))
        assert settings.proxy_command is not None
        ours = expand_proxy_command(
            settings.proxy_command, host=settings.hostname, host_arg=settings.host_arg,
            port=settings.port, user=settings.user,
        )  # fmt: skip
        assert ours == judged


def test_a_jump_loop_is_a_bad_target_not_a_hang(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n")
    for ssh in (require_tool("ssh"), ""):
        with pytest.raises(BadTargetError, match="longer than 16 hops"):
            Resolver(str(config), ssh=ssh).resolve(parse_target("a"))


def test_bad_names_anywhere_are_bad_targets(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(
        "Host evil\n  HostName x;touch${IFS}/tmp/owned\nHost j\n  ProxyJump 'a b'\n"
    )
    for ssh in (require_tool("ssh"), ""):
        resolver = Resolver(str(config), ssh=ssh)
        with pytest.raises(BadTargetError):
            resolver.resolve(parse_target("evil"))
        with pytest.raises(BadTargetError):
            resolver.resolve(parse_target("j"))
    assert parse_jump("[::1]:2222") == [(None, "::1", 2222, "[::1]:2222")]


def test_a_writable_include_is_refused_as_ssh_refuses_it(tmp_path: Path) -> None:
    """An Include others could write would let them run a ProxyCommand: refused."""
    ssh = require_tool("ssh")
    include = tmp_path / "inc.conf"
    include.write_text("Host web\n  ProxyCommand touch /tmp/sockstat-owned\n")
    include.chmod(0o666)
    config = tmp_path / "config"
    config.write_text(f"Include {include}\n")
    with pytest.raises(BadTargetError, match=r"[Bb]ad owner or permissions"):
        Resolver(str(config), ssh=ssh).resolve(parse_target("web"))
    with pytest.raises(BadTargetError, match="bad owner or permissions"):
        Resolver(str(config), ssh="").resolve(parse_target("web"))


def test_list_targets_shows_what_the_run_would_trust(tmp_path: Path) -> None:
    """--accept-new, the file accepted keys go to, and a first hop's ProxyCommand."""
    config = tmp_path / "config"
    config.write_text(
        "Host web\n  HostName 127.0.0.91\n  ProxyJump j1\n"
        "Host j1\n  HostName 127.0.0.92\n  ProxyCommand nc %h %p\n"
        "  StrictHostKeyChecking accept-new\n"
    )
    env = {"HOME": str(tmp_path)}
    done = run_sockstat("--list-targets", "-F", str(config), "web", env=env)
    assert done.returncode == 0, done.stderr
    (row,) = done.stdout.splitlines()[1:]
    assert "root@127.0.0.92 [ProxyCommand nc %h %p] [accept-new]" in row
    assert " known-only ssh -G" in row  # the host itself: StrictHostKeyChecking ask
    done = run_sockstat(
        "--list-targets", "--accept-new", "-F", str(config), "web", "--format", "json",
        env=env,
    )  # fmt: skip
    (route,) = json.loads(done.stdout)["targets"]
    assert route["strict_host_key_checking"] == "accept-new"
    assert route["known_hosts"][-1] == str(tmp_path / ".ssh" / "known_hosts.sockstat")
    assert route["jumps"][0]["proxy_command"] == "nc %h %p"
    assert route["resolved_by"] == ["ssh -G"]
