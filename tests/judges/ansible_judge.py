"""Ansible's own answers for a corpus of inventories: the judge of controller/inventory.py.

Run in its own process (Ansible keeps global state): reads a JSON list of cases
``{"path": ..., "patterns": [...]}`` on stdin and writes, for each, what
ansible-core itself says:

- ``hosts``: every host with its variables merged exactly as ``ansible-inventory
  --list`` prints them (VariableManager.get_vars(), internal variables removed,
  the CLI's JSON encoder), its groups, and the options Ansible's ssh connection
  plugin takes from them (host, port, remote_user, private_key_file,
  ssh_common_args, ssh_extra_args) — or the error Ansible raises;
- ``selections``: for each pattern, the hosts ``--limit PATTERN`` keeps, in order
  (InventoryManager.subset() then get_hosts("all"), as ansible-playbook does);
- ``error``: what Ansible says when the inventory cannot be read.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

os.environ.setdefault("ANSIBLE_INVENTORY_UNPARSED_FAILED", "True")
os.environ.setdefault("ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED", "True")

from ansible import context
from ansible.module_utils.common.collections import ImmutableDict

context.CLIARGS = ImmutableDict({"basedir": None, "export": False, "verbosity": 0})

from ansible._internal._json._profiles import _inventory_legacy  # noqa: E402
from ansible.cli.inventory import InventoryCLI  # noqa: E402
from ansible.inventory.manager import InventoryManager  # noqa: E402
from ansible.parsing.dataloader import DataLoader  # noqa: E402
from ansible.playbook.play_context import PlayContext  # noqa: E402
from ansible.plugins.loader import connection_loader  # noqa: E402
from ansible.plugins.loader import init_plugin_loader  # noqa: E402
from ansible.vars.manager import VariableManager  # noqa: E402

SSH_OPTIONS = ("host", "port", "remote_user", "private_key_file", "ssh_common_args",
               "ssh_extra_args", "ssh_args", "host_key_checking")  # fmt: skip


def plain(value: Any) -> Any:
    return json.loads(json.dumps(value, cls=_inventory_legacy.Encoder))


def judge(case: dict[str, Any]) -> dict[str, Any]:
    loader = DataLoader()
    try:
        inventory = InventoryManager(loader=loader, sources=[case["path"]])
    except Exception as err:
        return {"error": str(err)}
    variables = VariableManager(loader=loader, inventory=inventory)
    hosts = {}
    for host in inventory.get_hosts("all"):
        merged = variables.get_vars(host=host, include_hostvars=False, stage="all")
        merged = InventoryCLI._remove_internal(merged)
        body: dict[str, Any] = {
            "vars": plain(merged),
            "groups": sorted(g.name for g in host.get_groups()),
        }
        connection = connection_loader.get("ssh", PlayContext(), None)
        try:
            connection.set_options(var_options={**merged, "inventory_hostname": host.name})
            body["ssh"] = {k: plain(connection.get_option(k)) for k in SSH_OPTIONS}
        except Exception as err:
            body["ssh"] = {"error": str(err)}
        hosts[host.name] = body
    selections: dict[str, Any] = {}
    for pattern in case["patterns"]:
        try:
            inventory.subset(pattern)
            selections[pattern] = [h.name for h in inventory.get_hosts("all")]
        except Exception as err:
            selections[pattern] = {"error": str(err)}
        finally:
            inventory.subset(None)
            inventory.clear_pattern_cache()
    return {"hosts": hosts, "selections": selections}


def main() -> None:
    init_plugin_loader()
    cases = json.load(sys.stdin)
    json.dump([judge(case) for case in cases], sys.stdout)


if __name__ == "__main__":
    main()
