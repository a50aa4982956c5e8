"""How each host is reached: its ssh_config resolved, jump hosts chained as OpenSSH does.

``ssh -G`` decides where the OpenSSH client is installed, the built-in reader
(controller/sshconfig.py) otherwise.  A ProxyJump list ``a,b,c`` is followed as
ssh.c follows it: the target is reached through ``c``, which ssh reaches with
``-J a,b`` on its command line (overriding c's own ProxyJump), and so on down to
the first hop, which uses its own ssh_config entirely (a ProxyJump or
ProxyCommand of its own included).  Each hop has its own address, port, user,
keys, known_hosts and host-key policy.

Tokens that ``ssh -G`` leaves as written (IdentityFile, ProxyCommand) are
expanded here, once HostName, port and user are final: paths raw, as
sshconnect.c does, and ProxyCommand quoted (controller/proxycommand.py).
"""

from __future__ import annotations

import os
import shutil
import threading
from dataclasses import dataclass
from dataclasses import field
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple

from common.errors import ConfigError
from common.format import escape_text
from controller.hostnames import BadTargetError
from controller.hostnames import check_hostname
from controller.hostnames import check_port
from controller.hostnames import check_user
from controller.hosts import HostSpec
from controller.sshconfig import BuiltinConfig
from controller.sshconfig import Options
from controller.sshconfig import SshG
from controller.sshconfig import connection_tokens
from controller.sshconfig import expand_tokens
from controller.sshconfig import tilde

MAX_JUMPS = 16  # a ProxyJump chain longer than this is a loop in the config
NO_FILE = ("none", "/dev/null")


@dataclass
class SshSettings:
    """How to reach one host (or one jump host on the way to it)."""

    name: str  # what the user called it: the host in every output
    hostname: str
    port: int = 22
    user: str = "root"
    host_arg: str = ""  # what ssh was asked for (%n): the name, or ansible_host
    identity_files: List[str] = field(default_factory=list)  # expanded, in order
    identities_only: bool = False
    jumps: List[SshSettings] = field(default_factory=list)  # outermost first
    proxy_command: Optional[str] = None  # as written: tokens expanded at connect
    known_hosts: List[str] = field(default_factory=list)  # user files, then global
    strict: str = "true"  # StrictHostKeyChecking as ssh -G prints it
    connect_timeout: Optional[float] = None
    server_alive_interval: Optional[float] = None
    host_key_alias: Optional[str] = None
    resolved_by: str = "ssh -G"

    @property
    def address(self) -> str:
        """host:port, as known_hosts and messages spell it."""
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"

    @property
    def accept_new(self) -> bool:
        """Whether ssh_config lets an unknown host key be accepted (never a changed one)."""
        return self.strict in ("accept-new", "false")

    @property
    def known_hosts_name(self) -> Tuple[str, int]:
        """The host and port looked up in known_hosts (HostKeyAlias replaces both)."""
        if self.host_key_alias:
            return self.host_key_alias, 22
        return self.hostname, self.port

    @property
    def policy(self) -> str:
        """The host-key policy, in words."""
        if self.accept_new:
            return f"accept new keys (StrictHostKeyChecking {self.strict})"
        return f"known keys only (StrictHostKeyChecking {self.strict})"


def parse_jump(text: str) -> List[Tuple[Optional[str], str, Optional[int], str]]:
    """Split a ProxyJump list into (user, host, port, as written) (readconf.c parse_jump).

    >>> parse_jump("alice@j1:2200,ssh://j2")
    [('alice', 'j1', 2200, 'alice@j1:2200'), (None, 'j2', None, 'ssh://j2')]
    """
    hops = []
    for written in text.split(","):
        hop = written.strip()
        body = hop[len("ssh://") :] if hop.startswith("ssh://") else hop
        user, at, rest = body.rpartition("@")
        if not at:
            user = ""
        port: Optional[int] = None
        if rest.startswith("["):
            host, _, after = rest[1:].partition("]")
            if after.startswith(":"):
                port = check_port(after[1:], source=f"port in ProxyJump {hop!r}")
        else:
            host, colon, port_text = rest.partition(":")
            if colon:
                port = check_port(port_text, source=f"port in ProxyJump {hop!r}")
        if not host:
            msg = f"invalid ProxyJump {escape_text(text)!r}"
            raise BadTargetError(msg)
        hops.append((user or None, host, port, hop))
    return hops


def _seconds(values: Optional[List[str]]) -> Optional[float]:
    if not values or values[0] in ("none", "0"):
        return None
    return float(values[0])


class Resolver:
    """Resolve hosts against ssh_config (``-F``, or the user's and the system's)."""

    def __init__(self, config_path: Optional[str], *, ssh: Optional[str] = None) -> None:
        chosen = ssh if ssh is not None else _ssh_client()
        self.source: SshG | BuiltinConfig = (
            SshG(config_path, chosen) if chosen else BuiltinConfig(config_path)
        )
        self._cache: Dict[Tuple[object, ...], SshSettings] = {}
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """Which resolver decides: ``ssh -G`` or ``built-in``."""
        return self.source.name

    def resolve(self, spec: HostSpec) -> SshSettings:
        """Return how to reach one host, its jump hosts included.

        Raises BadTargetError for a host that cannot be reached as given (a bad
        name, user, port or inventory value; a config ssh refuses for it).
        """
        if spec.problem:
            raise BadTargetError(spec.problem)
        if spec.source in ("argument", "plain list"):
            return self._resolve(
                spec.name, spec.host_arg, user=spec.user, port=spec.port,
                extra=spec.ssh_g_args(), depth=0,
            )  # fmt: skip
        return self._resolve(
            spec.name, spec.host_arg, user=None, port=None, extra=spec.ssh_g_args(),
            depth=0,
        )  # fmt: skip

    def _resolve(
        self,
        name: str,
        host: str,
        *,
        user: Optional[str],
        port: Optional[int],
        extra: Sequence[str],
        depth: int,
    ) -> SshSettings:
        if depth > MAX_JUMPS:
            msg = f"ProxyJump chain of {name} is longer than {MAX_JUMPS} hops (a loop?)"
            raise BadTargetError(msg)
        key = (name, host, user, port, tuple(extra))
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        check_hostname(host)
        if user is not None:
            check_user(user)
        try:
            options = self.source.lookup(host, user=user, port=port, extra=extra)
        except ConfigError as err:
            raise BadTargetError(str(err)) from None
        settings = self._settings(name, host, options)
        jump = options.get("proxyjump", [""])[0]
        if jump and jump.lower() != "none":
            hops = parse_jump(jump)
            hop_user, hop_host, hop_port, written = hops[-1]
            rest = ",".join(h[3] for h in hops[:-1])
            last = self._resolve(
                written, hop_host, user=hop_user, port=hop_port,
                extra=("-J", rest) if rest else (), depth=depth + 1,
            )  # fmt: skip
            settings.jumps = [*last.jumps, _without_jumps(last)]
        with self._lock:
            self._cache[key] = settings
        return settings

    def _settings(self, name: str, host: str, options: Options) -> SshSettings:
        hostname = check_hostname(options.get("hostname", [host])[0])
        port = check_port(options.get("port", ["22"])[0], source="Port")
        user = check_user(options.get("user", ["root"])[0])
        alias = options.get("hostkeyalias", [None])[0]
        values = connection_tokens(
            host=hostname, host_arg=host, port=port, user=user, alias=alias
        )
        try:
            identities = [
                expand_tokens(tilde(path), values, environment=True)
                for path in options.get("identityfile", [])
            ]
            # ssh -G (and the built-in reader) print UserKnownHostsFile expanded.
            known = [
                tilde(path)
                for key in ("userknownhostsfile", "globalknownhostsfile")
                for path in options.get(key, [])
                if path.lower() not in NO_FILE
            ]
        except ConfigError as err:
            msg = f"{name}: {err}"
            raise BadTargetError(msg) from None
        command = options.get("proxycommand", [None])[0]
        try:
            timeout = _seconds(options.get("connecttimeout"))
            alive = _seconds(options.get("serveraliveinterval"))
        except ValueError:
            msg = f"{name}: bad ConnectTimeout or ServerAliveInterval"
            raise BadTargetError(msg) from None
        return SshSettings(
            name=name,
            hostname=hostname,
            port=port,
            user=user,
            host_arg=host,
            identity_files=list(dict.fromkeys(identities)),
            identities_only=options.get("identitiesonly", ["no"])[0] == "yes",
            proxy_command=None if not command or command.lower() == "none" else command,
            known_hosts=known,
            strict=options.get("stricthostkeychecking", ["ask"])[0],
            connect_timeout=timeout,
            server_alive_interval=alive,
            host_key_alias=alias,
            resolved_by=self.name,
        )


def with_run_options(
    settings: SshSettings, *, accept_new: bool, known: Optional[str]
) -> SshSettings:
    """Return the settings as a run applies them, every hop included.

    ``--accept-new``, and the known_hosts file where sockstat records accepted
    keys (sshrun.HostKeys reads it for every host).
    """
    strict = "accept-new" if accept_new and not settings.accept_new else settings.strict
    return SshSettings(**{
        **settings.__dict__,
        "strict": strict,
        "known_hosts": [*settings.known_hosts, *([known] if known else [])],
        "jumps": [with_run_options(j, accept_new=accept_new, known=known)
                  for j in settings.jumps],
    })  # fmt: skip


def _without_jumps(settings: SshSettings) -> SshSettings:
    return SshSettings(**{**settings.__dict__, "jumps": []})


def _ssh_client() -> Optional[str]:
    """Return the OpenSSH client to ask (None: ``SOCKSTAT_SSH_CONFIG_READER=builtin``)."""
    if os.environ.get("SOCKSTAT_SSH_CONFIG_READER", "auto") == "builtin":
        return None
    return shutil.which("ssh")
