"""Static checks: ruff, mypy, and the Python 3.9 floor of what is shipped into zones."""

from __future__ import annotations

import shutil
import subprocess
import sys

from tests.conftest import ROOT
from tests.conftest import require


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, check=False)


def tool(name: str) -> str:
    path = shutil.which(name, path=str(ROOT / ".venv" / "bin")) or shutil.which(name)
    require(path is not None, f"{name} is not installed (pip install -e '.[test]')")
    assert path is not None
    return path


def test_ruff() -> None:
    done = run(tool("ruff"), "check", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy() -> None:
    done = run(sys.executable, "-m", "mypy")
    assert done.returncode == 0, done.stdout + done.stderr


def test_agent_and_common_run_on_python_3_9() -> None:
    done = run(
        tool("vermin"), "--target=3.9-", "--no-tips", "--violations",
        "--eval-annotations", "--backport", "enum", "agent", "common",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_format() -> None:
    done = run(tool("ruff"), "format", "--check", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_readme_test_command_is_what_ci_runs() -> None:
    """The README's second command is the one .ci/run runs (#9.16)."""
    readme = (ROOT / "README.md").read_text()
    commands = [
        line.strip() for line in readme.splitlines()[:20] if line.startswith("    ")
    ]
    assert commands[1] == "bash tests/run"
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert ci[-1] == "bash tests/run"
    assert "export SOCKSTAT_REQUIRE_LIVE=1" in ci
