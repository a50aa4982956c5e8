"""ssh_config resolved as OpenSSH resolves it: ``ssh -G`` is the judge of every case.

Each case is a config (with the files it includes), a host and the -l/-p/-o the
user gave.  The built-in reader must print what ``ssh -G`` prints for every option
sockstat uses; cases it cannot follow say so, and must produce a warning instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import pytest

from common.errors import ConfigError
from controller import sshconfig
from controller.sshconfig import USED
from controller.sshconfig import BuiltinConfig
from controller.sshconfig import SshG
from controller.sshconfig import argv_split
from controller.sshconfig import convtime
from tests.conftest import require_tool


@dataclass
class Case:
    name: str
    config: str
    host: str = "web"
    user: str | None = None
    port: int | None = None
    extra: tuple[str, ...] = ()
    files: dict[str, str] = field(default_factory=dict)  # beside the config
    builtin_warns: str | None = None  # what the built-in cannot follow


CASES = [
    Case("empty", ""),
    Case("basic", "Host web\n  HostName 10.0.0.1\n  User deploy\n  Port 2222\n"),
    Case("first-wins", "Host web\n  User a\nHost web\n  User b\nHost *\n  User c\n"),
    Case("star-after", "Host *\n  Port 2200\nHost web\n  Port 2222\n"),
    Case("glob-question", "Host w?b\n  User q\nHost x*\n  User x\n"),
    Case("negation", "Host * !web\n  User notweb\nHost *\n  User fallback\n"),
    Case("negation-other", "Host * !db\n  User notdb\n", host="web"),
    Case("pattern-list", "Host db web cache\n  User multi\n"),
    Case("case-keywords", "HOST web\n  hOsTnAmE 10.1.1.1\n  USER Up\n"),
    Case("equals", "Host=web\n  Port=2022\n  User = eq\n"),
    Case("comment-after-value", "Host web\n  Port 2222 # moved\n  User bob # him\n"),
    Case("comment-lines", "# top\nHost web # the web\n  # inside\n  User c\n"),
    Case("quoted-value", 'Host web\n  User "quoted user"\n  IdentityFile "~/my keys/id"\n'),
    Case("hostname-token", "Host web\n  HostName %h.example.com\n"),
    Case("hostname-percent", "Host web\n  HostName %h%%x\n"),
    Case(
        "identity-tokens",
        "Host web\n  IdentityFile ~/.ssh/id_%h_%r\n  IdentityFile /k/%u\n",
    ),
    Case("identity-accumulate", "Host web\n  IdentityFile /a\nHost *\n  IdentityFile /b\n"),
    Case("identities-only", "Host web\n  IdentitiesOnly yes\n"),
    Case("known-hosts-tokens", "Host web\n  UserKnownHostsFile ~/.ssh/kh_%h_%p /x/%r\n"),
    Case(
        "known-hosts-first-line",
        "Host web\n  UserKnownHostsFile /a\nHost *\n  UserKnownHostsFile /b\n",
    ),
    Case("global-known-hosts", "Host *\n  GlobalKnownHostsFile /etc/kh1 /etc/kh2\n"),
    Case("strict-accept-new", "Host web\n  StrictHostKeyChecking accept-new\n"),
    Case("strict-no", "Host web\n  StrictHostKeyChecking no\n"),
    Case("timeout-units", "Host web\n  ConnectTimeout 1m\n  ServerAliveInterval 1h30m\n"),
    Case("timeout-seconds", "Host web\n  ConnectTimeout 45\n"),
    Case("jump-forms", "Host web\n  ProxyJump alice@j1:2200,ssh://bob@j2:22,j3\n"),
    Case("jump-numeric", "Host web\n  ProxyJump carol@127.0.0.42:9\n"),
    Case("jump-ipv6", "Host web\n  ProxyJump a,u@[::1]:2200\n"),
    Case("jump-none", "Host web\n  ProxyJump none\nHost *\n  ProxyJump jx\n"),
    Case(
        "command-first-wins", "Host web\n  ProxyCommand nc %h %p\nHost *\n  ProxyJump jx\n"
    ),
    Case("jump-first-wins", "Host web\n  ProxyJump j1\nHost *\n  ProxyCommand nc %h %p\n"),
    Case("command-raw", "Host web\n  ProxyCommand ssh -W '[%h]:%p' gate # via gate\n"),
    Case("cli-user-port", "Host web\n  User cfg\n  Port 2000\n", user="cli", port=2999),
    Case("cli-o", "Host web\n  User cfg\n", extra=("-o", "User=fromo")),
    Case("cli-jump", "Host web\n  ProxyJump cfgjump\n", extra=("-J", "clijump")),
    Case(
        "include-relative-glob",
        "Include conf.d/*.conf\nHost *\n  User fallback\n",
        files={
            "conf.d/10-web.conf": "Host web\n  User included\n",
            "conf.d/20-db.conf": "Host db\n  User db\n",
        },
    ),
    Case(
        "include-in-host-block",
        "Host db\n  Include conf.d/*.conf\nHost web\n  User direct\n",
        files={"conf.d/1.conf": "Host *\n  Port 2444\n"},
    ),
    Case(
        "include-nested",
        "Include a.conf\n",
        files={"a.conf": "Include b.conf\n", "b.conf": "Host web\n  Port 2555\n"},
    ),
    Case("match-host", "Match host web\n  User matched\n"),
    Case(
        "match-host-after-hostname",
        "Host web\n  HostName real.example\nMatch host real.*\n  Port 2777\n",
    ),
    Case(
        "match-originalhost",
        "Host web\n  HostName real\nMatch originalhost web\n  User orig\n",
    ),
    Case(
        "match-user",
        "Match user root\n  Port 2301\nMatch user deploy\n  Port 2302\n",
        user="deploy",
    ),
    Case("match-negated", "Match !host db\n  User notdb\n"),
    Case("match-all", "Host db\n  User db\nMatch all\n  User everyone\n"),
    Case("match-final", "Match final host web\n  Port 2888\nHost web\n  User first\n"),
    Case(
        "include-in-inactive-block",
        "Host bastion\n  Include inc/bastion.conf\nHost *\n  User fallback\n",
        files={
            "inc/bastion.conf": "ProxyCommand nc -x 127.0.0.9:1080 %h %p\nUser bastionuser\n"
        },
    ),
    Case(
        "match-final-host-lines",
        "Host web\n HostName real.example\nMatch final\nHost real.example\n ProxyJump gw\n User viafinal\n",
    ),
    Case(
        "upper-case-names",
        "Host WEB\n  HostName FOO.Example\n  HostKeyAlias Foo\n  UserKnownHostsFile ~/.ssh/kh_%h_%k\n",
        host="WEB",
    ),
    Case(
        "known-hosts-env-and-user", "Host web\n  UserKnownHostsFile ${HOME}/kh ~root/kh2\n"
    ),
    Case("port-by-service-name", "Host web\n  Port ssh\n"),
    Case("match-not-exec-true", 'Match !exec "true"\n  ProxyCommand nc %h %p\n'),
    Case(
        "match-exec",
        'Match exec "true"\n  User byexec\n',
        builtin_warns="cannot follow 'Match exec'",
    ),
]


def write(case: Case, directory: Path) -> Path:
    config = directory / "config"
    config.write_text(case.config)
    for name, text in case.files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return config


def absolute_includes(case: Case, directory: Path) -> Case:
    """Relative Include paths are under ~/.ssh: point them at the case's directory."""
    text = case.config.replace("Include ", f"Include {directory}/")
    files = {
        n: t.replace("Include ", f"Include {directory}/") for n, t in case.files.items()
    }
    return Case(case.name, text, case.host, case.user, case.port, case.extra, files,
                case.builtin_warns)  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_builtin_reader_answers_as_ssh_G(
    case: Case, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ssh = require_tool("ssh")
    case = absolute_includes(case, tmp_path)
    config = str(write(case, tmp_path))
    lookup = {"user": case.user, "port": case.port, "extra": case.extra}
    judged = SshG(config, ssh).lookup(case.host, **lookup)  # type: ignore[arg-type]
    sshconfig._warned.clear()  # each case warns afresh
    with caplog.at_level(logging.WARNING):
        ours = BuiltinConfig(config).lookup(case.host, **lookup)  # type: ignore[arg-type]
    if case.builtin_warns:
        assert case.builtin_warns in caplog.text
        return
    for key in sorted(USED):
        assert ours.get(key) == judged.get(key), key


def test_unreadable_and_bad_configs_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read ssh_config"):
        BuiltinConfig(str(tmp_path / "missing")).lookup("web")
    bad = tmp_path / "bad"
    bad.write_text('Host web\n  ProxyCommand nc "unbalanced\n  User "x\n')
    with pytest.raises(ConfigError, match="invalid quotes"):
        BuiltinConfig(str(bad)).lookup("web")
    bad.write_text("Host web\n  Port 99999\n")
    with pytest.raises(ConfigError, match="bad port"):
        BuiltinConfig(str(bad)).lookup("web")


def test_argv_split_and_times() -> None:
    assert argv_split('"a b" c\\ d # comment') == ["a b", "c d"]
    assert argv_split("x#y") == ["x#y"]  # a # inside a word is not a comment
    assert convtime("1h30m") == 5400
    assert convtime("90") == 90
    assert convtime("1x") is None
