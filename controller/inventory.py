"""Ansible inventories read as Ansible reads them, where ``ansible-inventory`` is missing.

Follows ansible-core 2.19: plugins/inventory/ini.py and yaml.py (the two file
formats), parsing/utils/addresses.py and plugins/inventory/__init__.py (host
patterns with ports and ``[01:03]``/``[a:c]`` ranges), inventory/data.py (the
implicit ``all`` and ``ungrouped`` groups), inventory/group.py (group depth and
host order), inventory/helpers.py and vars/manager.py (variable precedence:
``all``, then groups by depth, priority and name, then ``group_vars/`` files the
same way, then the host's own variables and ``host_vars/`` files).  The same
corpus of inventories holds it to ``ansible-inventory``'s answers
(tests/test_inventory_judged.py).  Pattern selection is controller/patterns.py.
"""

from __future__ import annotations

import ast
import ipaddress
import os
import re
import shlex
import string
from pathlib import Path
from typing import Dict
from typing import List
from typing import Optional
from typing import Tuple

from common.errors import FleetError
from common.format import escape_text

Variables = Dict[str, object]
# ansible/constants.py: YAML_FILENAME_EXTENSIONS, and the files a directory
# inventory skips (INVENTORY_IGNORE_EXTS, INVENTORY_IGNORE_PATTERNS).
VARS_EXTENSIONS = ("", ".yml", ".yaml", ".json")
# constants.py REJECT_EXTS + [".orig", ".cfg", ".retry"]; manager.py IGNORED_ALWAYS.
IGNORED_SUFFIXES = (".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst",
                    ".orig", ".cfg", ".retry")  # fmt: skip
IGNORED_NAMES = ("host_vars", "group_vars", "vars_plugins")
YAML_SUFFIXES = ("", ".yml", ".yaml", ".json")  # yaml.py verify_file()


class InventoryError(FleetError):
    """An inventory, or a host in it, cannot be understood."""


class Vaulted:
    """A value encrypted with ansible-vault: never decrypted by sockstat."""

    __slots__ = ("ciphertext",)

    def __init__(self, ciphertext: str) -> None:
        self.ciphertext = ciphertext

    def __repr__(self) -> str:
        return "<vault-encrypted>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vaulted) and other.ciphertext == self.ciphertext

    def __hash__(self) -> int:
        return hash(self.ciphertext)


class Unsafe(str):
    """A value marked ``!unsafe``: text Ansible never templates."""

    __slots__ = ()


class Group:
    """A group as inventory/group.py keeps it (children and hosts in their order)."""

    __slots__ = ("children", "hosts", "name", "parents", "priority", "vars")

    def __init__(self, name: str) -> None:
        self.name = name
        self.hosts: List[str] = []
        self.children: List[str] = []
        self.parents: List[str] = []
        self.vars: Variables = {}
        self.priority = 1  # ansible_group_priority


class Inventory:
    """Hosts, groups and their variables, with Ansible's implicit groups and rules."""

    def __init__(self) -> None:
        self.hosts: Dict[str, Variables] = {}  # each host's own variables
        self.groups: Dict[str, Group] = {}
        self.group_files: Dict[str, Variables] = {}  # group_vars/ beside the source
        self.host_files: Dict[str, Variables] = {}  # host_vars/
        self._depth: Dict[str, int] = {}
        self.add_group("all")
        self.add_group("ungrouped")
        self.add_child("all", "ungrouped")

    def add_group(self, name: str) -> Group:
        """Return the group, declaring it if new."""
        if name not in self.groups:
            self.groups[name] = Group(name)
        return self.groups[name]

    def add_host(
        self, name: str, group: Optional[str] = None, port: Optional[int] = None
    ) -> None:
        """Declare a host (in a group); ``host:port`` sets its ansible_port once."""
        if not name:
            msg = "empty host name"
            raise InventoryError(msg)
        if name not in self.hosts:
            self.hosts[name] = {"ansible_port": port} if port else {}
        if group is not None:
            members = self.add_group(group).hosts
            if name not in members:
                members.append(name)

    def add_child(self, parent: str, child: str) -> None:
        """Make ``child`` a child group of ``parent``, refusing a loop (group.py)."""
        if parent == child or child in self.ancestors(parent):
            msg = f"adding group {child!r} to {parent!r} creates a loop"
            raise InventoryError(msg)
        upper, lower = self.add_group(parent), self.add_group(child)
        if child not in upper.children:
            upper.children.append(child)
            lower.parents.append(parent)

    def ancestors(self, name: str) -> set[str]:
        """Every group above this one."""
        found: set[str] = set()
        todo = list(self.groups[name].parents) if name in self.groups else []
        while todo:
            group = todo.pop()
            if group not in found:
                found.add(group)
                todo.extend(self.groups[group].parents)
        return found

    def reconcile(self) -> None:
        """Apply data.py reconcile_inventory(): every group under all, ungrouped hosts."""
        for name in list(self.groups):
            if name != "all" and not self.groups[name].parents:
                self.add_child("all", name)
        ungrouped = self.groups["ungrouped"]
        for host in self.hosts:
            direct = {g.name for g in self.groups.values() if host in g.hosts}
            if direct - {"all", "ungrouped"}:
                if host in ungrouped.hosts:
                    ungrouped.hosts.remove(host)
            elif host not in ungrouped.hosts:
                ungrouped.hosts.append(host)
        self._depth = {}
        for name, group in self.groups.items():
            priority = group.vars.get("ansible_group_priority")
            if priority is not None:
                try:
                    group.priority = int(str(priority))
                except ValueError:
                    msg = (
                        f"group {name}: ansible_group_priority {priority!r} is not a number"
                    )
                    raise InventoryError(msg) from None

    def depth(self, name: str) -> int:
        """Return the longest path from ``all`` to the group (as group.py keeps it)."""
        if name not in self._depth:
            parents = self.groups[name].parents
            self._depth[name] = 1 + max(map(self.depth, parents)) if parents else 0
        return self._depth[name]

    def group_hosts(self, name: str) -> List[str]:
        """Return the hosts of a group and its descendants, in group.py's order."""
        order = [name, *self.groups[name].children]
        seen = set(order)
        level = list(self.groups[name].children)
        while level:  # breadth first, as group.py _walk_relationship(preserve_ordering)
            below = []
            for group in level:
                for child in self.groups[group].children:
                    if child not in seen:
                        seen.add(child)
                        order.append(child)
                        below.append(child)
            level = below
        hosts: Dict[str, None] = {}
        for group in order:
            hosts.update(dict.fromkeys(self.groups[group].hosts))
        return list(hosts)

    def host_groups(self, host: str) -> List[Group]:
        """Return the groups a host is in, directly or through a child group."""
        names = {g.name for g in self.groups.values() if host in g.hosts}
        for name in list(names):
            names |= self.ancestors(name)
        return [self.groups[n] for n in names]

    def variables(self, host: str) -> Variables:
        """Return the host's variables merged as vars/manager.py get_vars() does."""

        def ranked(groups: List[Group]) -> List[Group]:
            return sorted(groups, key=lambda g: (self.depth(g.name), g.priority, g.name))

        groups = ranked([g for g in self.host_groups(host) if g.name != "all"])
        merged: Variables = {}
        merged.update(self.groups["all"].vars)
        for group in groups:
            merged.update(group.vars)
        merged.update(self.group_files.get("all", {}))
        for group in groups:
            merged.update(self.group_files.get(group.name, {}))
        merged.update(self.hosts[host])
        merged.update(self.host_files.get(host, {}))
        merged.pop("ansible_group_priority", None)
        return merged


# parsing/utils/addresses.py, without the range-aware IPv4/IPv6 grammar: an address
# that is not a valid host name is kept whole, as ini.py does on a parse failure.
_BRACKETED_PORT = re.compile(r"\[(.+)\]:([0-9]+)\Z")
_HOST_PORT = re.compile(r"((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)\Z")
_RANGE = r"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]"
_LABEL = rf"(?:\w|{_RANGE})(?:[\w-]|{_RANGE})*(?<![_-])"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\Z", re.IGNORECASE)
_IPV4 = re.compile(r"(?:(?:[0-9]{1,3}|\[[0-9]+:[0-9]+(?::[0-9]+)?\])\.){3}"
                   r"(?:[0-9]{1,3}|\[[0-9]+:[0-9]+(?::[0-9]+)?\])\Z")  # fmt: skip
_HEX_RANGE = re.compile(r"\[[0-9a-f]+:[0-9a-f]+(?::[0-9]+)?\]", re.IGNORECASE)


def parse_address(text: str) -> Tuple[str, Optional[int]]:
    """Split ``host:port`` or ``[host]:port`` as Ansible's addresses.py does.

    Raises ValueError when what is left is not a host name or an address.
    """
    host, port = text, None
    for pattern in (_BRACKETED_PORT, _HOST_PORT):
        match = pattern.match(host)
        if match:
            host, port = match.group(1), int(match.group(2))
    if _IPV4.match(host) or _HOSTNAME.match(host):
        return host, port
    try:  # an IPv6 address, each range standing for one of its values
        ipaddress.IPv6Address(_HEX_RANGE.sub("0", host))
    except ValueError:
        pass
    else:
        return host, port
    msg = f"not a valid network hostname: {host}"
    raise ValueError(msg)


def expand_hostname_range(pattern: str) -> List[str]:
    """Expand ``web[01:03]``, ``db-[a:c]`` and ``[1:9:2]`` as Ansible does.

    >>> expand_hostname_range("web[01:03:2].example.com")
    ['web01.example.com', 'web03.example.com']
    """
    if "[" not in pattern:
        return [pattern]
    head, rest = pattern.split("[", 1)
    if "]" not in rest:
        msg = f"host range in {pattern!r} has no closing ']'"
        raise InventoryError(msg)
    body, tail = rest.split("]", 1)
    bounds = body.split(":")
    if len(bounds) not in (2, 3):
        msg = f"host range [{body}] must be begin:end or begin:end:step"
        raise InventoryError(msg)
    try:
        values = _range_values(bounds[0] or "0", bounds[1], bounds[2:])
    except ValueError:
        msg = f"bad host range [{body}] in {pattern!r}"
        raise InventoryError(msg) from None
    return [name for value in values for name in expand_hostname_range(head + value + tail)]


def _range_values(begin: str, end: str, step_text: List[str]) -> List[str]:
    """Return the values of one range; ValueError when Ansible would refuse it."""
    step = int(step_text[0]) if step_text else 1
    if not end or not step:  # a negative step is an empty range, as range() makes it
        raise ValueError(end)
    letters = string.ascii_letters
    if begin in letters and end in letters:
        first, last = letters.index(begin), letters.index(end)
        if first > last:
            raise ValueError(end)
        return list(letters[first : last + 1 : step])
    width = len(begin) if begin.startswith("0") and len(begin) > 1 else 0
    if width and width != len(end):
        raise ValueError(end)
    return [str(n).zfill(width) for n in range(int(begin), int(end) + 1, step)]


def expand_host_pattern(pattern: str) -> Tuple[List[str], Optional[int]]:
    """Return the host names and port of a host pattern (``web[1:3]:2222``)."""
    try:
        host, port = parse_address(pattern)
    except ValueError:
        host, port = pattern, None
    if pattern.strip().endswith(":") and port is None:
        msg = f"invalid host pattern {pattern!r}: a trailing ':' is reserved for a port"
        raise InventoryError(msg)
    return expand_hostname_range(host), port


def ini_value(text: str) -> object:
    """Turn an INI value into what ini.py _parse_value() makes of it."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    return _plain(value)


def _plain(value: object) -> object:
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(_plain(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    if value is ... or isinstance(value, complex):
        return "..." if value is ... else str(value)
    return value


def ini_host_line(line: str) -> Tuple[List[str], Optional[int], Variables]:
    """Parse ``pattern[:port] key=value ...`` (ini.py _parse_host_definition()).

    Raises ValueError saying what is wrong with the line.
    """
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as err:
        msg = f"cannot parse host line: {err}"
        raise ValueError(msg) from None
    names, port = expand_host_pattern(tokens[0])
    variables: Variables = {}
    for token in tokens[1:]:
        key, sep, value = token.partition("=")
        if not sep:
            msg = f"expected key=value host variable, got {escape_text(token)!r}"
            raise ValueError(msg)
        variables[key] = ini_value(value)
    return names, port, variables


_SECTION = re.compile(r"\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?\Z")
_GROUP_NAME = re.compile(r"([^:\]\s]+)\s*(?:#.*)?\Z")


def parse_ini(text: str, inventory: Inventory, *, source: str) -> None:
    """Read an INI inventory into ``inventory`` (plugins/inventory/ini.py _parse())."""
    group, state = "ungrouped", "hosts"
    pending: Dict[str, Tuple[str, int, List[str]]] = {}  # group -> (state, line, parents)

    def fail(lineno: int, message: str) -> InventoryError:
        return InventoryError(f"{source} line {lineno}: {message}")

    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        section = _SECTION.match(line)
        if section:
            group, state = section.group(1), section.group(2) or "hosts"
            if state not in ("hosts", "children", "vars"):
                raise fail(lineno, f"section [{group}:{state}] has unknown type {state!r}")
            if group not in inventory.groups:
                if state == "vars" and group not in pending:
                    pending[group] = ("vars", lineno, [])
                inventory.add_group(group)
            if group in pending and state != "vars":
                _declare_pending(inventory, group, pending)
            continue
        if line.startswith("[") and line.endswith("]"):
            raise fail(lineno, f"invalid section {escape_text(line)!r}")
        if state == "hosts":
            try:
                names, port, variables = ini_host_line(line)
            except ValueError as err:
                raise fail(lineno, str(err)) from None
            for name in names:
                inventory.add_host(name, group, port)
                inventory.hosts[name].update(variables)
        elif state == "vars":
            key, sep, value = line.partition("=")
            if not sep:
                raise fail(lineno, f"expected key=value, got {escape_text(line)!r}")
            inventory.groups[group].vars[key.strip()] = ini_value(value.strip())
        else:
            match = _GROUP_NAME.match(line)
            if match is None:
                raise fail(lineno, f"expected a group name, got {escape_text(line)!r}")
            child = match.group(1)
            if child in inventory.groups:
                inventory.add_child(group, child)
            elif child in pending:
                pending[child][2].append(group)
            else:
                pending[child] = ("children", lineno, [group])
    for name, (state, lineno, parents) in pending.items():
        if state == "vars":
            raise fail(lineno, f"section [{name}:vars] is for a group never declared")
        raise fail(
            lineno, f"section [{parents[-1]}:children] names undeclared group {name!r}"
        )


def _declare_pending(
    inventory: Inventory, group: str, pending: Dict[str, Tuple[str, int, List[str]]]
) -> None:
    state, _, parents = pending.pop(group)
    if state != "children":
        return
    for parent in parents:
        inventory.add_child(parent, group)
        if parent in pending and pending[parent][0] == "children":
            _declare_pending(inventory, parent, pending)


def load_yaml(text: str, *, source: str) -> object:
    """Load YAML as Ansible's loader does: safe, with ``!vault`` and ``!unsafe``."""
    import yaml  # noqa: PLC0415 - only YAML inventories and vars files need it

    class Loader(yaml.SafeLoader):
        pass

    def vault(loader: yaml.SafeLoader, node: yaml.Node) -> Vaulted:
        return Vaulted(str(loader.construct_scalar(node)))  # type: ignore[arg-type]

    def unsafe(loader: yaml.SafeLoader, node: yaml.Node) -> object:
        if isinstance(node, yaml.ScalarNode):
            return Unsafe(loader.construct_scalar(node))
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node)
        return loader.construct_mapping(node)  # type: ignore[arg-type]

    Loader.add_constructor("!vault", vault)
    Loader.add_constructor("!unsafe", unsafe)
    try:
        return yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        msg = f"{source}: not valid YAML: {escape_text(str(err))}"
        raise InventoryError(msg) from None


class NotYaml(InventoryError):
    """What Ansible's yaml plugin refuses, leaving the file to its ini plugin."""


def parse_yaml(text: str, inventory: Inventory, *, source: str) -> None:
    """Read a YAML inventory into ``inventory`` (plugins/inventory/yaml.py parse())."""
    try:
        data = load_yaml(text, source=source)
    except InventoryError as err:
        raise NotYaml(str(err)) from None
    if not data:
        msg = f"{source}: empty YAML inventory"
        raise NotYaml(msg)
    if not isinstance(data, dict):
        msg = f"{source}: a YAML inventory is a mapping of groups"
        raise NotYaml(msg)
    if "plugin" in data:
        msg = f"{source}: an inventory plugin configuration; it needs ansible-inventory"
        raise InventoryError(msg)

    def walk(group: str, body: object, depth: int) -> str:
        if depth > 100:
            msg = f"{source}: groups nested more than 100 deep"
            raise InventoryError(msg)
        if not isinstance(body, dict) and body is not None:
            return group  # yaml.py skips it with a warning
        inventory.add_group(group)
        for key, value in (body or {}).items():
            section = {value: None} if isinstance(value, str) else value
            if key not in ("vars", "children", "hosts"):
                continue
            if section is None:
                continue
            if not isinstance(section, dict):
                msg = f"{source}: {key} of group {group!r} must be a mapping"
                raise InventoryError(msg)
            if key == "vars":
                inventory.groups[group].vars.update({str(k): v for k, v in section.items()})
            elif key == "children":
                for child, child_body in section.items():
                    inventory.add_child(group, walk(str(child), child_body, depth + 1))
            else:
                for pattern, variables in section.items():
                    if not isinstance(pattern, str):
                        msg = f"{source}: host pattern {pattern!r} must be a string"
                        raise InventoryError(msg)
                    if variables is not None and not isinstance(variables, dict):
                        msg = f"{source}: variables of host {pattern!r} must be a mapping"
                        raise InventoryError(msg)
                    names, port = expand_host_pattern(pattern)
                    for name in names:
                        inventory.add_host(name, group, port)
                        inventory.hosts[name].update(variables or {})
        return group

    for group, body in data.items():
        walk(str(group), body, 0)


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as err:
        msg = f"cannot read inventory {path}: {err.strerror or err}"
        raise InventoryError(msg) from None
    except UnicodeDecodeError as err:
        msg = f"{path}: not a text inventory (byte {err.start} is not UTF-8)"
        raise InventoryError(msg) from None


def read_source(path: Path, inventory: Inventory) -> None:
    """Read one inventory file (or each file of a directory, in name order)."""
    if path.is_dir():
        for child in sorted(path.iterdir()):
            if child.name in IGNORED_NAMES or child.name.startswith("."):
                continue
            if child.name.endswith(IGNORED_SUFFIXES):
                continue
            read_source(child, inventory)
        return
    if os.access(path, os.X_OK) and not path.is_dir():
        msg = f"{path}: an executable (dynamic) inventory; it needs ansible-inventory"
        raise InventoryError(msg)
    text = _read_text(path)
    if path.suffix not in YAML_SUFFIXES:
        parse_ini(text, inventory, source=str(path))
        return
    # Ansible tries its yaml plugin, then its ini plugin: a file without a suffix
    # may be either, and an empty or non-mapping YAML file is read as INI.
    try:
        parse_yaml(text, inventory, source=str(path))
    except NotYaml as err:
        try:
            parse_ini(text, inventory, source=str(path))
        except InventoryError:
            if path.suffix:
                raise err from None
            raise


def _vars_file(path: Path) -> Variables:
    text = _read_text(path)
    if text.startswith("$ANSIBLE_VAULT"):
        msg = f"{path}: a vault-encrypted vars file; sockstat does not decrypt vault files"
        raise InventoryError(msg)
    data = load_yaml(text, source=str(path))
    if data is None:
        return {}
    if not isinstance(data, dict):
        msg = f"{path}: a vars file must be a mapping"
        raise InventoryError(msg)
    return {str(k): v for k, v in data.items()}


def find_vars_files(directory: Path, name: str) -> List[Path]:
    """Return the vars files of a group or host, as Ansible's dataloader.py finds them."""
    for extension in VARS_EXTENSIONS:
        path = directory / (name + extension)
        if path.is_dir():
            return _directory_vars_files(path)
        if path.exists():
            return [path]
    return []


def _directory_vars_files(directory: Path) -> List[Path]:
    found = []
    for path in sorted(directory.iterdir(), key=lambda p: p.name):
        if path.name.startswith(".") or path.name.endswith("~"):
            continue
        if path.is_dir() and not path.suffix:
            found += _directory_vars_files(path)
        elif path.is_file() and path.suffix in VARS_EXTENSIONS:
            found.append(path)
    return found


def read_vars_dirs(base: Path, inventory: Inventory) -> None:
    """Read ``group_vars/`` and ``host_vars/`` beside the source (host_group_vars.py)."""
    for subdir, names, into in (
        ("group_vars", list(inventory.groups), inventory.group_files),
        ("host_vars", list(inventory.hosts), inventory.host_files),
    ):
        directory = base / subdir
        if not directory.is_dir():
            continue
        for name in names:
            merged: Variables = {}
            for path in find_vars_files(directory, name):
                merged.update(_vars_file(path))
            if merged:
                into[name] = merged


def load_inventory(path: str) -> Inventory:
    """Read an Ansible inventory file or directory, as Ansible would."""
    source = Path(path)
    inventory = Inventory()
    if not source.exists() and "," in path:
        # plugins/inventory/host_list.py: "web1,db1:2222," names hosts inline.
        for word in filter(None, (w.strip() for w in path.split(","))):
            try:
                host, port = parse_address(word)
            except ValueError:
                host, port = word, None
            inventory.add_host(host, "ungrouped", port)
        inventory.reconcile()
        return inventory
    if not source.exists():
        msg = f"cannot read inventory {path}: no such file or directory"
        raise InventoryError(msg)
    try:
        read_source(source, inventory)
        inventory.reconcile()
        read_vars_dirs(source if source.is_dir() else source.parent, inventory)
    except InventoryError as err:
        if str(err).startswith(path):
            raise
        msg = f"{path}: {err}"
        raise InventoryError(msg) from None
    return inventory
