"""Local listing at 60,000 TCP sockets: sockstat against ss, netstat, lsof and psutil.

    python3 bench/local.py [--sockets 60000] [--rounds 7]

Run as root on an otherwise idle machine.  Opens the sockets (bench/load.py), times
every command once per round, interleaved, and prints medians and ratios to ss -tanp.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import load
from bench.common import bench_python
from bench.common import compare
from bench.common import peak_rss_kib
from bench.common import table


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sockets", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    python = bench_python()
    sockstat = str(Path(python).parent / "sockstat")
    commands = {
        "sockstat -P tcp": [sockstat, "-q", "-P", "tcp"],
        "ss -tanp": ["ss", "-tanp"],
        "netstat -tanp": ["netstat", "-tanp"],
        "lsof -nP -iTCP": ["lsof", "-nP", "-iTCP"],
        "psutil.net_connections('tcp')": [
            python, "-c", "import psutil; psutil.net_connections('tcp')"
        ],
    }  # fmt: skip
    holders = load.start(args.sockets)
    try:
        held = subprocess.run(["ss", "-tanH"], capture_output=True, text=True, check=True)
        print(f"TCP sockets open: {len(held.stdout.splitlines())}")
        times = compare(commands, args.rounds)
        agent_rss = peak_rss_kib([python, "-m", "agent", "-P", "tcp"])
        sockstat_rss = peak_rss_kib(commands["sockstat -P tcp"])
    finally:
        load.stop(holders)
    print(f"\n{platform.node()}, {platform.release()}, Python {platform.python_version()}, "
          f"{args.rounds} rounds after a warm-up\n")  # fmt: skip
    print(table(times, "ss -tanp"))
    ratio = statistics.median(times["sockstat -P tcp"]) / statistics.median(
        times["ss -tanp"]
    )
    print(f"\nsockstat / ss -tanp = {ratio:.2f} (budget 0.50)")
    print(
        f"agent peak RSS (python -m agent -P tcp): {agent_rss / 1024:.1f} MiB (budget 100)"
    )
    print(f"sockstat peak RSS: {sockstat_rss / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
