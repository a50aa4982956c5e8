"""What hostile zones cost the controller: 8 zones streaming valid records without end.

    python3 bench/hostile.py [--zones 8]

Each zone is played by tests/stubs/zlogin in mode "flood" (a header, then valid
socket records until the reader goes): the worst a zone's root can do within the
wire format.  Prints the peak RSS and wall time of ``sockstat -Z -j N`` with the
default per-target limits, and of one such zone with the limits of session 7
(4,000,000 sockets, 1 GiB), cut by --timeout, for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT
from bench.common import bench_python

STUBS = ROOT / "tests" / "stubs"
PROBE = (
    "import resource, subprocess, sys;"
    "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL,"
    " stderr=subprocess.PIPE);"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, done.returncode);"
    "print(done.stderr.decode()[-2000:])"
)


def measure(argv: list[str], env: dict[str, str]) -> tuple[float, int, int, str]:
    """Return (wall s, peak RSS KiB, exit status, stderr tail) of one run."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    wall = time.perf_counter() - start
    first, _, rest = done.stdout.partition("\n")
    rss, code = (int(x) for x in first.split())
    return wall, rss, code, rest.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--zones", type=int, default=8)
    args = parser.parse_args()
    python = bench_python()
    sockstat = str(Path(python).parent / "sockstat")
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "zones.json"
        zones = [
            {"name": f"flood{i}", "netns": "-", "mode": "flood"} for i in range(args.zones)
        ]
        config.write_text(json.dumps({"zones": zones}))
        env = {
            **os.environ,
            "PATH": f"{STUBS}:{os.environ['PATH']}",
            "SOCKSTAT_STUB_ZONES": str(config),
        }
        runs = {
            f"sockstat -Z -j {args.zones} (default limits)": [
                sockstat, "-Z", "-j", str(args.zones), "-z", "flood*",
            ],
            "sockstat -z flood0 --max-sockets 4000000 --max-bytes 1G --timeout 15": [
                sockstat, "-z", "flood0", "--max-sockets", "4000000", "--max-bytes",
                "1G", "--timeout", "15",
            ],
        }  # fmt: skip
        print("| command | wall s | peak RSS MiB | exit |")
        print("|---|---|---|---|")
        for name, argv in runs.items():
            wall, rss, code, stderr = measure(argv, env)
            print(f"| `{name}` | {wall:.1f} | {rss / 1024:.0f} | {code} |")
            print(stderr, file=sys.stderr)


if __name__ == "__main__":
    main()
