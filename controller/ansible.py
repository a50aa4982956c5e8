"""Ask Ansible: ``ansible-inventory --list [--limit P]`` lists hosts, connects to nothing.

Ansible's answer covers everything an inventory can be: INI, YAML, a directory of
files, an executable inventory script, inventory plugins, ``group_vars/`` and
``host_vars/``; variables come merged by Ansible's own precedence and ``--limit`` is
Ansible's own pattern selection.  Vault-encrypted values come back still encrypted
(``{"__ansible_vault": ...}``), ``!unsafe`` text as ``{"__ansible_unsafe": ...}``,
and Jinja templates unevaluated; controller/hosts.py
refuses both where a connection needs them.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Dict
from typing import List
from typing import Optional
from typing import Tuple

from common.format import escape_text
from controller.inventory import Inventory
from controller.inventory import InventoryError
from controller.inventory import Unsafe
from controller.inventory import Vaulted

COMMAND = "ansible-inventory"
TIMEOUT = 300.0  # seconds: a dynamic inventory may ask a cloud API
# Fail instead of warning and listing nothing (ansible.cfg [inventory] options).
ENVIRONMENT = {
    "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
    "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "True",
    "ANSIBLE_NOCOLOR": "True",
    "ANSIBLE_FORCE_COLOR": "False",
}


def _decode(value: object) -> object:
    """Turn ``{"__ansible_vault": text}`` back into a Vaulted value, anywhere."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_vault"}:
            return Vaulted(str(value["__ansible_vault"]))
        if set(value) == {"__ansible_unsafe"}:  # !unsafe: never templated
            return Unsafe(str(value["__ansible_unsafe"]))
        return {str(k): _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _names(body: Dict[str, object], key: str) -> List[str]:
    value = body.get(key)
    return [str(v) for v in value] if isinstance(value, list) else []


def parse_listing(text: str, *, source: str) -> Tuple[Inventory, List[str]]:
    """Read ``ansible-inventory --list`` JSON: the inventory and its hosts in order."""
    try:
        data = json.loads(text)
    except ValueError as err:
        msg = f"ansible-inventory -i {source}: not JSON ({err})"
        raise InventoryError(msg) from None
    if not isinstance(data, dict):
        msg = f"ansible-inventory -i {source}: not a JSON object"
        raise InventoryError(msg)
    meta = data.get("_meta") or {}
    hostvars = meta.get("hostvars") or {} if isinstance(meta, dict) else {}
    inventory = Inventory()
    groups: Dict[str, Dict[str, object]] = {
        str(name): body for name, body in data.items()
        if name != "_meta" and isinstance(body, dict)
    }  # fmt: skip
    for name, body in groups.items():
        inventory.add_group(name)
        for host in _names(body, "hosts"):
            inventory.add_host(host, name)
    for name, body in groups.items():
        for child in _names(body, "children"):
            if child != name:
                inventory.add_child(name, child)
    for host, variables in hostvars.items() if isinstance(hostvars, dict) else ():
        inventory.add_host(str(host))
        if isinstance(variables, dict):  # already merged by Ansible's precedence
            decoded = _decode(variables)
            inventory.hosts[str(host)] = decoded if isinstance(decoded, dict) else {}
    inventory.reconcile()
    return inventory, inventory.group_hosts("all")


def run_ansible_inventory(
    path: str, limit: Optional[str], *, command: str = COMMAND
) -> Tuple[Inventory, List[str]]:
    """Run ``ansible-inventory`` on one source; return the inventory and chosen hosts."""
    argv = [command, "-i", path, "--list"]
    if limit:
        argv += ["--limit", limit]
    try:
        done = subprocess.run(
            argv, capture_output=True, stdin=subprocess.DEVNULL, timeout=TIMEOUT,
            env={**os.environ, **ENVIRONMENT}, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        msg = f"ansible-inventory -i {path}: no answer within {TIMEOUT:g}s"
        raise InventoryError(msg) from None
    except OSError as err:
        msg = f"cannot run ansible-inventory: {err.strerror or err}"
        raise InventoryError(msg) from None
    if done.returncode:
        # Ansible's error, then its causes ("<<< caused by >>>"); not the warnings.
        lines = done.stderr.decode("utf-8", "replace").splitlines()
        words = [
            line.strip() for line in lines
            if line.strip() and "[WARNING]" not in line and "<<<" not in line
        ]  # fmt: skip
        reason = escape_text("; ".join(words))[:500] or f"exit {done.returncode}"
        msg = f"ansible-inventory -i {path}: {reason}"
        raise InventoryError(msg)
    return parse_listing(done.stdout.decode("utf-8", "replace"), source=path)
