"""ProxyCommand as OpenSSH runs it: tokens expanded, ``exec``'d by a shell on a socket pair.

OpenSSH (sshconnect.c expand_proxy_command, ssh_proxy_connect) expands ``%h %n %p
%r %k %%`` in ``exec COMMAND`` and runs it with ``$SHELL -c``, the command's stdin
and stdout being one end of a socket pair.  Here every substituted value is also
quoted for the shell, so no host name, user or port can add a word to the command.
The process runs in a session of its own; closing the proxy kills that session.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import threading
from typing import Dict
from typing import Optional

from common.errors import TransportError
from controller.status import Status
from controller.transport import StderrTail

# ssh_config(5): "ProxyCommand accepts the tokens %%, %h, %n, %p, and %r" (%k too,
# sshconnect.c expand_proxy_command()).
PROXY_TOKENS = frozenset("hnprk%")


class ProxyCommandError(TransportError):
    """A ProxyCommand could not be expanded or started (its host is unreachable)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=Status.UNREACHABLE)


def expand_tokens(template: str, values: Dict[str, str], *, directive: str) -> str:
    """Expand ``%x`` tokens like OpenSSH's percent_expand(), quoting each value.

    >>> expand_tokens("nc %h %p", {"h": "web1", "p": "22"}, directive="ProxyCommand")
    'nc web1 22'
    >>> expand_tokens("nc %h %p", {"h": "a b", "p": "22"}, directive="ProxyCommand")
    "nc 'a b' 22"
    """
    out = []
    index = 0
    while index < len(template):
        char = template[index]
        if char != "%":
            out.append(char)
            index += 1
            continue
        key = template[index + 1 : index + 2]
        if key == "%":
            out.append("%")
        elif key in values:
            out.append(shlex.quote(values[key]))
        else:
            msg = f"{directive}: unknown token %{key or ''} in {template!r}"
            raise ProxyCommandError(msg)
        index += 2
    return "".join(out)


def expand_proxy_command(
    template: str,
    *,
    host: str,
    host_arg: str,
    port: int,
    user: str,
    alias: Optional[str] = None,
) -> str:
    """Return the shell command OpenSSH would run for this ProxyCommand."""
    values = {
        "h": host, "n": host_arg, "k": alias or host_arg, "p": str(port), "r": user,
    }  # fmt: skip
    return "exec " + expand_tokens(template, values, directive="ProxyCommand")


class ProxyProcess:
    """A running ProxyCommand: the socket paramiko talks through, and the process."""

    def __init__(self, command: str, *, label: str) -> None:
        self.command = command
        ours, theirs = socket.socketpair()
        shell = os.environ.get("SHELL") or "/bin/sh"
        try:
            self.process = subprocess.Popen(
                [shell, "-c", command],
                stdin=theirs.fileno(),
                stdout=theirs.fileno(),
                stderr=subprocess.PIPE,
                start_new_session=True,  # killed with its children on close()
            )
        except OSError as err:
            ours.close()
            msg = f"cannot run ProxyCommand with {shell}: {err.strerror or err}"
            raise ProxyCommandError(msg) from err
        finally:
            theirs.close()
        self.sock = ours
        self.tail = StderrTail(f"{label} ProxyCommand")
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        stream = self.process.stderr
        if stream is None:  # pragma: no cover - always a pipe
            return
        with contextlib.suppress(OSError, ValueError):
            while data := os.read(stream.fileno(), 1 << 14):
                self.tail.feed(data)

    def exit_status(self) -> Optional[int]:
        """Return the command's exit status if it has ended, else None."""
        return self.process.poll()

    def failure(self) -> Optional[str]:
        """Why the connection through this proxy broke, if the command has ended."""
        status = self.exit_status()
        if status is None:
            return None
        self._reader.join(0.5)
        lines = self.tail.text().splitlines()
        detail = f": {lines[-1]}" if lines else ""
        return f"ProxyCommand exited with status {status}{detail}"

    def close(self) -> None:
        """Close our end and end the command's session (it may not notice EOF)."""
        with contextlib.suppress(OSError):
            self.sock.close()
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(1.0)
