"""Ansible inventories read as Ansible reads them: ansible-core is the judge of every case.

Each case is an inventory (files, group_vars/, host_vars/, a script) and the
``--limit`` patterns to try.  Ansible's answer (tests/judges/ansible_judge.py: its
own InventoryManager, VariableManager and ssh connection plugin) is compared with
both of sockstat's readers: ``ansible-inventory --list`` as sockstat runs it, and
the built-in reader used where Ansible is missing.  Compared: every host, its
merged variables, its groups, the hosts each pattern selects (in order), and the
address, port, user, key and ssh options sockstat would use — or, for a value it
cannot use (vault, Jinja), a bad-target naming the host and variable.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from controller.ansible import run_ansible_inventory
from controller.hosts import load_inventory_hosts
from controller.hosts import spec_from_variables
from controller.hosts import split_ssh_args
from controller.inventory import Inventory
from controller.inventory import InventoryError
from controller.inventory import Vaulted
from controller.inventory import load_inventory
from controller.patterns import select
from tests.conftest import require

JUDGE = Path(__file__).parent / "judges" / "ansible_judge.py"
SCRIPT = """\
#!/usr/bin/env python3
import json, sys
inventory = {
    "web": {"hosts": ["dyn-web1", "dyn-web2"], "vars": {"ansible_user": "dyn"}},
    "db": {"hosts": ["dyn-db1"], "children": ["web"]},
    "_meta": {"hostvars": {"dyn-db1": {"ansible_host": "127.0.0.9", "ansible_port": 2209}}},
}
if sys.argv[1:] == ["--list"]:
    print(json.dumps(inventory))
else:
    print("{}")
"""
VAULT = """!vault |
          $ANSIBLE_VAULT;1.1;AES256
          62313365396662343061393464336163383764373764613633653634306231386433626436623361
          6134333665353966363534333632666535333761666131620a663537646436643839616531643561
"""


@dataclass
class Case:
    name: str
    files: dict[str, str]
    source: str = "hosts"  # the -i path, relative to the case's directory
    patterns: tuple[str, ...] = ("all",)
    executable: tuple[str, ...] = ()
    builtin_refuses: str | None = None  # what the built-in reader says instead


PATTERN_INVENTORY = """\
web01.example.com
[web]
web[01:04]
[db]
db1
db2
db10
[prod:children]
web
db
[canary]
web03
"""

CASES = [
    Case("ini-basic", {"hosts": "loose1\n[web]\nweb1 ansible_host=127.0.0.1\n[all:vars]\nansible_user=ops\n"},
         patterns=("all", "ungrouped", "web", "loose1")),
    Case("ini-child-beats-parent", {"hosts": "[web]\nw1\n[prod:children]\nweb\n[web:vars]\nansible_user=child\n[prod:vars]\nansible_user=parent\nansible_port=2200\n"},
         patterns=("prod", "prod:&web")),
    Case("ini-same-depth-by-name", {"hosts": "[zeta]\nh1\n[alpha]\nh1\n[zeta:vars]\nansible_user=z\n[alpha:vars]\nansible_user=a\n"}),
    Case("ini-group-priority", {"hosts": "[zeta]\nh1\n[alpha]\nh1\n[alpha:vars]\nansible_user=a\nansible_group_priority=10\n[zeta:vars]\nansible_user=z\n"}),
    Case("ini-host-beats-group", {"hosts": "[web]\nw1 ansible_user=host\nw2\n[web:vars]\nansible_user=group\n"}),
    Case("ini-all-vars-reach-ungrouped", {"hosts": "solo\n[g]\nmember\n[all:vars]\nansible_port=2022\n[g:vars]\nansible_port=2023\n"},
         patterns=("ungrouped", "all:!g")),
    Case("ini-ranges", {"hosts": "[web]\nweb[01:03].example.com\n[db]\ndb-[a:c]\n[odd]\nn[1:9:4]\n[ported]\np[1:2]:2222\n"},
         patterns=("web", "db", "odd", "ported", "all:!web02*")),
    Case("ini-values-quoted", {"hosts": (
        "[web]\n"
        "w1 ansible_user=\"deploy user\" count=5 flag=True items=\"[1, 2]\" note='a # b' # trailing comment\n"
        "w2 ansible_ssh_common_args='-o ProxyJump=\"jump1,jump2\" -C'\n"
        "[web:vars]\n"
        "spaced = value with spaces\n"
        "quoted='single'\n"
    )}),
    Case("ini-ssh-var-names", {"hosts": (
        "[g]\n"
        "a ansible_host=127.0.0.2 ansible_ssh_host=127.0.0.3 ansible_port=1 ansible_ssh_port=2 ansible_user=u1 ansible_ssh_user=u2\n"
        "b ansible_ssh_host=127.0.0.4 ansible_private_key_file=/k1 ansible_ssh_private_key_file=/k2\n"
        "c ansible_ssh_private_key_file=~/.ssh/id_c\n"
    )}),
    Case("ini-host-ports", {"hosts": "[g]\ndb1:2200\n127.0.0.5:2201\n[::1]:2202\nplain ansible_port=2203\n"}),
    Case("ini-children-declared-later", {"hosts": "[prod:children]\nweb\ndb\n[web]\nw1\n[db]\nd1\n[prod:vars]\nansible_user=p\n"},
         patterns=("prod", "web:db")),
    Case("ini-alias", {"hosts": "[web]\nfront ansible_host=127.0.0.7 ansible_port=2207\n"}, patterns=("front", "127.0.0.7")),
    Case("ini-many-groups", {"hosts": "both\n[web]\nboth\n[db]\nboth\nonlydb\n"}, patterns=("ungrouped", "web:&db", "db:!web")),
    Case("ini-comments-and-blank", {"hosts": "# top\n; semicolon\n\n[web] # the web\nw1 # host\n"}),
    Case("yaml-basic", {"hosts.yml": (
        "all:\n  vars:\n    ansible_user: ops\n  hosts:\n    top1:\n  children:\n"
        "    web:\n      hosts:\n        w1:\n          ansible_host: 127.0.0.1\n        w2:\n"
    )}, source="hosts.yml", patterns=("all", "ungrouped", "web")),
    Case("yaml-parent-beats-all", {"hosts.yml": (
        "all:\n  vars:\n    ansible_user: from-all\n    ansible_port: 2000\n  children:\n"
        "    prod:\n      vars:\n        ansible_user: from-prod\n      children:\n"
        "        web:\n          hosts:\n            w1:\n"
    )}, source="hosts.yml"),
    Case("yaml-depth", {"hosts.yml": (
        "all:\n  children:\n    a:\n      vars: {x: a, ansible_user: a}\n      children:\n"
        "        b:\n          vars: {x: b}\n          children:\n            c:\n"
        "              vars: {x: c}\n              hosts: {h1: {}}\n"
        "    z:\n      vars: {x: z, ansible_user: z}\n      hosts: {h1: {}}\n"
    )}, source="hosts.yml", patterns=("a", "c", "a:!z")),
    Case("yaml-ranges-and-ports", {"hosts.yml": (
        "web:\n  hosts:\n    'web[1:3]:2222':\n      ansible_user: r\n    'db-[x:z]':\n"
    )}, source="hosts.yml", patterns=("web", "web[1]", "web[-1]")),
    Case("yaml-string-sections", {"hosts.yml": "web:\n  hosts: w1\ndb:\n  hosts:\n    d1:\n  children: web\n"},
         source="hosts.yml", patterns=("db", "web")),
    Case("yaml-types", {"hosts.yml": (
        "all:\n  hosts:\n    t1:\n      n: 5\n      b: yes\n      l: [1, two]\n      d: {k: v}\n      s: '022'\n"
        "      ansible_port: '2022'\n"
    )}, source="hosts.yml"),
    Case("yaml-top-level-hosts", {"hosts.yaml": "ungrouped:\n  hosts:\n    u1:\nweb:\n  hosts:\n    w1:\n    u1:\n"},
         source="hosts.yaml", patterns=("ungrouped", "all")),
    Case("vars-dirs", {
        "hosts": "[web]\nw1 ansible_user=inline\nw2\n[db]\nd1\n[web:vars]\nansible_port=1111\n[all:vars]\nx=inline-all\n",
        "group_vars/all.yml": "x: file-all\nansible_user: file-all\n",
        "group_vars/web.yml": "ansible_port: 2222\n",
        "group_vars/db/a.yml": "ansible_user: db-a\n",
        "group_vars/db/b.yaml": "ansible_user: db-b\nextra: 1\n",
        "host_vars/w1.yml": "ansible_user: host-file\n",
        "host_vars/d1": "ansible_host: 127.0.0.3\n",
    }),
    Case("directory-inventory", {
        "inv/01-hosts.ini": "[web]\nw1\n[web:vars]\nansible_user=ini\n",
        "inv/02-more.yml": "db:\n  hosts:\n    d1:\n      ansible_port: 2201\n",
        "inv/group_vars/web.yml": "ansible_port: 2200\n",
        "inv/notes.md": "not an inventory\n",
    }, source="inv", patterns=("web", "db", "all")),
    Case("dynamic-script", {"inventory.py": SCRIPT}, source="inventory.py",
         executable=("inventory.py",), patterns=("all", "db", "web[0]"),
         builtin_refuses="needs ansible-inventory"),
    Case("vault-and-jinja", {"hosts.yml": (
        f"all:\n  hosts:\n    vaulted:\n      ansible_user: {VAULT}"
        "    templated:\n      ansible_host: \"{{ lookup('env', 'X') }}\"\n"
        "    fine:\n      ansible_host: 127.0.0.1\n"
    )}, source="hosts.yml"),
    Case("connection-local", {"hosts": "[ctl]\nlocalhost ansible_connection=local\n[web]\nw1\n"}),
    Case("ssh-common-args", {"hosts": (
        "[g]\n"
        "j ansible_ssh_common_args='-J alice@127.0.0.8:2200 -o StrictHostKeyChecking=accept-new'\n"
        "p ansible_ssh_common_args='-o ProxyCommand=\"nc %h %p\"' ansible_ssh_extra_args='-C -i /k'\n"
        "bad ansible_ssh_common_args='-L 8080:localhost:80'\n"
    )}),
    Case("patterns", {"hosts": PATTERN_INVENTORY}, patterns=(
        "web*", "~db[0-9]+", "~^db1$", "web[0]", "web[-1]", "web[0:1]", "web[1:]", "web[2:0]",
        "web:!web01", "web,db", "web:&canary", "!web", "&prod", "all:!ungrouped",
        "web01.example.com", "*.example.com", "prod:!web:&db", "db1:db2", "web:!canary:&prod",
        "nosuch", "web[9]",
    )),
    Case("yaml-without-suffix", {"inventory": "all:\n  hosts:\n    web1:\n      ansible_host: 127.0.0.71\n"},
         source="inventory"),
    Case("empty-yaml", {"hosts.yml": ""}, source="hosts.yml"),
    Case("fqcn-connection", {"hosts": "[g]\na ansible_connection=ansible.builtin.ssh\nb ansible_connection=ansible.builtin.local\n"}),
    Case("unsafe-values", {"hosts.yml": "all:\n  hosts:\n    u1:\n      ansible_host: !unsafe '127.0.0.5'\n      ansible_user: !unsafe '{{ literal }}'\n"},
         source="hosts.yml"),
    Case("directory-ignores", {
        "inv/hosts": "[web]\nweb1\n",
        "inv/hosts.bak": "[web]\nold-web9\n",
        "inv/hosts.swp": "[web]\nold-web8\n",
        "inv/vars_plugins/x": "[web]\nnot-a-host\n",
    }, source="inv", patterns=("web",)),
    Case("ssh-args-and-host-key-checking", {"hosts": (
        "[g]\n"
        "a ansible_ssh_args='-o ProxyJump=127.0.0.9 -C' ansible_user=u\n"
        "b ansible_host_key_checking=False\n"
        "c ansible_ssh_host_key_checking=no ansible_host_key_checking=true\n"
    )}),
    Case("negative-stride", {"hosts": "[web]\nweb[1:5:-1]\nw0\n"}),
    Case("group-loop", {"hosts": "[a:children]\nb\n[b:children]\na\n"}),
    Case("vars-for-undeclared-group", {"hosts": "[ghost:vars]\nx=1\n"}),
]  # fmt: skip


def ansible_inventory() -> str:
    """The ansible-inventory of the test environment (ansible-core is a test extra)."""
    found = shutil.which("ansible-inventory") or str(
        Path(sys.executable).parent / "ansible-inventory"
    )
    require(
        os.access(found, os.X_OK), "ansible-core is not installed (pip install '.[test]')"
    )
    return found


def write_case(case: Case, directory: Path) -> str:
    for name, text in case.files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if name in case.executable:
            path.chmod(0o755)
    return str(directory / case.source)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Ansible's answers and both readers' answers, for every case (run at once)."""
    command = ansible_inventory()
    paths = {c.name: write_case(c, tmp_path_factory.mktemp(c.name)) for c in CASES}
    request = [{"path": paths[c.name], "patterns": list(c.patterns)} for c in CASES]
    env = {**os.environ, "PATH": f"{Path(command).parent}:{os.environ['PATH']}"}
    done = subprocess.run(
        [sys.executable, str(JUDGE)], input=json.dumps(request), capture_output=True,
        text=True, check=True, env=env,
    )  # fmt: skip
    judged = dict(zip([c.name for c in CASES], json.loads(done.stdout)))

    def through_ansible(case: Case) -> dict[str, Any]:
        answers: dict[str, Any] = {}
        # Each run costs ansible-core's start-up (~0.7 s): the listing, and the
        # first patterns (the built-in reader is held to every pattern).
        tried = [p for p in case.patterns if p != "all"][
            : 3 if case.name == "patterns" else 1
        ]
        for pattern in (None, *tried):
            try:
                answers[str(pattern)] = run_ansible_inventory(
                    paths[case.name], pattern, command=command
                )
            except InventoryError as err:
                answers[str(pattern)] = err
        return answers

    with ThreadPoolExecutor(4) as pool:
        ours = dict(zip([c.name for c in CASES], pool.map(through_ansible, CASES)))
    return {"paths": paths, "judged": judged, "ansible": ours}


def jsonable(value: object) -> object:
    """Our variables as ansible-inventory's JSON shows them."""
    if isinstance(value, Vaulted):
        return {"__ansible_vault": value.ciphertext}
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value


def assert_same_hosts(
    inventory: Inventory, judged: dict[str, Any], *, groups: bool
) -> None:
    assert sorted(inventory.hosts) == sorted(judged["hosts"])
    for name, body in judged["hosts"].items():
        assert (
            json.loads(json.dumps(jsonable(inventory.variables(name)))) == body["vars"]
        ), name
        if groups:
            assert sorted(g.name for g in inventory.host_groups(name)) == body["groups"], (
                name
            )


def assert_connection(inventory: Inventory, judged: dict[str, Any]) -> None:
    """sockstat reaches each host as Ansible's ssh plugin would, or names what it cannot use."""
    for name, body in judged["hosts"].items():
        variables = inventory.variables(name)
        spec = spec_from_variables(name, variables, source="test")
        ssh = body["ssh"]
        if "error" in ssh or "{{" in str(ssh.get("host")):
            assert spec.problem is not None, name
            assert name in spec.problem
            continue
        if variables.get("ansible_connection") == "local":
            assert spec.local, name
            continue
        args = " ".join(ssh[k] for k in ("ssh_common_args", "ssh_extra_args") if ssh[k])
        if "-L" in args:
            assert spec.problem is not None
            assert "-L" in spec.problem
            continue
        assert spec.problem is None, spec.problem
        assert spec.host_arg == ssh["host"], name
        assert spec.port == ssh["port"], name
        assert spec.user == ssh["remote_user"], name
        key = ssh["private_key_file"]
        assert spec.identity_file == (os.path.expanduser(key) if key else None), name
        expected = split_ssh_args(ssh["ssh_common_args"] or "", "c") + split_ssh_args(
            ssh["ssh_extra_args"] or "", "e"
        )
        assert spec.ssh_args == expected, name
        first = (
            split_ssh_args(ssh["ssh_args"], "a") if "ansible_ssh_args" in variables else ()
        )
        if ssh["host_key_checking"] is False:
            first += ("-o", "StrictHostKeyChecking=no")
        assert spec.ssh_args_first == first, name


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_builtin_reader_answers_as_ansible(case: Case, corpus: dict[str, Any]) -> None:
    judged = corpus["judged"][case.name]
    path = corpus["paths"][case.name]
    if "error" in judged:
        with pytest.raises(InventoryError):
            load_inventory(path)
        return
    if case.builtin_refuses:
        with pytest.raises(InventoryError, match=case.builtin_refuses):
            load_inventory(path)
        return
    inventory = load_inventory(path)
    assert_same_hosts(inventory, judged, groups=True)
    assert_connection(inventory, judged)
    for pattern, expected in judged["selections"].items():
        if isinstance(expected, dict):  # Ansible refused the pattern
            with pytest.raises(InventoryError):
                select(inventory, pattern)
        else:
            assert select(inventory, pattern) == expected, pattern


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_ansible_inventory_reader_answers_as_ansible(
    case: Case, corpus: dict[str, Any]
) -> None:
    judged = corpus["judged"][case.name]
    answers = corpus["ansible"][case.name]
    if "error" in judged:
        assert isinstance(answers["None"], InventoryError)
        return
    inventory, chosen = answers["None"]
    assert chosen == list(judged["hosts"])
    assert_same_hosts(inventory, judged, groups=False)
    assert_connection(inventory, judged)
    for pattern, expected in judged["selections"].items():
        if pattern not in answers:
            continue
        answer = answers[pattern]
        if isinstance(expected, dict) or not expected:
            # Ansible refuses it, or (ansible-inventory) lists no host for it.
            assert isinstance(answer, InventoryError) or answer[1] == []
        else:
            assert sorted(answer[1]) == sorted(expected), pattern


def test_limit_through_the_command_line_entry(corpus: dict[str, Any]) -> None:
    """load_inventory_hosts() picks a reader and gives specs: both readers agree."""
    path = corpus["paths"]["patterns"]
    os.environ["SOCKSTAT_INVENTORY_READER"] = "builtin"
    try:
        builtin = [s.name for s in load_inventory_hosts(path, "prod:!canary")]
    finally:
        del os.environ["SOCKSTAT_INVENTORY_READER"]
    assert builtin == corpus["judged"]["patterns"]["selections"].get(
        "prod:!canary", builtin
    )
    assert builtin[0] == "web01"
    assert "web03" not in builtin
