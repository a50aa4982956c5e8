"""What OpenSSH users expect from ~/.ssh/config, resolved for one host (paramiko parses).

paramiko's SSHConfig only parses (keys lowercased, ProxyJump never acted on,
reference/fleet.md §5); this module turns a lookup into connection settings and
says once which directives sockstat ignores.
"""

from __future__ import annotations

import logging
import os
import shlex
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import List
from typing import Optional
from typing import Set

import paramiko

from common.errors import ConfigError
from common.format import escape_text
from controller.hostnames import BadTargetError
from controller.hostnames import check_hostname
from controller.hostnames import check_port
from controller.hostnames import check_user
from controller.inventory import HostSpec
from controller.inventory import parse_target

log = logging.getLogger(__name__)

DEFAULT_CONFIG = "~/.ssh/config"
DEFAULT_IDENTITIES = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")
DEFAULT_KNOWN_HOSTS = ("~/.ssh/known_hosts", "~/.ssh/known_hosts2")
GLOBAL_KNOWN_HOSTS = ("/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2")
# Directives that change nothing for a non-interactive survey, and what we act on.
HARMLESS = {"host", "match", "batchmode", "loglevel", "compression", "forwardagent",
            "forwardx11", "requesttty", "controlmaster", "controlpath", "controlpersist",
            "addkeystoagent", "hashknownhosts", "serveralivecountmax",
            "preferredauthentications", "pubkeyauthentication", "passwordauthentication",
            "kbdinteractiveauthentication", "sendenv", "setenv", "visualhostkey",
            "updatehostkeys"}  # fmt: skip
SUPPORTED = {"hostname", "port", "user", "identityfile", "identitiesonly", "proxyjump",
             "proxycommand", "userknownhostsfile", "globalknownhostsfile",
             "stricthostkeychecking", "connecttimeout", "serveraliveinterval"}  # fmt: skip
_warned: Set[str] = set()


@dataclass
class SshSettings:
    """How to reach one host."""

    name: str  # what the user called it: the host in every output
    hostname: str
    port: int = 22
    user: str = "root"
    identity_files: List[str] = field(default_factory=list)
    identities_only: bool = False
    proxy_jump: List[str] = field(default_factory=list)  # outermost jump first
    proxy_command: Optional[str] = None
    known_hosts: List[str] = field(default_factory=list)
    accept_new: bool = False  # StrictHostKeyChecking accept-new (or no)
    connect_timeout: Optional[float] = None
    server_alive_interval: Optional[float] = None

    @property
    def address(self) -> str:
        """host:port, as known_hosts and messages spell it."""
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"


class RawTokenConfig(paramiko.SSHConfig):
    """paramiko's parser, leaving ProxyCommand and ProxyJump tokens unexpanded.

    paramiko substitutes %h and %r into ProxyCommand as raw text, before sockstat
    could check the host name; they are expanded at connect time instead
    (controller/proxycommand.py), once the values are validated and quoted.
    """

    TOKENS_BY_CONFIG_KEY = {  # noqa: RUF012 - paramiko's own class attribute
        **paramiko.SSHConfig.TOKENS_BY_CONFIG_KEY,
        "proxycommand": ["~"],
        "proxyjump": [],
    }


def load_ssh_config(path: Optional[str]) -> paramiko.SSHConfig:
    """Load -F FILE, else ~/.ssh/config if it exists, else an empty config."""
    chosen = os.path.expanduser(path or DEFAULT_CONFIG)
    if path is None and not os.path.exists(chosen):
        return RawTokenConfig()
    try:
        with open(chosen, encoding="utf-8") as f:
            return RawTokenConfig.from_file(f)
    except OSError as err:
        msg = f"cannot read ssh_config {chosen}: {err.strerror or err}"
        raise ConfigError(msg) from None
    except (UnicodeDecodeError, paramiko.SSHException, ValueError) as err:
        msg = f"{chosen}: not a valid ssh_config: {escape_text(str(err))}"
        raise ConfigError(msg) from None


def _warn_ignored(options: dict[str, object]) -> None:
    for key in sorted(set(options) - SUPPORTED - HARMLESS):
        if key not in _warned:
            _warned.add(key)
            log.warning("ssh_config: ignoring %s (not supported by sockstat)", key)


def resolve(config: paramiko.SSHConfig, spec: HostSpec) -> SshSettings:
    """Resolve a host's settings: inventory values win, then ssh_config, then defaults.

    Raises BadTargetError for a host name, user or port OpenSSH would refuse, from
    wherever it came (argument, inventory, HostName, ProxyJump).
    """
    check_hostname(spec.address or spec.name)
    options = config.lookup(spec.address or spec.name)
    _warn_ignored(dict(options))
    settings = SshSettings(
        name=spec.name,
        hostname=check_hostname(spec.address or str(options.get("hostname", spec.name))),
        port=spec.port or check_port(options.get("port", 22), source="Port"),
        user=check_user(
            spec.user or str(options.get("user", os.environ.get("USER", "root")))
        ),
    )
    files: List[str] = list(options.get("identityfile") or [])
    settings.identity_files = [os.path.expanduser(f) for f in files]
    settings.identities_only = str(options.get("identitiesonly", "no")).lower() == "yes"
    jump = options.get("proxyjump")
    if jump and str(jump).lower() != "none":
        settings.proxy_jump = [j.strip() for j in str(jump).split(",") if j.strip()]
    command = options.get("proxycommand")
    if command and str(command).lower() != "none":
        try:  # the shell would refuse it at connect time: say so now, for this host
            shlex.split(str(command))
        except ValueError as err:
            msg = f"ProxyCommand {escape_text(str(command))!r}: {err}"
            raise BadTargetError(msg) from None
        settings.proxy_command = str(command)
    known = []
    for key, defaults in (
        ("userknownhostsfile", DEFAULT_KNOWN_HOSTS),
        ("globalknownhostsfile", GLOBAL_KNOWN_HOSTS),
    ):
        value = options.get(key)
        known += shlex.split(str(value)) if value else list(defaults)
    settings.known_hosts = [os.path.expanduser(k) for k in known if k != "/dev/null"]
    strict = str(options.get("stricthostkeychecking", "yes")).lower()
    settings.accept_new = strict in ("accept-new", "no", "off")
    if options.get("connecttimeout"):
        settings.connect_timeout = float(str(options["connecttimeout"]))
    if options.get("serveraliveinterval"):
        settings.server_alive_interval = float(str(options["serveraliveinterval"]))
    return settings


def resolve_jump(config: paramiko.SSHConfig, jump: str) -> SshSettings:
    """Resolve one ProxyJump hop (``[user@]host[:port]`` or an alias)."""
    return resolve(config, parse_target(jump))


def default_identities() -> List[str]:
    """Return the default identity files that exist."""
    return [
        str(Path(p).expanduser())
        for p in DEFAULT_IDENTITIES
        if Path(p).expanduser().exists()
    ]
