"""Host arguments and inventory files (pure parsing), and ssh_config resolution."""

from __future__ import annotations

from pathlib import Path

import paramiko
import pytest

from controller.inventory import InventoryError
from controller.inventory import limit_hosts
from controller.inventory import load_inventory
from controller.inventory import parse_ini_inventory
from controller.inventory import parse_target
from controller.inventory import parse_yaml_inventory
from controller.sshconfig import resolve


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("web1", ("web1", None, None)),
        ("root@web1", ("web1", None, "root")),
        ("admin@10.0.0.5:2222", ("10.0.0.5", 2222, "admin")),
        ("[::1]:2200", ("::1", 2200, None)),
        ("local", ("local", None, None)),
    ],
)
def test_targets(text: str, expected: tuple[str, int | None, str | None]) -> None:
    spec = parse_target(text)
    assert (spec.name, spec.port, spec.user) == expected


@pytest.mark.parametrize("text", ["", "a b", "user@", "host:99999", "host:x"])
def test_bad_targets(text: str) -> None:
    with pytest.raises(InventoryError):
        parse_target(text)


INI = """\
[web]
www1 ansible_host=10.0.0.1 ansible_port=2201
www2 ansible_host=10.0.0.2  # a comment

[db]
db1 ansible_host=10.0.0.3 ansible_user=postgres

[prod:children]
web
db

[prod:vars]
ansible_user=admin
"""


def test_ini_groups_children_and_vars() -> None:
    hosts = {h.name: h for h in parse_ini_inventory(INI)}
    assert (hosts["www1"].address, hosts["www1"].port, hosts["www1"].user) == (
        "10.0.0.1",
        2201,
        "admin",
    )
    assert hosts["db1"].user == "postgres"  # host variables win over group variables
    assert hosts["www2"].groups == {"web", "prod"}
    every = list(hosts.values())
    assert [h.name for h in limit_hosts(every, "prod:!db")] == ["www1", "www2"]
    assert [h.name for h in limit_hosts(every, "web:&prod")] == ["www1", "www2"]
    assert [h.name for h in limit_hosts(every, "db*")] == ["db1"]


def test_yaml_nested_groups() -> None:
    text = """
all:
  vars: {ansible_user: ops}
  children:
    edge:
      hosts:
        lb1: {ansible_host: 192.0.2.10}
      children:
        cache:
          hosts:
            c1:
"""
    hosts = {h.name: h for h in parse_yaml_inventory(text)}
    assert hosts["lb1"].address == "192.0.2.10"
    assert hosts["c1"].groups == {"all", "edge", "cache"}
    assert hosts["lb1"].user == "ops"
    assert [h.name for h in limit_hosts(list(hosts.values()), "edge")] == ["lb1", "c1"]


def test_bad_inventories_are_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "hosts.yml"
    bad.write_text("all: [1, 2\n")
    with pytest.raises(InventoryError, match="not valid YAML"):
        load_inventory(str(bad))
    with pytest.raises(InventoryError, match="malformed host variable"):
        parse_ini_inventory("[web]\nwww1 ansible_port\n")
    with pytest.raises(InventoryError, match="cannot read inventory"):
        load_inventory(str(tmp_path / "missing"))


def test_plain_list_format_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text("# fleet\nweb1\nroot@db1:2222\n\n")
    found = [(h.name, h.port) for h in load_inventory(str(path))]
    assert found == [("web1", None), ("db1", 2222)]


def test_ssh_config_resolution(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(
        "Host web\n  HostName 10.1.1.1\n  Port 2222\n  User deploy\n"
        "  ProxyJump bastion,gate2\n  IdentityFile ~/k1\n  IdentitiesOnly yes\n"
        "  StrictHostKeyChecking accept-new\n  ConnectTimeout 7\n"
        "Host *\n  UserKnownHostsFile /tmp/kh1 /tmp/kh2\n"
    )
    settings = resolve(paramiko.SSHConfig.from_path(str(config)), parse_target("web"))
    assert (settings.hostname, settings.port, settings.user) == ("10.1.1.1", 2222, "deploy")
    assert settings.proxy_jump == ["bastion", "gate2"]
    assert settings.identities_only
    assert settings.accept_new
    assert settings.connect_timeout == 7
    assert settings.known_hosts[:2] == ["/tmp/kh1", "/tmp/kh2"]
    assert settings.address == "[10.1.1.1]:2222"
    override = resolve(paramiko.SSHConfig.from_path(str(config)), parse_target("me@web:22"))
    assert (override.user, override.port) == ("me", 22)
