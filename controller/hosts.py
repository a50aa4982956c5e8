"""Who to survey: TARGET arguments, a plain list, or an Ansible inventory.

A host keeps the name the user gave it in every output; how ssh reaches it (the
address, port, user, key and ssh options an inventory sets) is kept beside it and
handed to ssh_config resolution (controller/targets.py) as Ansible's ssh
connection plugin hands it to ``ssh``: ``-o Port=``, ``-o IdentityFile=``,
``-o User=``, then ``ansible_ssh_common_args`` and ``ansible_ssh_extra_args``.

Inventories are read by ``ansible-inventory`` where it is installed, else by the
built-in reader (controller/inventory.py, controller/patterns.py).  A value sockstat
cannot use (vault-encrypted, a Jinja template, a bad port) makes that host a
``bad-target`` naming the variable; the other hosts are still surveyed.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple

from common.format import escape_text
from controller.inventory import InventoryError
from controller.inventory import Unsafe
from controller.inventory import Vaulted

LOCAL = "local"
MAX_PORT = 65535
ARGUMENT = "argument"
PLAIN_LIST = "plain list"
ANSIBLE = "ansible-inventory"
BUILTIN = "built-in inventory reader"
# [user@]host[:port]; a bracketed IPv6 address may carry the port: [::1]:2222.
_TARGET = re.compile(
    r"(?:(?P<user>[^@\s]+)@)?(?P<host>\[[^\]]+\]|[^:@\s]+)(?::(?P<port>\d+))?\Z"
)
# The connection variables of Ansible's ssh plugin, in its order: the last one
# set wins (config/manager.py _loop_entries()).
HOST_VARS = ("ansible_host", "ansible_ssh_host")
PORT_VARS = ("ansible_port", "ansible_ssh_port")
USER_VARS = ("ansible_user", "ansible_ssh_user")
KEY_VARS = ("ansible_private_key_file", "ansible_ssh_private_key_file")
ARGS_VARS = ("ansible_ssh_common_args", "ansible_ssh_extra_args")
CHECKING_VARS = ("ansible_host_key_checking", "ansible_ssh_host_key_checking")
# ansible/module_utils/parsing/convert_bool.py BOOLEANS_FALSE
FALSE = frozenset({"n", "no", "off", "0", "false", "f", "0.0"})
SSH_CONNECTIONS = ("ssh", "paramiko", "paramiko_ssh", "smart")
# ssh flags without an argument that change nothing sockstat does.
IGNORED_FLAGS = frozenset("46AaCgKkMNnqsTtvXxYy")


@dataclass
class HostSpec:
    """One host to survey, as the user named it, and what says how to reach it."""

    name: str
    address: Optional[str] = None  # what ssh is asked for; None: the name
    port: Optional[int] = None  # from TARGET (ssh -p) or the inventory (-o Port=)
    user: Optional[str] = None
    identity_file: Optional[str] = None  # ansible_ssh_private_key_file
    ssh_args: Tuple[str, ...] = ()  # -o/-J options, from ansible_ssh_common_args
    ssh_args_first: Tuple[str, ...] = ()  # ansible_ssh_args, host key checking off
    groups: Tuple[str, ...] = ()
    source: str = ARGUMENT  # argument, plain list, ansible-inventory, built-in
    local: bool = False  # "local", or ansible_connection=local: no SSH
    problem: Optional[str] = None  # why this host cannot be reached as given
    variables: Dict[str, object] = field(default_factory=dict, repr=False)

    @property
    def host_arg(self) -> str:
        """The host name given to ssh (the inventory's ansible_host, else the name)."""
        return self.address or self.name

    def ssh_g_args(self) -> List[str]:
        """Return the options Ansible's ssh plugin would put before the host."""
        if self.source in (ARGUMENT, PLAIN_LIST):
            return list(self.ssh_args)
        args: List[str] = []
        if self.port is not None:
            args += ["-o", f"Port={self.port}"]
        if self.identity_file is not None:
            args += ["-o", f'IdentityFile="{self.identity_file}"']
        if self.user is not None:
            args += ["-o", f'User="{self.user}"']
        return [*self.ssh_args_first, *args, *self.ssh_args]


def parse_target(text: str, *, source: str = ARGUMENT) -> HostSpec:
    """Parse ``host``, ``user@host``, ``user@host:port`` or an ssh_config alias.

    >>> parse_target("root@web1:2222").port
    2222
    """
    match = _TARGET.match(text.strip())
    if match is None:
        msg = f"bad host {escape_text(text)!r}; expected host, user@host or user@host:port"
        raise InventoryError(msg)
    host = match.group("host").strip("[]")
    port = match.group("port")
    if port is not None and not 0 < int(port) <= MAX_PORT:
        msg = f"bad port in {escape_text(text)!r}"
        raise InventoryError(msg)
    return HostSpec(
        host, None, int(port) if port else None, match.group("user"),
        source=source, local=host == LOCAL and source == ARGUMENT,
    )  # fmt: skip


def _last(
    variables: Dict[str, object], names: Sequence[str]
) -> Tuple[Optional[str], object]:
    found: Tuple[Optional[str], object] = (None, None)
    for name in names:
        if variables.get(name) is not None:
            found = (name, variables[name])
    return found


class _Unusable(Exception):
    pass


def _text(host: str, name: str, value: object) -> str:
    if isinstance(value, Vaulted):
        msg = f"{name} is vault-encrypted; sockstat does not decrypt vault values"
        raise _Unusable(msg)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        msg = f"{name} is a {type(value).__name__}, not text"
        raise _Unusable(msg)
    text = str(value)
    if not isinstance(value, Unsafe) and any(m in text for m in ("{{", "{%", "{#")):
        shown = escape_text(text)
        msg = (
            f"{name} is a Jinja template ({shown!r}); sockstat does not evaluate templates"
        )
        raise _Unusable(msg)
    return text


def split_ssh_args(text: str, name: str) -> Tuple[str, ...]:
    """Keep the ssh options of ``ansible_ssh_common_args`` that decide the connection.

    ``-o OPTION`` and ``-J JUMPS`` (and ``-i KEY`` as ``-o IdentityFile``) go to
    ssh_config resolution; flags without a value are ignored; anything else is
    refused by name rather than dropped.
    """
    try:
        words = [w.strip() for w in shlex.split(text) if w.strip()]
    except ValueError as err:
        msg = f"{name}: {err}"
        raise _Unusable(msg) from None
    kept: List[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        flag, inline = word[:2], word[2:]
        if flag in ("-o", "-J", "-i"):
            value = inline or (words[index + 1] if index + 1 < len(words) else None)
            index += 1 if inline else 2
            if value is None:
                msg = f"{name}: {flag} needs a value"
                raise _Unusable(msg)
            if flag == "-i":
                if '"' in value:
                    msg = f"{name}: a key path with a double quote"
                    raise _Unusable(msg)
                kept += ["-o", f'IdentityFile="{os.path.expanduser(value)}"']
            else:
                kept += [flag, value]
            continue
        if (
            word.startswith("-")
            and len(word) > 1
            and all(c in IGNORED_FLAGS for c in word[1:])
        ):
            index += 1
            continue
        msg = f"{name}: sockstat cannot follow the ssh argument {escape_text(word)!r}"
        raise _Unusable(msg)
    return tuple(kept)


def spec_from_variables(
    name: str, variables: Dict[str, object], *, source: str, groups: Sequence[str] = ()
) -> HostSpec:
    """Build a host from its merged inventory variables, as the ssh plugin reads them."""
    spec = HostSpec(name, source=source, groups=tuple(groups), variables=variables)
    try:
        _connection(spec, variables)
    except _Unusable as err:
        spec.problem = f"inventory host {name}: {err}"
    return spec


def _connection(spec: HostSpec, variables: Dict[str, object]) -> None:
    """Fill in how to reach the host; _Unusable names a variable that cannot be used."""
    name = spec.name
    connection = variables.get("ansible_connection")
    if connection is not None:
        kind = _text(name, "ansible_connection", connection)
        for prefix in ("ansible.builtin.", "ansible.legacy."):  # the same plugins
            kind = kind[len(prefix) :] if kind.startswith(prefix) else kind
        if kind == "local":
            spec.local = True
            return
        if kind not in SSH_CONNECTIONS:
            msg = f"ansible_connection={escape_text(kind)}: sockstat reaches hosts over SSH"
            raise _Unusable(msg)
    var, value = _last(variables, HOST_VARS)
    if var is not None:
        spec.address = _text(name, var, value)
    var, value = _last(variables, PORT_VARS)
    if var is not None:
        port = _text(name, var, value).strip()
        if not port.isdigit() or not 0 < int(port) <= MAX_PORT:
            msg = f"{var}={escape_text(port)!r}: expected a port 1-{MAX_PORT}"
            raise _Unusable(msg)
        spec.port = int(port)
    var, value = _last(variables, USER_VARS)
    if var is not None:
        spec.user = _text(name, var, value)
    var, value = _last(variables, KEY_VARS)
    if var is not None:
        key = os.path.expanduser(_text(name, var, value))
        if '"' in key:
            msg = f"{var}: a key path with a double quote"
            raise _Unusable(msg)
        spec.identity_file = key
    args: List[str] = []
    for var in ARGS_VARS:
        if variables.get(var) is not None:
            args += split_ssh_args(_text(name, var, variables[var]), var)
    spec.ssh_args = tuple(args)
    # Before the port, key and user, as the ssh plugin orders them (first wins).
    first: List[str] = []
    if variables.get("ansible_ssh_args") is not None:
        text = _text(name, "ansible_ssh_args", variables["ansible_ssh_args"])
        first += split_ssh_args(text, "ansible_ssh_args")
    var, value = _last(variables, CHECKING_VARS)
    if var is not None and str(value).strip().lower() in FALSE:
        first += ["-o", "StrictHostKeyChecking=no"]  # unknown keys; never a changed one
    spec.ssh_args_first = tuple(first)


def is_plain_list(path: Path) -> bool:
    """Whether a file is sockstat's own list: ``[user@]host[:port]`` a line, some ``user@``.

    Anything else is an Ansible inventory (a list of bare names reads the same
    either way).
    """
    if (
        path.is_dir()
        or path.suffix in (".yml", ".yaml", ".json")
        or os.access(path, os.X_OK)
    ):
        return False
    try:
        lines = path.read_bytes().decode("utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return False
    words = [line.split("#", 1)[0].strip() for line in lines]
    words = [w for w in words if w]
    single = all(_TARGET.match(w) and not w.startswith("[") for w in words)
    return bool(words) and single and any("@" in w for w in words)


def load_plain_list(path: Path) -> List[HostSpec]:
    """Read one target per line (``[user@]host[:port]``), ``#`` comments."""
    specs = []
    for raw in path.read_bytes().decode("utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            specs.append(parse_target(line, source=PLAIN_LIST))
    return specs


def ansible_inventory_command() -> Optional[str]:
    """Return the ``ansible-inventory`` to ask, or None for the built-in reader.

    ``SOCKSTAT_INVENTORY_READER=builtin`` chooses the built-in reader (tests, and
    sites whose Ansible is broken); ``=ansible`` insists on Ansible.
    """
    choice = os.environ.get("SOCKSTAT_INVENTORY_READER", "auto")
    if choice == "builtin":
        return None
    found = shutil.which("ansible-inventory")
    if choice == "ansible" and found is None:
        msg = "SOCKSTAT_INVENTORY_READER=ansible, but ansible-inventory is not on PATH"
        raise InventoryError(msg)
    return found


def load_inventory_hosts(path: str, limit: Optional[str]) -> List[HostSpec]:
    """Return the hosts of an inventory that ``--limit`` keeps, in inventory order."""
    source = Path(path)
    if not source.exists() and "," not in path:  # "a,b," is Ansible's host list
        msg = f"cannot read inventory {path}: no such file or directory"
        raise InventoryError(msg)
    if source.exists() and is_plain_list(source):
        if limit:
            msg = f"--limit needs an Ansible inventory; {path} is a plain list of hosts"
            raise InventoryError(msg)
        return load_plain_list(source)
    command = ansible_inventory_command()
    if command is not None:
        from controller.ansible import run_ansible_inventory  # noqa: PLC0415

        inventory, chosen = run_ansible_inventory(path, limit, command=command)
        reader = ANSIBLE
    else:
        from controller.inventory import load_inventory  # noqa: PLC0415
        from controller.patterns import select  # noqa: PLC0415

        inventory = load_inventory(path)
        chosen = select(inventory, limit)
        reader = BUILTIN
    specs = []
    for name in chosen:
        groups = sorted(g.name for g in inventory.host_groups(name))
        specs.append(
            spec_from_variables(
                name, inventory.variables(name), source=reader, groups=groups
            )
        )
    return specs
