"""Start-up and the whole curve: sockstat against python -c pass and ss -tanp.

    python3 bench/startup.py [--rounds 30] [--curve 1000,2000,5000,...] [--curve-rounds 5]

Run as root on an otherwise idle machine.  First an idle host (nothing opened):
``sockstat -q`` against a bare ``python -c pass`` of the same interpreter (budget:
4x) and ``ss -tanp``.  Then, for each socket count of the curve, the sockets are
opened (bench/load.py) and ``sockstat -P tcp`` is timed against ``ss -tanp``
(budget: no slower from 10,000 sockets up).  Commands are interleaved per round.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import load
from bench.common import bench_python
from bench.common import compare
from bench.common import table

CURVE = (1_000, 2_000, 5_000, 10_000, 15_000, 20_000, 30_000, 45_000, 60_000)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--curve", default=",".join(map(str, CURVE)))
    parser.add_argument("--curve-rounds", type=int, default=5)
    args = parser.parse_args()
    python = bench_python()
    sockstat = str(Path(python).parent / "sockstat")
    print(f"{platform.node()}, {platform.release()}, Python {platform.python_version()}\n")
    idle = {
        "python -c pass": [python, "-c", "pass"],
        "sockstat -q": [sockstat, "-q"],
        "sockstat": [sockstat],
        "ss -tanp": ["ss", "-tanp"],
    }
    times = compare(idle, args.rounds, warmup=3)
    print(f"Idle host, {args.rounds} rounds:\n")
    print(table(times, "python -c pass"))
    ratio = statistics.median(times["sockstat -q"]) / statistics.median(
        times["python -c pass"]
    )
    print(f"\nsockstat -q / python -c pass = {ratio:.2f} (budget 4.0)\n")
    print("| TCP sockets | sockstat -P tcp s | ss -tanp s | ratio |")
    print("|---|---|---|---|")
    for count in (int(c) for c in args.curve.split(",") if c):
        holders = load.start(count)
        try:
            curve = compare(
                {"sockstat": [sockstat, "-q", "-P", "tcp"], "ss": ["ss", "-tanp"]},
                args.curve_rounds,
            )
        finally:
            load.stop(holders)
        ours, theirs = (statistics.median(curve[k]) for k in ("sockstat", "ss"))
        row = f"| {count:,} | {ours:.3f} | {theirs:.3f} | {ours / theirs:.2f} |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
