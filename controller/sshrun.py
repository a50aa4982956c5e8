"""SSH on paramiko: connect, verify host keys, authenticate, run commands on channels.

Connections go direct, through a ProxyCommand or through ProxyJump hops; nothing
ever prompts (no password, no passphrase, no host key question).

The one place where paramiko and socket errors become statuses (SshFailure).  Every
step has a deadline: paramiko's recv_exit_status() has none (paramiko#1815), and an
undrained stderr stalls a channel (paramiko#448), so both streams are read together.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import select
import socket
import threading
import time
from pathlib import Path
from typing import Callable
from typing import List
from typing import Optional

import paramiko

from controller.results import AUTH
from controller.results import DNS
from controller.results import HOSTKEY_CHANGED
from controller.results import HOSTKEY_UNKNOWN
from controller.results import UNREACHABLE
from controller.sshconfig import SshSettings
from controller.sshconfig import default_identities
from controller.transport import Completed
from controller.transport import StderrTail

log = logging.getLogger(__name__)

CONNECT_RETRIES = 3  # banner/EOF errors: sshd's MaxStartups refusing new handshakes


class SshFailure(Exception):
    """Connecting to a host failed; ``status`` is the target status to report."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


class HostKeys:
    """known_hosts files, plus the file where --accept-new records new keys."""

    def __init__(self, accept_new_file: Optional[str], accept_new: bool) -> None:
        self.accept_new_file = accept_new_file
        self.accept_new = accept_new
        self._lock = threading.Lock()

    def verify(self, settings: SshSettings, key: paramiko.PKey) -> None:
        """Accept a known key; never a changed one; an unknown one only if allowed."""
        files = list(settings.known_hosts)
        if self.accept_new_file:
            files.append(self.accept_new_file)
        known = paramiko.HostKeys()
        for path in files:
            if os.path.exists(path):
                try:
                    known.load(path)
                except (OSError, paramiko.SSHException) as err:
                    log.warning("cannot read known hosts %s: %s", path, err)
        entry = known.lookup(settings.address)
        fingerprint = key.fingerprint
        if entry is not None and key.get_name() in entry:
            if entry[key.get_name()] == key:
                return
            msg = (
                f"host key of {settings.address} has CHANGED ({fingerprint}); "
                "it does not match known_hosts: refusing to connect"
            )
            raise SshFailure(HOSTKEY_CHANGED, msg)
        if entry is not None and len(entry):
            msg = (
                f"host key of {settings.address} is a {key.get_name()} key ({fingerprint}) "
                f"but known_hosts has {', '.join(entry.keys())}: refusing to connect"
            )
            raise SshFailure(HOSTKEY_CHANGED, msg)
        if not (self.accept_new or settings.accept_new) or not self.accept_new_file:
            msg = (
                f"host key of {settings.address} is not known ({fingerprint}); verify it "
                "and add it to known_hosts, or run with --accept-new"
            )
            raise SshFailure(HOSTKEY_UNKNOWN, msg)
        self._record(settings, key)

    def _record(self, settings: SshSettings, key: paramiko.PKey) -> None:
        line = f"{settings.address} {key.get_name()} {key.get_base64()}\n"
        try:
            with self._lock:
                path = Path(self.accept_new_file or "")
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("a") as f:
                    f.write(line)
        except OSError as err:  # a full disk must not lose this host's answer
            log.warning(
                "%s: accepted host key %s for this run only; cannot record it in %s: %s",
                settings.name,
                key.fingerprint,
                self.accept_new_file,
                err.strerror or err,
            )
            return
        log.warning(
            "%s: accepted new host key %s, recorded in %s",
            settings.name,
            key.fingerprint,
            self.accept_new_file,
        )


def _load_keys(settings: SshSettings) -> List[paramiko.PKey]:
    keys: List[paramiko.PKey] = []
    if not settings.identities_only:
        try:
            keys += list(paramiko.Agent().get_keys())
        except paramiko.SSHException as err:
            log.debug("ssh-agent: %s", err)
    for path in settings.identity_files or default_identities():
        try:
            keys.append(paramiko.PKey.from_path(path))
        except paramiko.PasswordRequiredException:
            log.debug("%s: %s needs a passphrase; never prompting", settings.name, path)
        except (OSError, paramiko.SSHException, ValueError) as err:
            log.debug("%s: cannot load %s: %s", settings.name, path, err)
    return keys


class SshConnection:
    """One authenticated Transport to a host, shared by all its channels."""

    def __init__(
        self,
        transport: paramiko.Transport,
        settings: SshSettings,
        via: Optional[SshConnection] = None,
    ) -> None:
        self.transport = transport
        self.settings = settings
        self._via = via  # the jump host's connection, closed with this one

    def close(self) -> None:
        """Close the transport (and the jump host's, if any)."""
        self.transport.close()
        if self._via is not None:
            self._via.close()

    def run(
        self,
        command: str,
        *,
        stdin: bytes,
        on_stdout: Callable[[bytes], None],
        timeout: float,
    ) -> Completed:
        """Run a command on an exec channel, both streams drained, within a deadline."""
        deadline = time.monotonic() + timeout
        label = self.settings.name
        tail = StderrTail(label)
        try:
            channel = self.transport.open_session(timeout=timeout)
        except (paramiko.SSHException, OSError, EOFError) as err:
            msg = f"cannot open a channel: {str(err) or type(err).__name__}"
            raise SshFailure(UNREACHABLE, msg) from err
        try:
            channel.exec_command(command)
            done = _pump(channel, stdin, on_stdout, tail, deadline)
        except (paramiko.SSHException, OSError, EOFError) as err:
            msg = f"connection lost: {str(err) or type(err).__name__}"
            raise SshFailure(UNREACHABLE, msg) from err
        finally:
            channel.close()
        # paramiko reports -1 when the channel closed without an exit status.
        if done.returncode == -1 and not self.transport.is_active():
            msg = "connection lost before the command finished"
            raise SshFailure(UNREACHABLE, msg)
        return done


def _pump(
    channel: paramiko.Channel,
    stdin: bytes,
    on_stdout: Callable[[bytes], None],
    tail: StderrTail,
    deadline: float,
) -> Completed:
    channel.settimeout(0.0)
    sent = 0
    view = memoryview(stdin)
    if not stdin:
        channel.shutdown_write()
    while True:
        if time.monotonic() > deadline:
            return Completed(None, tail.text(), timed_out=True)
        busy = False
        if sent < len(stdin) and channel.send_ready():
            with contextlib.suppress(socket.timeout):
                sent += channel.send(bytes(view[sent : sent + 32768]))
            busy = True
            if sent >= len(stdin):
                channel.shutdown_write()
        while channel.recv_ready():
            on_stdout(channel.recv(1 << 16))
            busy = True
        while channel.recv_stderr_ready():
            tail.feed(channel.recv_stderr(1 << 16))
            busy = True
        drained = not (channel.recv_ready() or channel.recv_stderr_ready())
        ended = channel.eof_received or channel.closed
        if channel.exit_status_ready() and drained and ended:
            return Completed(channel.recv_exit_status(), tail.text())
        if channel.closed and not channel.exit_status_ready():
            msg = "channel closed without an exit status"
            raise EOFError(msg)
        if not busy:
            select.select([channel], [], [], 0.05)


def _open_socket(
    settings: SshSettings, timeout: float, via: Optional[SshConnection]
) -> object:
    if via is not None:
        try:
            return via.transport.open_channel(
                "direct-tcpip",
                (settings.hostname, settings.port),
                ("127.0.0.1", 0),
                max(1, int(timeout)),
            )
        except (paramiko.SSHException, OSError) as err:
            msg = f"jump host {via.settings.name} cannot reach {settings.address}: {err}"
            raise SshFailure(UNREACHABLE, msg) from err
    if settings.proxy_command:
        command = (
            settings.proxy_command.replace("%h", settings.hostname)
            .replace("%p", str(settings.port))
            .replace("%r", settings.user)
            .replace("%%", "%")
        )
        try:
            return paramiko.ProxyCommand(command)
        except (paramiko.SSHException, OSError) as err:
            msg = f"ProxyCommand failed: {err}"
            raise SshFailure(UNREACHABLE, msg) from err
    try:
        return socket.create_connection((settings.hostname, settings.port), timeout)
    except socket.gaierror as err:
        msg = f"cannot resolve {settings.hostname}: {err.strerror}"
        raise SshFailure(DNS, msg) from err
    except socket.timeout as err:
        msg = f"no answer from {settings.address} within {timeout:g}s"
        raise SshFailure(UNREACHABLE, msg) from err
    except OSError as err:
        msg = f"cannot connect to {settings.address}: {err.strerror or err}"
        raise SshFailure(UNREACHABLE, msg) from err


def connect(
    settings: SshSettings,
    host_keys: HostKeys,
    timeout: float,
    via: Optional[SshConnection] = None,
) -> SshConnection:
    """Open an authenticated transport; retries handshakes that sshd refused early."""
    limit = min(timeout, settings.connect_timeout or timeout)
    for attempt in range(CONNECT_RETRIES):
        sock = _open_socket(settings, limit, via)
        transport = paramiko.Transport(sock)  # type: ignore[arg-type]
        transport.banner_timeout = limit
        transport.handshake_timeout = limit
        try:
            transport.start_client(timeout=limit)
            break
        except (paramiko.SSHException, EOFError, OSError) as err:
            transport.close()
            if attempt + 1 == CONNECT_RETRIES:
                msg = f"SSH handshake with {settings.address} failed: {str(err) or 'EOF'}"
                raise SshFailure(UNREACHABLE, msg) from err
            # sshd's MaxStartups drops handshakes beyond its limit: try again later.
            time.sleep(random.uniform(0.1, 0.5) * (attempt + 1))  # noqa: S311
    key = transport.get_remote_server_key()
    try:
        host_keys.verify(settings, key)
        _authenticate(transport, settings)
    except BaseException:
        transport.close()
        raise
    if settings.server_alive_interval:
        transport.set_keepalive(int(settings.server_alive_interval))
    return SshConnection(transport, settings, via)


def _authenticate(transport: paramiko.Transport, settings: SshSettings) -> None:
    keys = _load_keys(settings)
    for key in keys:
        try:
            transport.auth_publickey(settings.user, key)
        except paramiko.AuthenticationException:
            continue
        except (paramiko.SSHException, OSError, EOFError) as err:
            msg = f"authentication with {settings.address} failed: {err}"
            raise SshFailure(UNREACHABLE, msg) from err
        if transport.is_authenticated():
            return
    tried = f"{len(keys)} keys" if keys else "no keys (ssh-agent, IdentityFile)"
    msg = f"{settings.user}@{settings.address} refused our public keys (tried {tried})"
    raise SshFailure(AUTH, msg)
