"""TARGET arguments, sockstat's plain host lists, and what the inventory readers refuse.

How Ansible inventories are read is judged by ansible-core itself in
tests/test_inventory_judged.py; here: what is sockstat's own (the ``user@host:port``
syntax, the plain list), and errors that must name the file, host or variable.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.hosts import PLAIN_LIST
from controller.hosts import load_inventory_hosts
from controller.hosts import parse_target
from controller.hosts import spec_from_variables
from controller.inventory import InventoryError
from controller.inventory import Vaulted
from controller.inventory import expand_hostname_range
from controller.inventory import load_inventory
from controller.patterns import split_host_pattern


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
    assert spec.local == (text == "local")


@pytest.mark.parametrize("text", ["", "a b", "user@", "host:99999", "host:x"])
def test_bad_targets(text: str) -> None:
    with pytest.raises(InventoryError):
        parse_target(text)


def test_plain_list_is_sockstats_own_format(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text("# fleet\nweb1\nroot@db1:2222\n\n")
    specs = load_inventory_hosts(str(path), None)
    assert [(s.name, s.user, s.port, s.source) for s in specs] == [
        ("web1", None, None, PLAIN_LIST),
        ("db1", "root", 2222, PLAIN_LIST),
    ]
    with pytest.raises(InventoryError, match="--limit needs an Ansible inventory"):
        load_inventory_hosts(str(path), "web*")


def test_list_of_bare_names_is_an_ansible_inventory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOCKSTAT_INVENTORY_READER", "builtin")
    path = tmp_path / "hosts"
    path.write_text("web[1:2]\ndb1:2200\n")
    specs = load_inventory_hosts(str(path), "web*")
    assert [(s.name, s.port) for s in specs] == [("web1", None), ("web2", None)]
    assert [s.port for s in load_inventory_hosts(str(path), "db1")] == [2200]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"hosts.yml": "all: [1, 2\n"}, "not valid YAML"),
        ({"hosts": "[web]\nwww1 ansible_port\n"}, "line 2: expected key=value"),
        ({"hosts": "[web:nope]\nw1\n"}, "unknown type"),
        ({"hosts": "[web]\nw[c:a]\n"}, "bad host range"),
        ({"hosts": "[web]\nw[1:2:3:4]\n"}, "begin:end or begin:end:step"),
        ({"hosts": "[prod:children]\nghost\n"}, "undeclared group 'ghost'"),
        ({"hosts": "[a:children]\nb\n[b:children]\na\n"}, "creates a loop"),
        ({"hosts.yml": "plugin: aws_ec2\n"}, "needs ansible-inventory"),
        ({"hosts": "w1 x='unclosed\n"}, "cannot parse host line"),
    ],
)
def test_bad_inventories_are_clear_errors(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(InventoryError, match=message):
        load_inventory(str(tmp_path / next(iter(files))))


def test_missing_and_binary_inventories(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="no such file"):
        load_inventory_hosts(str(tmp_path / "missing"), None)
    binary = tmp_path / "bin"
    binary.write_bytes(b"[web]\n\xff\xfe\n")
    with pytest.raises(InventoryError, match="not a text inventory"):
        load_inventory(str(binary))


def test_ranges_as_ansible_documents_them() -> None:
    assert expand_hostname_range("web[01:03]") == ["web01", "web02", "web03"]
    assert expand_hostname_range("db-[a:c]") == ["db-a", "db-b", "db-c"]
    assert expand_hostname_range("n[1:9:4]") == ["n1", "n5", "n9"]
    assert expand_hostname_range("r[1:2]c[a:b]") == ["r1ca", "r1cb", "r2ca", "r2cb"]


def test_pattern_lists_split_on_commas_or_colons() -> None:
    assert split_host_pattern("web:!web1:&prod") == ["web", "!web1", "&prod"]
    assert split_host_pattern("a, b[1] ,c[2:3]") == ["a", "b[1]", "c[2:3]"]
    assert split_host_pattern("fe80::1") == ["fe80::1"]
    assert split_host_pattern("web[1:2]") == ["web[1:2]"]


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"ansible_user": Vaulted("$ANSIBLE_VAULT;1.1;AES256\n00")}, "is vault-encrypted"),
        ({"ansible_host": "{{ lookup('env', 'H') }}"}, "ansible_host is a Jinja template"),
        ({"ansible_port": "22x"}, "ansible_port='22x'"),
        ({"ansible_ssh_port": 70000}, "ansible_ssh_port='70000'"),
        ({"ansible_connection": "winrm"}, "ansible_connection=winrm"),
        ({"ansible_ssh_common_args": "-L 1:h:2"}, "cannot follow the ssh argument '-L'"),
        ({"ansible_ssh_common_args": "-o 'x"}, "ansible_ssh_common_args: No closing"),
        ({"ansible_user": ["a", "list"]}, "ansible_user is a list"),
    ],
)  # fmt: skip
def test_unusable_values_make_a_bad_target_naming_host_and_variable(
    variables: dict[str, object], named: str
) -> None:
    spec = spec_from_variables("web7", variables, source="test")
    assert spec.problem is not None
    assert spec.problem.startswith("inventory host web7: ")
    assert named in spec.problem


def test_ssh_options_are_passed_as_ansible_passes_them() -> None:
    spec = spec_from_variables(
        "w",
        {"ansible_port": 2222, "ansible_user": "u", "ansible_ssh_private_key_file": "/k",
         "ansible_ssh_common_args": "-C -J j1,j2 -oStrictHostKeyChecking=no"},
        source="ansible-inventory",
    )  # fmt: skip
    assert spec.ssh_g_args() == [
        "-o", "Port=2222", "-o", 'IdentityFile="/k"', "-o", 'User="u"',
        "-J", "j1,j2", "-o", "StrictHostKeyChecking=no",
    ]  # fmt: skip


def test_limit_from_a_file_and_inline_host_lists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--limit @FILE`` and ``-i 'a,b:2222,'``, as Ansible reads them."""
    monkeypatch.setenv("SOCKSTAT_INVENTORY_READER", "builtin")
    inventory = tmp_path / "hosts"
    inventory.write_text("[web]\nweb[1:4]\n")
    chosen = tmp_path / "retry"
    chosen.write_text("web2\nweb4\n")
    specs = load_inventory_hosts(str(inventory), f"@{chosen}")
    assert [s.name for s in specs] == ["web2", "web4"]
    with pytest.raises(InventoryError, match="cannot read limit file"):
        load_inventory_hosts(str(inventory), f"@{tmp_path / 'missing'}")
    inline = load_inventory_hosts("a.example,b.example:2222,", None)
    assert [(s.name, s.port) for s in inline] == [("a.example", None), ("b.example", 2222)]
