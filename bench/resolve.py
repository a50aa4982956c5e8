"""Resolving 1,000 targets: what ``sockstat --list-targets`` adds before a run connects.

    python3 bench/resolve.py [--hosts 1000] [--rounds 3]

Writes an Ansible inventory of N hosts (groups, ranges, group_vars/, a tenth of
them behind a jump host) and an ssh_config with Include, Match and ProxyJump, then
times side by side, interleaved per round:

- ``sockstat --list-targets -i INV`` with ansible-inventory and ``ssh -G`` (the
  defaults where both are installed), and with the built-in readers;
- what a user would run to get the same answers: ``ansible-inventory --list`` alone,
  and ``ssh -G`` for every host with ``xargs -P 16`` (ours runs 16 at a time too).

Budget (issue #11): resolving 1,000 targets adds no more than a few seconds.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bench_python
from bench.common import table
from bench.common import time_once


def write_fleet(directory: Path, hosts: int) -> tuple[Path, Path, Path]:
    """An inventory, its group_vars, an ssh_config (with an Include), a host list."""
    (directory / "group_vars").mkdir()
    (directory / "group_vars" / "all.yml").write_text("ansible_user: audit\n")
    (directory / "group_vars" / "dmz.yml").write_text(
        "ansible_ssh_common_args: -J bastion\n"
    )
    per_group = hosts // 10
    lines = []
    for group in range(10):
        name = "dmz" if group == 0 else f"site{group}"
        lines.append(f"[{name}]")
        lines.append(f"{name}-[0001:{per_group:04d}].example.net")
    lines += ["[prod:children]", *[f"site{g}" for g in range(1, 10)], "dmz"]
    inventory = directory / "hosts.ini"
    inventory.write_text("\n".join(lines) + "\n")
    (directory / "conf.d").mkdir()
    (directory / "conf.d" / "sites.conf").write_text(
        "Host site1-*\n  Port 2201\nMatch host site2-*\n  User s2\n"
    )
    config = directory / "ssh_config"
    config.write_text(
        f"Include {directory}/conf.d/*.conf\n"
        "Host bastion\n  HostName 127.0.0.1\n  Port 2222\n"
        "Host *.example.net\n  IdentityFile ~/.ssh/id_%h\n  ConnectTimeout 10\n"
        "Host *\n  StrictHostKeyChecking accept-new\n"
    )
    names = directory / "names.txt"
    names.write_text(
        "".join(
            f"{'dmz' if g == 0 else f'site{g}'}-{i:04d}.example.net\n"
            for g in range(10)
            for i in range(1, per_group + 1)
        )
    )
    return inventory, config, names


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    python = bench_python()
    bin_dir = Path(python).parent
    sockstat = str(bin_dir / "sockstat")
    ansible = Path(sys.executable).parent / "ansible-inventory"
    if not ansible.exists():
        sys.exit("ansible-core is needed: pip install '.[test]' in this interpreter")
    print(f"{platform.node()}, {platform.release()}, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        inventory, config, names = write_fleet(Path(tmp), args.hosts)
        path = f"{ansible.parent}:{os.environ['PATH']}"
        real = {"PATH": path}
        builtin = {
            "PATH": path,
            "SOCKSTAT_INVENTORY_READER": "builtin",
            "SOCKSTAT_SSH_CONFIG_READER": "builtin",
        }
        commands = {
            "sockstat --list-targets (ansible-inventory, ssh -G)": (
                [sockstat, "--list-targets", "-i", str(inventory), "-F", str(config)],
                real,
            ),
            "sockstat --list-targets (built-in readers)": (
                [sockstat, "--list-targets", "-i", str(inventory), "-F", str(config)],
                builtin,
            ),
            "ansible-inventory --list": (
                [str(ansible), "-i", str(inventory), "--list"],
                real,
            ),
            "xargs -P 16 ssh -G (each host)": (
                ["sh", "-c", f"xargs -P 16 -n 1 ssh -G -F {config} < {names}"],
                real,
            ),
        }
        for argv, env in commands.values():  # warm-up, and a check that each works
            time_once(argv, env)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, (argv, env) in commands.items():
                times[name].append(time_once(argv, env))
    print(f"\n{args.hosts} targets, {args.rounds} rounds, 2 of each interleaved\n")
    print(table(times, "ansible-inventory --list"))


if __name__ == "__main__":
    main()
