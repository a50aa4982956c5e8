"""Host names, users and ProxyCommand tokens: nothing from an inventory runs a command.

OpenSSH's own ``ssh -G`` is the judge of which names and users are acceptable; the
attack of issue #9 (an ``ansible_host`` that smuggles ``-oProxyCommand`` through a
``%h`` token) is replayed with the real ssh client as the ProxyCommand.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from controller.hostnames import valid_hostname
from controller.hostnames import valid_user
from controller.proxycommand import ProxyCommandError
from controller.proxycommand import expand_proxy_command
from controller.proxycommand import expand_tokens
from tests.conftest import require_tool
from tests.conftest import run_sockstat

NAMES = [
    "web1",
    "web1.example.com",
    "127.0.0.1",
    "::1",
    "fe80::1%eth0",
    "under_score",
    "x:1 -oProxyCommand=touch",
    "-oProxyCommand=touch",
    "a;b",
    "a$(id)",
    "a`id`",
    "a|b",
    "a&b",
    "a>b",
    "a\\b",
    "a'b",
    'a"b',
    "a,b",
    "a{b}",
    "a b",
    "a\tb",
    "a\x1bb",
    "star*name",
    "tilde~name",
]
USERS = [
    "root",
    "alice",
    "first last",
    "dom\\user",
    "trail\\",
    "-oProxyCommand=x",
    "a -b",
    "a;b",
    "a`b`",
    "a$b",
    "a\x07b",
]


def ssh_accepts(*args: str) -> bool:
    """Whether ``ssh -G`` accepts these arguments (it connects to nothing)."""
    ssh = require_tool("ssh")
    done = subprocess.run(
        [ssh, "-G", "-F", "/dev/null", *args], capture_output=True, text=True, check=False
    )
    return done.returncode == 0


@pytest.mark.parametrize("name", NAMES)
def test_host_names_as_openssh_judges_them(name: str) -> None:
    assert valid_hostname(name) == ssh_accepts("--", name)


@pytest.mark.parametrize("user", USERS)
def test_users_as_openssh_judges_them(user: str) -> None:
    assert valid_user(user) == ssh_accepts("-l", user, "--", "web1")


def test_tokens_are_quoted_and_never_split() -> None:
    command = expand_proxy_command(
        "ssh -W %h:%p jump # %r %n %%", host="a b", host_arg="alias", port=22, user="u"
    )
    assert command == "exec ssh -W 'a b':22 jump # u alias %"
    with pytest.raises(ProxyCommandError, match="unknown token %x"):
        expand_tokens("nc %x", {"h": "a"}, directive="ProxyCommand")
    with pytest.raises(ProxyCommandError, match="unknown token %"):
        expand_tokens("nc 100%", {}, directive="ProxyCommand")


def write_config(directory: Path, extra: str = "") -> Path:
    config = directory / "ssh_config"
    config.write_text(
        "Host *\n"
        # The real ssh client: it would run an injected -oProxyCommand at once.
        "  ProxyCommand ssh -F /dev/null -o BatchMode=yes -W %h:%p 127.0.0.1\n"
        f"  ConnectTimeout 2\n{extra}"
    )
    return config


def run_json(directory: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    done = run_sockstat(
        "--format", "json", "--timeout", "5", *args,
        env={"HOME": str(directory), "SSH_AUTH_SOCK": ""},
    )  # fmt: skip
    return done.returncode, json.loads(done.stdout), done.stderr


def test_inventory_host_cannot_add_a_proxycommand(tmp_path: Path) -> None:
    """Issue #9: ansible_host with quotes and an -o option reached ssh as words."""
    require_tool("ssh")
    marker = tmp_path / "pwned"
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "all:\n  hosts:\n    evil:\n"
        f"      ansible_host: 'x:1 -oProxyCommand=\"touch {marker}\" -l'\n"
    )
    code, doc, stderr = run_json(tmp_path, "-F", str(write_config(tmp_path)), "-i",
                                 str(inventory))  # fmt: skip
    assert not marker.exists()
    assert code == 2
    (target,) = doc["targets"]
    assert target["status"] == "bad-target"
    assert "invalid host name" in target["error"]
    assert "Traceback" not in stderr


@pytest.mark.parametrize(
    ("argument", "extra", "message"),
    [
        ("h$(touch${{IFS}}{marker})", "", "invalid host name"),
        ("u`touch${{IFS}}{marker}`@web1", "", "invalid user"),
        (
            "jumped",
            "Host jumped\n  ProxyJump j;touch${{IFS}}{marker}\n",
            "Invalid ProxyJump",
        ),
        ("named", "Host named\n  HostName n$(touch${{IFS}}{marker})\n", "invalid host"),
    ],
)
def test_arguments_and_config_values_cannot_run_commands(
    tmp_path: Path, argument: str, extra: str, message: str
) -> None:
    require_tool("ssh")
    marker = tmp_path / "pwned"
    config = tmp_path / "ssh_config"
    config.write_text(extra.format(marker=marker) + write_config(tmp_path).read_text())
    code, doc, _ = run_json(
        tmp_path, "-F", str(config), argument.format(marker=marker), "local"
    )
    assert not marker.exists()
    statuses = {t["host"]: t["status"] for t in doc["targets"]}
    assert statuses.pop("local") == "ok"
    assert list(statuses.values()) == ["bad-target"]
    errors = [t["error"] for t in doc["targets"] if t["status"] != "ok"]
    assert message in errors[0]
    assert code == 2


def test_unbalanced_proxycommand_is_that_hosts_error(tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text("Host broken\n  ProxyCommand nc 'unbalanced %h %p\n")
    code, doc, stderr = run_json(tmp_path, "-F", str(config), "broken")
    (target,) = doc["targets"]
    assert target["status"] == "bad-target"
    # ssh -G's words (the built-in reader says the same): the file, line and why.
    assert "ssh_config line 2: invalid quotes" in target["error"]
    assert code == 2
    assert "Traceback" not in stderr
