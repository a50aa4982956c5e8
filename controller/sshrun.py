"""SSH on paramiko: connect, verify host keys, authenticate, run commands on channels.

Connections go direct, through a ProxyCommand or through ProxyJump hops; nothing
ever prompts (no password, no passphrase, no host key question).

The one place where paramiko and socket errors become TransportError statuses.  Every
step has a deadline: paramiko's recv_exit_status() has none (paramiko#1815), and an
undrained stderr stalls a channel (paramiko#448), so both streams are read together.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import random
import select
import shlex
import socket
import threading
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence
from typing import Set
from typing import Tuple

import paramiko
from paramiko.common import cMSG_CHANNEL_REQUEST

from common.errors import TransportError
from common.format import escape_text
from controller.cancel import RUN
from controller.knownhosts import HostEntry
from controller.knownhosts import KnownHosts
from controller.knownhosts import KnownKey
from controller.knownhosts import host_key_name
from controller.knownhosts import load_known_hosts
from controller.proxycommand import ProxyProcess
from controller.proxycommand import expand_proxy_command
from controller.status import Status
from controller.targets import SshSettings
from controller.transport import Completed
from controller.transport import StderrTail

TYPE_CHECKING = False
if TYPE_CHECKING:
    from controller.transport import Output

log = logging.getLogger(__name__)

CONNECT_RETRIES = 3  # banner/EOF errors: sshd's MaxStartups refusing new handshakes


class HostKeys:
    """known_hosts files, plus the file where --accept-new records new keys.

    Each file is read once per run; keys recorded during the run are kept in
    memory too, so a host listed twice is not asked about twice.
    """

    def __init__(self, accept_new_file: Optional[str], accept_new: bool) -> None:
        self.accept_new_file = accept_new_file
        self.accept_new = accept_new
        self._lock = threading.Lock()
        self._files: Dict[str, KnownHosts] = {}
        self._recorded: List[KnownKey] = []

    def entry(self, settings: SshSettings) -> HostEntry:
        """Return what the known_hosts files of these settings say about their host."""
        paths = list(settings.known_hosts)
        if self.accept_new_file:
            paths.append(self.accept_new_file)
        merged = KnownHosts()
        with self._lock:
            for path in paths:
                if path not in self._files:
                    self._files[path] = load_known_hosts([path])
                    for problem in self._files[path].unreadable:
                        log.warning("cannot read known hosts %s", problem)
                merged.keys += self._files[path].keys
            merged.keys += self._recorded
        return merged.lookup(*settings.known_hosts_name)

    def verify(self, settings: SshSettings, key: paramiko.PKey, entry: HostEntry) -> None:
        """Accept a known key; never a revoked or changed one; an unknown one if allowed."""
        kind, blob = key.get_name(), key.asbytes()
        fingerprint = key.fingerprint
        if blob in entry.revoked:
            msg = (
                f"host key of {settings.address} ({fingerprint}) is marked @revoked "
                "in known_hosts: refusing to connect"
            )
            raise TransportError(msg, status=Status.HOSTKEY_REVOKED)
        if (kind, blob) in entry.keys:
            return
        if any(known == kind for known, _ in entry.keys):
            msg = (
                f"host key of {settings.address} has CHANGED ({fingerprint}); "
                "it does not match known_hosts: refusing to connect"
            )
            raise TransportError(msg, status=Status.HOSTKEY_CHANGED)
        if entry.keys:
            msg = (
                f"host key of {settings.address} is a {kind} key ({fingerprint}) "
                f"but known_hosts has only {', '.join(entry.key_types)} keys for it, "
                "which the server did not offer: refusing to connect"
            )
            raise TransportError(msg, status=Status.HOSTKEY_CHANGED)
        if not (self.accept_new or settings.accept_new) or not self.accept_new_file:
            msg = (
                f"host key of {settings.address} is not known ({fingerprint}); verify it "
                "and add it to known_hosts, or run with --accept-new"
            )
            if entry.authorities:
                msg += (
                    f" (known_hosts trusts a @cert-authority for it, at "
                    f"{entry.authorities[0].where}; sockstat cannot verify host "
                    "certificates)"
                )
            raise TransportError(msg, status=Status.HOSTKEY_UNKNOWN)
        self._record(settings, key)

    def _record(self, settings: SshSettings, key: paramiko.PKey) -> None:
        name = host_key_name(*settings.known_hosts_name)
        line = f"{name} {key.get_name()} {key.get_base64()}\n"
        with self._lock:
            where = f"{self.accept_new_file} (this run)"
            known = KnownKey(None, name, key.get_name(), key.asbytes(), where)
            self._recorded.append(known)
            try:
                path = Path(self.accept_new_file or "")
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("a") as f:
                    f.write(line)
            except OSError as err:  # a full disk must not lose this host's answer
                log.warning(
                    "%s: accepted host key %s for this run only; cannot record it in "
                    "%s: %s",
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


# known_hosts key types -> the host-key algorithms that produce them, in paramiko's
# order of preference (an RSA key is offered as rsa-sha2-512/256: RFC 8332).
HOST_KEY_ALGORITHMS = {
    "ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256"),
    "ssh-ed25519": ("ssh-ed25519",),
    "ecdsa-sha2-nistp256": ("ecdsa-sha2-nistp256",),
    "ecdsa-sha2-nistp384": ("ecdsa-sha2-nistp384",),
    "ecdsa-sha2-nistp521": ("ecdsa-sha2-nistp521",),
}


def order_host_key_algorithms(available: Sequence[str], known: Sequence[str]) -> List[str]:
    """Put the algorithms of the host's known key types first, as OpenSSH does.

    sshconnect.c order_hostkeyalgs(): a host whose recorded key is RSA is asked for
    RSA, so a server that also has an ed25519 key is not reported as changed.

    >>> order_host_key_algorithms(["ssh-ed25519", "rsa-sha2-512"], ["ssh-rsa"])
    ['rsa-sha2-512', 'ssh-ed25519']
    """
    first = [
        algorithm
        for kind in known
        for algorithm in HOST_KEY_ALGORITHMS.get(kind, ())
        if algorithm in available
    ]
    return list(dict.fromkeys([*first, *available]))


def _load_keys(settings: SshSettings) -> List[paramiko.PKey]:
    keys: List[paramiko.PKey] = []
    if not settings.identities_only:
        try:
            keys += list(paramiko.Agent().get_keys())
        except paramiko.SSHException as err:
            log.debug("ssh-agent: %s", err)
    for path in settings.identity_files:
        try:
            keys.append(paramiko.PKey.from_path(path))
        except paramiko.PasswordRequiredException:
            log.debug("%s: %s needs a passphrase; never prompting", settings.name, path)
        except Exception as err:  # any key file that cannot be loaded is skipped
            # paramiko 5 raises TypeError for an encrypted OpenSSH key and ValueError
            # or SSHException for others: sockstat never prompts, so every key file
            # it cannot load is passed over, as ssh -o BatchMode=yes does.
            log.debug("%s: skipping %s: %s", settings.name, path, err)
    return keys


class SshConnection:
    """One authenticated Transport to a host, shared by all its channels."""

    def __init__(
        self,
        transport: paramiko.Transport,
        settings: SshSettings,
        via: Optional[SshConnection] = None,
        proxy: Optional[ProxyProcess] = None,
    ) -> None:
        self.transport = transport
        self.settings = settings
        self._via = via  # the jump host's connection, closed with this one
        self._proxy = proxy  # the ProxyCommand it runs through, killed on close
        self._channels: Set[paramiko.Channel] = set()  # commands still running
        # A cancelled run kills the running commands and closes the transport under
        # its channels: they fail at once.
        self._cancel_key = RUN.register(self._abort)

    def _abort(self) -> None:
        for channel in list(self._channels):
            _kill_remote(channel)
        self.transport.close()

    def close(self) -> None:
        """Close the transport (and the jump host's, and any ProxyCommand)."""
        RUN.unregister(self._cancel_key)
        self.transport.close()
        if self._proxy is not None:
            self._proxy.close()
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
            raise TransportError(msg, status=Status.UNREACHABLE) from err
        self._channels.add(channel)
        try:
            # Not channel.exec_command(), which waits for sshd's reply: one round trip
            # per command.  A refused exec closes the channel without an exit status.
            _request(channel, "exec", command)
            done = _pump(channel, stdin, on_stdout, tail, deadline)
        except (paramiko.SSHException, OSError, EOFError) as err:
            RUN.check()  # the cancellation closed the transport under us
            msg = f"connection lost: {str(err) or type(err).__name__}"
            raise TransportError(msg, status=Status.UNREACHABLE) from err
        finally:
            self._channels.discard(channel)
            if not channel.exit_status_ready():  # timed out, interrupted, bad output
                _kill_remote(channel)
            channel.close()
        # paramiko reports -1 when the channel closed without an exit status.
        if done.returncode == -1 and not self.transport.is_active():
            msg = "connection lost before the command finished"
            raise TransportError(msg, status=Status.UNREACHABLE)
        return done


@dataclass(frozen=True)
class SshRunner:
    """Run commands on a host's exec channels (sshd hands the line to the login shell)."""

    connection: SshConnection

    @property
    def label(self) -> str:
        """The host's name."""
        return self.connection.settings.name

    def run(
        self, argv: Sequence[str], *, stdin: bytes, output: Output, timeout: float
    ) -> Completed:
        """Run argv, quoted for the remote shell, on a channel of its own."""
        return self.connection.run(
            shlex.join(argv), stdin=stdin, on_stdout=output.feed, timeout=timeout
        )


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
        RUN.check()
        if time.monotonic() > deadline:
            return tail.completed(None, timed_out=True)
        busy = False
        if sent < len(stdin) and channel.send_ready():
            try:
                sent += channel.send(bytes(view[sent : sent + 32768]))
            except socket.timeout:
                pass
            except OSError:
                # A command may exit without reading its input (sudo -n refusing,
                # a shell without python): the channel closes while we still send.
                # Its exit status and stderr are still to be read, and say why.
                if not channel.closed:
                    raise
                sent = len(stdin)
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
            return tail.completed(channel.recv_exit_status())
        if channel.closed and not channel.exit_status_ready():
            msg = "channel closed without an exit status"
            raise EOFError(msg)
        if not busy:
            select.select([channel], [], [], 0.05)


def _request(channel: paramiko.Channel, kind: str, argument: str) -> None:
    """Send a channel request (RFC 4254 section 6) without asking for a reply."""
    message = paramiko.Message()
    message.add_byte(cMSG_CHANNEL_REQUEST)
    message.add_int(channel.remote_chanid)
    message.add_string(kind)
    message.add_boolean(False)  # want_reply: nothing to wait for
    message.add_string(argument)
    transport = channel.get_transport()
    transport._send_user_message(message)  # type: ignore[attr-defined]


def _kill_remote(channel: paramiko.Channel) -> None:
    """Ask sshd to kill the command's process group before the channel closes.

    Closing a channel does not stop what it runs: without a pty, a hung agent
    would outlive sockstat.  RFC 4254 section 6.9's "signal" request makes sshd
    killpg() the session (OpenSSH session.c session_signal_req, not for forced
    commands); paramiko has no call for it, so the request is written here.
    """
    if channel.closed or not channel.active:
        return
    with contextlib.suppress(paramiko.SSHException, OSError, EOFError):
        _request(channel, "signal", "KILL")


def _connect_within(sock: socket.socket, address: object, deadline: float) -> None:
    """Connect a non-blocking socket, checking for cancellation every 0.1 s."""
    code = sock.connect_ex(address)  # type: ignore[arg-type]
    while code in (errno.EINPROGRESS, errno.EALREADY):
        RUN.check()
        left = deadline - time.monotonic()
        if left <= 0:
            msg = "timed out"
            raise socket.timeout(msg)
        if select.select([], [sock], [], min(left, 0.1))[1]:
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if code:
        raise OSError(code, os.strerror(code))
    sock.setblocking(True)


def _connect_tcp(host: str, port: int, timeout: float) -> socket.socket:
    """Connect like socket.create_connection(), but give up at once when cancelled."""
    deadline = time.monotonic() + timeout
    msg = "timed out"
    failure: OSError = socket.timeout(msg)
    for family, kind, proto, _, address in socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM
    ):
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            _connect_within(sock, address, deadline)
        except OSError as err:
            sock.close()
            failure = err
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    raise failure


def _open_socket(
    settings: SshSettings, timeout: float, via: Optional[SshConnection]
) -> Tuple[object, Optional[ProxyProcess]]:
    """Return the socket to run SSH over: a jump channel, a ProxyCommand, or TCP."""
    if via is not None:
        try:
            channel = via.transport.open_channel(
                "direct-tcpip",
                (settings.hostname, settings.port),
                ("127.0.0.1", 0),
                max(1, int(timeout)),
            )
        except (paramiko.SSHException, OSError, EOFError) as err:
            msg = (
                f"jump host {via.settings.name} cannot reach {settings.address}: "
                f"{str(err) or type(err).__name__}"
            )
            raise TransportError(msg, status=Status.UNREACHABLE) from err
        return channel, None
    if settings.proxy_command:
        command = expand_proxy_command(
            settings.proxy_command,
            host=settings.hostname,
            host_arg=settings.host_arg or settings.name,
            port=settings.port,
            user=settings.user,
            alias=settings.host_key_alias,
        )
        proxy = ProxyProcess(command, label=settings.name)
        return proxy.sock, proxy
    try:
        return _connect_tcp(settings.hostname, settings.port, timeout), None
    except socket.gaierror as err:
        msg = f"cannot resolve {settings.hostname}: {err.strerror}"
        raise TransportError(msg, status=Status.DNS) from err
    except UnicodeError as err:  # getaddrinfo's IDNA encoding refused the name
        msg = f"cannot resolve {escape_text(settings.hostname)}: not a valid host name"
        raise TransportError(msg, status=Status.DNS) from err
    except socket.timeout as err:
        msg = f"no answer from {settings.address} within {timeout:g}s"
        raise TransportError(msg, status=Status.TIMEOUT) from err
    except OSError as err:
        msg = f"cannot connect to {settings.address}: {err.strerror or err}"
        raise TransportError(msg, status=Status.UNREACHABLE) from err


def _handshake_failure(
    settings: SshSettings,
    err: BaseException,
    proxy: Optional[ProxyProcess],
    *,
    waited: float,
    limit: float,
) -> Tuple[TransportError, bool]:
    """Name why the SSH handshake failed, and whether another try may help.

    Only a quick refusal (sshd's MaxStartups closing the connection) is worth a
    retry; a dead ProxyCommand or a silent server is not.
    """
    if proxy is not None:
        reason = proxy.failure()
        if reason is not None:
            failure = TransportError(
                f"{settings.address}: {reason}", status=Status.UNREACHABLE
            )
            return failure, False
    text = str(err) or type(err).__name__
    if waited >= limit * 0.95:
        msg = f"no SSH handshake from {settings.address} within {limit:.3g}s ({text})"
        return TransportError(msg, status=Status.TIMEOUT), False
    msg = f"SSH handshake with {settings.address} failed: {text}"
    return TransportError(msg, status=Status.UNREACHABLE), True


def connect(
    settings: SshSettings,
    host_keys: HostKeys,
    timeout: float,
    via: Optional[SshConnection] = None,
) -> SshConnection:
    """Open an authenticated transport within ``timeout`` seconds, all retries included.

    The jump connection ``via`` becomes the new connection's: closed with it, or
    at once if this one fails.
    """
    try:
        deadline = time.monotonic() + timeout
        entry = host_keys.entry(settings)
        transport, proxy = _handshake(settings, entry, deadline, via)
    except BaseException:
        if via is not None:
            via.close()
        raise
    connection = SshConnection(transport, settings, via, proxy)
    try:
        host_keys.verify(settings, transport.get_remote_server_key(), entry)
        _authenticate(transport, settings)
    except BaseException:
        connection.close()
        raise
    if settings.server_alive_interval:
        transport.set_keepalive(int(settings.server_alive_interval))
    return connection


def _close_handshake(transport: paramiko.Transport, proxy: Optional[ProxyProcess]) -> None:
    transport.close()
    if proxy is not None:
        proxy.close()


def _handshake(
    settings: SshSettings,
    entry: HostEntry,
    deadline: float,
    via: Optional[SshConnection],
) -> Tuple[paramiko.Transport, Optional[ProxyProcess]]:
    """Run the SSH handshake, retried (with jitter) only after a quick refusal.

    sshd's MaxStartups drops handshakes beyond its limit by closing at once; a
    handshake that times out, or a ProxyCommand that dies, is not retried.
    """
    for attempt in range(CONNECT_RETRIES):
        left = deadline - time.monotonic()
        limit = max(0.1, min(left, settings.connect_timeout or left))
        sock, proxy = _open_socket(settings, limit, via)
        transport = paramiko.Transport(sock)  # type: ignore[arg-type]
        options = transport.get_security_options()
        options.key_types = order_host_key_algorithms(options.key_types, entry.key_types)
        transport.banner_timeout = limit
        transport.handshake_timeout = limit

        close = partial(_close_handshake, transport, proxy)
        started = time.monotonic()
        try:
            with RUN.closing(close):
                transport.start_client(timeout=limit)
            RUN.check()
            # start_client() returns quietly when its timeout passes mid-handshake.
            if getattr(transport, "host_key", None) is None:
                msg = "no SSH banner or key exchange"
                raise paramiko.SSHException(msg)  # noqa: TRY301 - judged just below
        except (paramiko.SSHException, EOFError, OSError) as err:
            close()
            waited = time.monotonic() - started
            failure, retry = _handshake_failure(
                settings, err, proxy, waited=waited, limit=limit
            )
            pause = random.uniform(0.1, 0.5) * (attempt + 1)  # noqa: S311 - jitter
            last = attempt + 1 == CONNECT_RETRIES
            if last or not retry or deadline - time.monotonic() < pause:
                RUN.check()
                raise failure from err
            RUN.event.wait(pause)
            RUN.check()
            continue
        except BaseException:
            close()
            raise
        return transport, proxy
    msg = "no handshake attempted"  # pragma: no cover - the loop returns or raises
    raise TransportError(msg, status=Status.UNREACHABLE)


def _authenticate(transport: paramiko.Transport, settings: SshSettings) -> None:
    keys = _load_keys(settings)
    for key in keys:
        try:
            transport.auth_publickey(settings.user, key)
        except paramiko.AuthenticationException:
            continue
        except (paramiko.SSHException, OSError, EOFError) as err:
            msg = f"authentication with {settings.address} failed: {err}"
            raise TransportError(msg, status=Status.UNREACHABLE) from err
        if transport.is_authenticated():
            return
    tried = f"{len(keys)} keys" if keys else "no keys (ssh-agent, IdentityFile)"
    msg = f"{settings.user}@{settings.address} refused our public keys (tried {tried})"
    raise TransportError(msg, status=Status.AUTH)
