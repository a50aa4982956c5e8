"""sockstat -Z over 100 network namespaces against `ip netns exec NS ss -tanp` loops.

    python3 bench/zones.py [--namespaces 100] [--rounds 7]

Run as root.  Creates the namespaces, and one holder process that enters each (setns)
to open a listener and a connected pair there; times the commands interleaved; then
deletes everything it made.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.netns import CLONE_NEWNET
from agent.netns import _libc_setns
from bench.common import bench_python
from bench.common import compare
from bench.common import table

PREFIX = "ssbench"


def hold_sockets(names: list[str], ready: int) -> None:
    """In a child: a listener and a connected pair in each namespace, then wait."""
    setns = _libc_setns()
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    held = []
    for name in names:
        target = os.open(f"/run/netns/{name}", os.O_RDONLY)
        setns(target, CLONE_NEWNET)
        os.close(target)
        listener = socket.socket()
        listener.bind(("127.0.0.1", 8080))
        listener.listen()
        client = socket.create_connection(("127.0.0.1", 8080))
        server, _ = listener.accept()
        held += [listener, client, server]
        setns(home, CLONE_NEWNET)
    os.write(ready, b"x")
    os.read(0, 1)  # until the parent closes our stdin


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--namespaces", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    python = bench_python()
    sockstat = str(Path(python).parent / "sockstat")
    names = [f"{PREFIX}{i}" for i in range(args.namespaces)]
    for name in names:
        subprocess.run(["ip", "netns", "add", name], check=True)
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    listing = tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False)  # noqa: SIM115
    listing.write("\n".join(names) + "\n")
    listing.close()
    read_end, write_end = os.pipe()
    stdin_read, stdin_write = os.pipe()
    child = os.fork()
    if child == 0:
        status = 1
        try:
            os.close(read_end)
            os.close(stdin_write)
            os.dup2(stdin_read, 0)
            hold_sockets(names, write_end)
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    os.close(stdin_read)
    if os.read(read_end, 1) != b"x":
        msg = "the socket holder failed"
        raise SystemExit(msg)
    each = "ip netns exec {} ss -tanp"
    commands = {
        "sockstat -Z -P tcp": [sockstat, "-q", "-Z", "-P", "tcp"],
        "for NS: ip netns exec NS ss -tanp": [
            "sh", "-c", f"while read ns; do {each.format('$ns')}; done < {listing.name}"
        ],
        "xargs -P 8 ip netns exec NS ss -tanp": [
            "sh", "-c", f"xargs -P 8 -I{{}} {each} < {listing.name}"
        ],
    }  # fmt: skip
    try:
        check = subprocess.run(
            [sockstat, "-q", "-Z", "-P", "tcp", "-H"],
            capture_output=True,
            text=True,
            check=True,
        )
        rows = [line for line in check.stdout.splitlines() if line.startswith(PREFIX)]
        print(
            f"sockstat -Z lists {len(rows)} TCP rows in {args.namespaces} bench namespaces"
        )
        times = compare(commands, args.rounds)
    finally:
        os.close(stdin_write)
        os.waitpid(child, 0)
        for name in names:
            subprocess.run(["ip", "netns", "delete", name], check=False)
        os.unlink(listing.name)
    print(f"\n{platform.node()}, {platform.release()}, Python {platform.python_version()}, "
          f"{args.rounds} rounds after a warm-up\n")  # fmt: skip
    print(table(times, "xargs -P 8 ip netns exec NS ss -tanp"))
    ratio = statistics.median(times["sockstat -Z -P tcp"]) / statistics.median(
        times["xargs -P 8 ip netns exec NS ss -tanp"]
    )
    print(f"\nsockstat -Z / xargs -P 8 loop = {ratio:.2f} (budget 0.50)")


if __name__ == "__main__":
    main()
