"""Import direction: the agent must stay shippable (stdlib + msgpack only)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

FORBIDDEN = {
    "agent": {"click", "paramiko", "controller", "cryptography"},
    "agent.__main__": {"click", "paramiko", "controller"},
    "agent.collect": {"click", "paramiko", "controller"},
    "agent.linux": {"click", "paramiko", "controller"},
    "agent.illumos": {"click", "paramiko", "controller"},
    "common.wire": {"click", "paramiko", "controller", "agent"},
    "common.format": {"click", "paramiko", "controller", "agent"},
    "controller.cli": {"paramiko", "sqlite3", "psycopg"},  # only when a run needs them
}


@pytest.mark.parametrize("module", sorted(FORBIDDEN))
def test_module_imports_only_what_it_may(module: str) -> None:
    code = f"import sys, {module}; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    loaded = set(done.stdout.split())
    top = {name.split(".")[0] for name in loaded}
    assert not (FORBIDDEN[module] & (loaded | top))


def test_fdscan_runs_standalone() -> None:
    """Its source is run as a helper with -S -I: it must need nothing of ours."""
    source = (ROOT / "agent" / "fdscan.py").read_text()
    done = subprocess.run(
        [sys.executable, "-S", "-I", "-c", source, str(os.getpid())],
        capture_output=True,
        check=True,
    )
    assert len(done.stdout) % 24 == 8


# Every zone and host starts a Python for the agent, so what the shipped agent
# imports is paid once per target: these are ~40% of its start-up between them.
SLOW_TO_IMPORT = {"typing", "dataclasses", "inspect", "argparse", "logging", "shutil"}


def test_shipped_agent_starts_without_slow_modules() -> None:
    from common.decode import decode_snapshots  # noqa: PLC0415
    from controller.payload import build_payload  # noqa: PLC0415

    payload = build_payload()
    done = subprocess.run(
        payload.argv(["-P", "tcp"]),
        input=payload.stdin,
        capture_output=True,
        env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.decode().splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "agent.linux" in imported  # the profile is of the real agent run
    assert not (SLOW_TO_IMPORT & imported)
    (snapshot,) = decode_snapshots(done.stdout)
    assert not snapshot.errors


# What an idle local run may not pay for (issue 10.7: start-up within 4x a bare
# python); the click, SSH and history layers are imported only by runs that use them.
LOCAL_RUN_SKIPS = SLOW_TO_IMPORT | {
    "click", "paramiko", "yaml", "sqlite3", "json",
    "socket", "selectors",  # the agent uses _socket (agent/netlink.py)
    "gettext", "locale",  # argparse's: a plain listing is read without it
}  # fmt: skip


def test_local_run_starts_without_slow_modules() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "controller", "-q", "-P", "tcp"],
        capture_output=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.decode().splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "agent.linux" in imported  # the profile is of the real local run
    assert not (LOCAL_RUN_SKIPS & imported)


ALLOWED = {
    "agent": {"agent", "common", "msgpack"},
    "common": {"common", "msgpack"},
    "controller": {"agent", "common", "controller", "msgpack", "paramiko", "yaml"}
    | {"psycopg"},  # a postgresql:// history, controller/store.py
}


def imported_tops(path: Path) -> set[str]:
    """Every top-level name a module imports, at any depth (functions included)."""
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_every_import_follows_the_layers(package: str) -> None:
    """Statically, so an import inside a function cannot hide (house style 5.0)."""
    for path in sorted((ROOT / package).glob("*.py")):
        outside = imported_tops(path) - ALLOWED[package] - set(sys.stdlib_module_names)
        assert not outside, f"{path.relative_to(ROOT)} imports {sorted(outside)}"
