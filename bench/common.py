"""Helpers shared by the benchmarks: timing rounds side by side, medians, a venv."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "bench" / "out" / "venv"


def bench_python() -> str:
    """Return the interpreter of the benchmark's own venv (sockstat installed, psutil)."""
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", str(ROOT), "psutil"], check=True
        )
    # Always measure the code of this checkout, installed as users install it.
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--force-reinstall",
            str(ROOT),
        ],
        check=True,
    )
    return str(python)


def time_once(argv: Sequence[str], env: dict[str, str] | None = None) -> float:
    """Wall seconds of one run, stdout to /dev/null (the commands print a lot)."""
    start = time.perf_counter()
    subprocess.run(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
        env={**os.environ, **(env or {})},
    )
    return time.perf_counter() - start


def compare(
    commands: Mapping[str, Sequence[str]], rounds: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Time every command once per round, interleaved, so drift hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(warmup):
        for argv in commands.values():
            time_once(argv)
    for _ in range(rounds):
        for name, argv in commands.items():
            times[name].append(time_once(argv))
    return times


def peak_rss_kib(argv: Sequence[str]) -> int:
    """Peak RSS (KiB) of a command and the children it waits for."""
    probe = (
        "import resource, subprocess, sys;"
        "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL,"
        " stderr=subprocess.DEVNULL, check=True);"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *argv], capture_output=True, text=True, check=True
    )
    return int(done.stdout)


def table(times: dict[str, list[float]], baseline: str) -> str:
    """Markdown table of medians and ratios to the baseline."""
    base = statistics.median(times[baseline])
    lines = ["| command | median s | min s | max s | ratio to " + baseline + " |",
             "|---|---|---|---|---|"]  # fmt: skip
    for name, values in times.items():
        median = statistics.median(values)
        lines.append(
            f"| `{name}` | {median:.3f} | {min(values):.3f} | {max(values):.3f} "
            f"| {median / base:.2f} |"
        )
    return "\n".join(lines)
