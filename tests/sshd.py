"""Real OpenSSH servers for tests and benchmarks: throwaway keys, loopback ports."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from agent.collect import collect_snapshot
from agent.query import Query

SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def keygen(path: Path, kind: str = "ed25519") -> str:
    """Create a key pair without passphrase; return the public key line."""
    if not path.exists():
        subprocess.run(
            [
                "ssh-keygen",
                "-q",
                "-t",
                kind,
                "-N",
                "",
                "-C",
                "sockstat-test",
                "-f",
                str(path),
            ],
            check=True,
        )
    return Path(f"{path}.pub").read_text().strip()


def shared_dir(prefix: str) -> Path:
    """A directory every user can traverse (sshd reads authorized_keys as the user)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


@dataclass
class Sshd:
    """One sshd listening on address:port, optionally inside a network namespace."""

    directory: Path
    port: int
    address: str = "127.0.0.1"
    netns: str | None = None
    extra: str = ""
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def host_key(self) -> Path:
        return self.directory / f"host_key_{self.port}"

    def known_hosts_line(self) -> str:
        kind, blob = keygen(self.host_key).split()[:2]
        name = self.address if self.port == 22 else f"[{self.address}]:{self.port}"
        return f"{name} {kind} {blob}"

    def start(self) -> Sshd:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation dir
        keygen(self.host_key)
        config = self.directory / f"sshd_config_{self.port}"
        config.write_text(
            f"Port {self.port}\n"
            f"ListenAddress {self.address}\n"
            f"HostKey {self.host_key}\n"
            f"PidFile {self.directory}/sshd_{self.port}.pid\n"
            f"AuthorizedKeysFile {self.directory}/authorized_keys\n"
            "StrictModes no\n"
            "UsePAM no\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "PermitRootLogin prohibit-password\n"
            "MaxStartups 200:30:400\n"
            "MaxSessions 20\n"
            "LogLevel ERROR\n"
            f"{self.extra}\n"
        )
        argv = [SSHD, "-D", "-e", "-f", str(config)]
        if self.netns:
            argv = ["ip", "netns", "exec", self.netns, *argv]
        self.process = subprocess.Popen(
            argv, stderr=subprocess.DEVNULL, start_new_session=True
        )
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Poll until sshd answers with its banner."""
        end = time.monotonic() + timeout
        argv = ["sh", "-c", f"exec 3<>/dev/tcp/{self.address}/{self.port}"]
        while time.monotonic() < end:
            if self.netns:
                probe = ["ip", "netns", "exec", self.netns, "bash", "-c", argv[2]]
            else:
                probe = ["bash", "-c", argv[2]]
            if subprocess.run(probe, capture_output=True, check=False).returncode == 0:
                return
            if self.process is not None and self.process.poll() is not None:
                msg = f"sshd on port {self.port} exited ({self.process.returncode})"
                raise RuntimeError(msg)
            time.sleep(0.05)
        msg = f"sshd on port {self.port} did not start"
        raise RuntimeError(msg)

    def stop(self) -> None:
        """Kill this sshd and every session process still connected to its port.

        sshd puts each session in a session of its own (setsid), so the listener's
        process group is not enough; the holders of the port's sockets are found
        with sockstat's own agent.
        """
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process = None
        if self.netns is None:
            for sock in collect_snapshot(Query()).sockets:
                if sock.local_port == self.port:
                    for owner in sock.owners:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(owner.pid, signal.SIGKILL)
