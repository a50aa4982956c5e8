"""Who to survey: HOST arguments and inventory files (plain lists, Ansible INI/YAML).

The name the user gave a host is its name in every output; the address, port and
user (from ``user@host:port`` or ``ansible_*`` variables) are kept beside it.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence
from typing import Set

from common.errors import FleetError
from common.format import escape_text

LOCAL = "local"
MAX_PORT = 65535
# [user@]host[:port]; a bracketed IPv6 address may carry the port: [::1]:2222.
_TARGET = re.compile(
    r"(?:(?P<user>[^@\s]+)@)?(?P<host>\[[^\]]+\]|[^:@\s]+)(?::(?P<port>\d+))?\Z"
)


class InventoryError(FleetError):
    """An inventory file or a host argument cannot be understood."""


@dataclass
class HostSpec:
    """One host to survey, as the user named it."""

    name: str
    address: Optional[str] = None  # None: let ssh_config's HostName decide
    port: Optional[int] = None
    user: Optional[str] = None
    groups: Set[str] = field(default_factory=set)

    @property
    def local(self) -> bool:
        """Whether this is the controller's own host (no SSH)."""
        return self.name == LOCAL


def parse_target(text: str) -> HostSpec:
    """Parse ``host``, ``user@host``, ``user@host:port`` or an ssh_config alias.

    >>> parse_target("root@web1:2222")
    HostSpec(name='web1', address=None, port=2222, user='root', groups=set())
    """
    match = _TARGET.match(text.strip())
    if match is None:
        msg = f"bad host {text!r}; expected host, user@host or user@host:port"
        raise InventoryError(msg)
    host = match.group("host").strip("[]")
    port = match.group("port")
    if port is not None and not 0 < int(port) < 65536:
        msg = f"bad port in {text!r}"
        raise InventoryError(msg)
    return HostSpec(host, None, int(port) if port else None, match.group("user"))


def _apply_vars(spec: HostSpec, variables: Dict[str, object], source: str) -> None:
    address = variables.get("ansible_host")
    if address is not None:
        spec.address = str(address)
    port = variables.get("ansible_port", variables.get("ansible_ssh_port"))
    if port is not None:
        text = str(port).strip()
        if isinstance(port, bool) or not text.isdigit() or not 0 < int(text) <= MAX_PORT:
            shown = escape_text(text)
            msg = f"{source}: bad ansible_port {shown!r} for {spec.name}; expected 1-65535"
            raise InventoryError(msg)
        spec.port = int(text)
    user = variables.get("ansible_user", variables.get("ansible_ssh_user"))
    if user is not None:
        spec.user = str(user)


class _Builder:
    """Hosts and groups as an inventory declares them, children resolved at the end."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.hosts: Dict[str, HostSpec] = {}
        self.children: Dict[str, Set[str]] = {}
        self.members: Dict[str, Set[str]] = {}
        self.group_vars: Dict[str, Dict[str, object]] = {}

    def host(self, name: str, group: Optional[str], variables: Dict[str, object]) -> None:
        spec = self.hosts.get(name)
        if spec is None:
            spec = self.hosts[name] = parse_target(name) if ":" in name else HostSpec(name)
            if ":" in name:
                self.hosts[spec.name] = self.hosts.pop(name)
                name = spec.name
        _apply_vars(spec, variables, self.source)
        if group:
            self.members.setdefault(group, set()).add(name)

    def finish(self) -> List[HostSpec]:
        def expand(group: str, seen: Set[str]) -> Set[str]:
            if group in seen:
                return set()
            seen.add(group)
            found = set(self.members.get(group, set()))
            for child in self.children.get(group, set()):
                found |= expand(child, seen)
            return found

        for group in set(self.members) | set(self.children):
            for name in expand(group, set()):
                self.hosts[name].groups.add(group)
        for group, variables in self.group_vars.items():
            for name in expand(group, set()):
                spec = self.hosts[name]
                before = (spec.address, spec.port, spec.user)
                _apply_vars(spec, variables, self.source)
                # Host variables win over group variables.
                spec.address = before[0] or spec.address
                spec.port = before[1] or spec.port
                spec.user = before[2] or spec.user
        return list(self.hosts.values())


def _parse_value(text: str) -> object:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def parse_ini_inventory(text: str, *, source: str = "inventory") -> List[HostSpec]:
    """Parse an Ansible INI inventory: groups, ``:children``, ``:vars``, host vars."""
    builder = _Builder(source)
    section, kind = "ungrouped", "hosts"
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                msg = f"malformed line {lineno} in {source}: {raw!r}"
                raise InventoryError(msg)
            section, _, kind = line[1:-1].partition(":")
            kind = kind or "hosts"
            continue
        if kind == "children":
            builder.children.setdefault(section, set()).add(line.split()[0])
        elif kind == "vars":
            key, _, value = line.partition("=")
            builder.group_vars.setdefault(section, {})[key.strip()] = _parse_value(value)
        else:
            name, *pairs = line.split()
            variables: Dict[str, object] = {}
            for pair in pairs:
                key, sep, value = pair.partition("=")
                if not sep:
                    msg = f"malformed host variable {pair!r} on line {lineno} in {source}"
                    raise InventoryError(msg)
                variables[key] = _parse_value(value)
            builder.host(name, None if section == "ungrouped" else section, variables)
    return builder.finish()


def parse_yaml_inventory(text: str, *, source: str = "inventory") -> List[HostSpec]:
    """Parse an Ansible YAML inventory: ``all: {hosts, vars, children}``, nested."""
    import yaml  # noqa: PLC0415 - only YAML inventories need it

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        msg = f"{source}: not valid YAML: {err}"
        raise InventoryError(msg) from None
    if not isinstance(data, dict):
        msg = f"{source}: a YAML inventory is a mapping of groups"
        raise InventoryError(msg)
    builder = _Builder(source)

    def mapping(value: object, what: str) -> Dict[str, object]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            shown = escape_text(repr(value))[:60]
            msg = f"{source}: {what} must be a mapping, not {shown}"
            raise InventoryError(msg)
        return {str(k): v for k, v in value.items()}

    def walk(group: str, body: object) -> None:
        if body is None:
            return
        if not isinstance(body, dict):
            msg = f"{source}: group {group!r} must be a mapping"
            raise InventoryError(msg)
        hosts = mapping(body.get("hosts"), f"hosts of group {group!r}")
        for name, declared in hosts.items():
            variables = mapping(declared, f"variables of host {name!r}")
            builder.host(str(name), group if group != "all" else None, variables)
        group_vars = mapping(body.get("vars"), f"vars of group {group!r}")
        if group_vars:
            builder.group_vars.setdefault(group, {}).update(group_vars)
        children = mapping(body.get("children"), f"children of group {group!r}")
        for child, child_body in children.items():
            builder.children.setdefault(group, set()).add(str(child))
            walk(str(child), child_body)

    for group, body in data.items():
        walk(str(group), body)
    return builder.finish()


def parse_plain_inventory(text: str, *, source: str = "inventory") -> List[HostSpec]:
    """Parse one target per line (``[user@]host[:port]``), ``#`` comments."""
    specs = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            specs.append(parse_target(line))
    return specs


def load_inventory(path: str) -> List[HostSpec]:
    """Read an inventory file in whichever of the three formats it is."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as err:
        msg = f"cannot read inventory {path}: {err.strerror or err}"
        raise InventoryError(msg) from err
    except UnicodeDecodeError as err:
        msg = f"{path}: not a text inventory (byte {err.start} is not UTF-8)"
        raise InventoryError(msg) from None
    stripped = [
        line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"
    ]
    if path.endswith((".yml", ".yaml")) or (
        stripped and stripped[0].rstrip().endswith(":")
    ):
        return parse_yaml_inventory(text, source=path)
    if any(line.startswith("[") or "=" in line for line in stripped):
        return parse_ini_inventory(text, source=path)
    return parse_plain_inventory(text, source=path)


def limit_hosts(specs: Sequence[HostSpec], pattern: Optional[str]) -> List[HostSpec]:
    """Keep the hosts an Ansible-style --limit pattern selects.

    Names, groups and globs, in ``:`` or ``,`` lists; ``!`` excludes, ``&`` intersects.
    """
    if not pattern:
        return list(specs)
    chosen: Set[str] = set()
    words = [w for w in re.split(r"[:,]", pattern) if w]
    if words and words[0].startswith(("!", "&")):
        chosen = {spec.name for spec in specs}

    def matching(word: str) -> Set[str]:
        return {
            spec.name
            for spec in specs
            if fnmatch.fnmatch(spec.name, word)
            or any(fnmatch.fnmatch(g, word) for g in spec.groups)
        }

    for word in words:
        if word.startswith("!"):
            chosen -= matching(word[1:])
        elif word.startswith("&"):
            chosen &= matching(word[1:])
        else:
            chosen |= matching(word)
    return [spec for spec in specs if spec.name in chosen]
