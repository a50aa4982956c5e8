"""Shared fixtures: live-test gating, real socket holders, the sockstat command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
REQUIRE_LIVE = os.environ.get("SOCKSTAT_REQUIRE_LIVE") == "1"


def require(condition: bool, reason: str) -> None:
    """Skip a live test whose prerequisite is missing; fail instead in CI."""
    if condition:
        return
    if REQUIRE_LIVE:
        pytest.fail(f"SOCKSTAT_REQUIRE_LIVE=1 but {reason}")
    pytest.skip(reason)


def require_root() -> None:
    require(os.geteuid() == 0, "this test needs root")


def require_tool(name: str) -> str:
    path = shutil.which(name)
    require(path is not None, f"{name!r} is not installed")
    assert path is not None
    return path


@dataclass
class Holder:
    """A running tests/holder.py and what it reported."""

    process: subprocess.Popen[str]
    report: dict[str, Any]
    tag: str

    @property
    def pid(self) -> int:
        return int(self.report["pid"])

    @property
    def child(self) -> int:
        return int(self.report["child"])

    def sock(self, name: str) -> dict[str, Any]:
        return dict(self.report["sockets"][name])

    def inode(self, name: str) -> int:
        return int(self.report["sockets"][name]["inode"])

    def port(self, name: str) -> int:
        return int(self.report["sockets"][name]["local"][1])


def start_holder(directory: Path, argv_prefix: list[str] | None = None) -> Holder:
    tag = uuid.uuid4().hex[:8]
    argv = [
        *(argv_prefix or []),
        sys.executable,
        str(TESTS / "holder.py"),
        tag,
        str(directory),
    ]
    process = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.kill()
        pytest.fail("socket holder did not start")
    return Holder(process, json.loads(line), tag)


def stop_holder(holder: Holder) -> None:
    assert holder.process.stdin is not None
    holder.process.stdin.close()
    try:
        holder.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        holder.process.kill()
        holder.process.wait()


@pytest.fixture(scope="module")
def holder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Holder]:
    """A process holding one of every kind of socket, one shared with its child."""
    held = start_holder(tmp_path_factory.mktemp("holder"))
    yield held
    stop_holder(held)


def run_sockstat(
    *args: str, env: dict[str, str] | None = None, user: int | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real ``sockstat`` command (python -m controller) as a subprocess."""
    argv = [sys.executable, "-m", "controller", *args]
    if user is not None:
        setpriv = require_tool("setpriv")
        argv = [setpriv, f"--reuid={user}", f"--regid={user}", "--clear-groups", *argv]
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


def sockstat_json(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    done = run_sockstat("--format", "json", *args, env=env)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))
