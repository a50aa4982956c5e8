"""A real PostgreSQL server for the history tests: initdb into a temporary directory.

Run as ``nobody`` (initdb and postgres refuse root), listening on a Unix socket in
its own directory only: nothing on the network.  Debian's ``postgresql`` package
provides the binaries (tests/run installs it where missing).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.conftest import require

USER = "nobody"


def postgres_bin() -> Path | None:
    """The directory of initdb and postgres: on PATH, or Debian's versioned one."""
    found = shutil.which("initdb")
    if found is not None:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


class Postgres:
    """One server; ``url`` reaches its ``postgres`` database as superuser sockstat."""

    def __init__(self) -> None:
        require(os.geteuid() == 0, "the PostgreSQL tests run the server as nobody")
        bindir = postgres_bin()
        require(bindir is not None, "PostgreSQL is not installed (initdb not found)")
        assert bindir is not None
        self.directory = Path(tempfile.mkdtemp(prefix="sockstat-pg-"))
        self.directory.chmod(0o755)
        self.data = self.directory / "data"
        self.socket_dir = self.directory / "run"
        for path in (self.data, self.socket_dir):
            path.mkdir()
        user = pwd.getpwnam(USER)
        for path in (self.directory, self.data, self.socket_dir):
            os.chown(path, user.pw_uid, user.pw_gid)
        self.as_user = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}",
                        "--clear-groups"]  # fmt: skip
        subprocess.run(
            [*self.as_user, str(bindir / "initdb"), "-D", str(self.data), "-U", "sockstat",
             "--auth=trust", "--no-sync", "-E", "UTF8"],
            check=True, capture_output=True, cwd=self.directory,
        )  # fmt: skip
        self.process = subprocess.Popen(
            [*self.as_user, str(bindir / "postgres"), "-D", str(self.data),
             "-k", str(self.socket_dir), "-c", "listen_addresses=", "-c", "fsync=off",
             "-c", "max_connections=40"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=self.directory,
        )  # fmt: skip
        self.url = f"postgresql://sockstat@/postgres?host={self.socket_dir}"
        deadline = time.monotonic() + 30
        while not (self.socket_dir / ".s.PGSQL.5432").exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                error = self.process.stderr.read() if self.process.stderr else b""
                self.stop()
                msg = f"postgres did not start: {error.decode(errors='replace')[-500:]}"
                raise RuntimeError(msg)
            time.sleep(0.05)

    def database(self, name: str) -> str:
        """Create a database; return its URL."""
        import psycopg  # noqa: PLC0415

        with psycopg.connect(self.url, autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://sockstat@/{name}?host={self.socket_dir}"

    def stop(self) -> None:
        """Stop the server and remove its files."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)
