"""50 SSH hosts: sockstat against an OpenSSH fan-out and Ansible ad-hoc.

    python3 bench/fleet.py [--hosts 50] [--rounds 5]

Run as root.  Starts one sshd per host on loopback ports (real OpenSSH, throwaway
keys), then times, interleaved: sockstat over all hosts, `xargs -P 50 ssh HOST ss -tanp`,
and `ansible all -f 50 -m command -a 'ss -tanp'` (ansible-core in the benchmark's own
venv).  Also reports sockstat's phases measured in-process: handshakes, agent runs.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bench_python
from bench.common import compare
from bench.common import table
from tests.sshd import Sshd
from tests.sshd import free_port
from tests.sshd import keygen
from tests.sshd import shared_dir


def phases(names: list[str], config: Path) -> str:
    """Time sockstat's phases in-process: connect all hosts, then run every agent."""
    import threading  # noqa: PLC0415

    from agent.query import Query  # noqa: PLC0415
    from common.schema import Proto  # noqa: PLC0415
    from controller.agentrun import run_agent  # noqa: PLC0415
    from controller.inventory import parse_target  # noqa: PLC0415
    from controller.payload import build_payload  # noqa: PLC0415
    from controller.sshconfig import load_ssh_config  # noqa: PLC0415
    from controller.sshconfig import resolve  # noqa: PLC0415
    from controller.sshrun import HostKeys  # noqa: PLC0415
    from controller.sshrun import connect  # noqa: PLC0415

    cfg = load_ssh_config(str(config))
    keys = HostKeys(None, accept_new=False)
    gate = threading.Semaphore(4)

    def one(name: str) -> object:
        with gate:
            return connect(resolve(cfg, parse_target(name)), keys, 30)

    start = time.perf_counter()
    payload = build_payload()
    built = time.perf_counter() - start
    start = time.perf_counter()
    with ThreadPoolExecutor(len(names)) as pool:
        connections = list(pool.map(one, names))
    handshakes = time.perf_counter() - start
    query = Query(frozenset({Proto.TCP}))
    argv = payload.argv(query.to_args())
    import shlex  # noqa: PLC0415

    def agent(connection: object) -> None:
        def runner(on_stdout, limit):  # type: ignore[no-untyped-def]
            return connection.run(  # type: ignore[attr-defined]
                shlex.join(argv), stdin=payload.stdin, on_stdout=on_stdout, timeout=limit
            )

        (result,) = run_agent("h", ["global"], runner, 60, entry="ssh")
        assert result.status == "ok", result.error

    import resource  # noqa: PLC0415

    cpu = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    with ThreadPoolExecutor(len(names)) as pool:
        list(pool.map(agent, connections))
    agents = time.perf_counter() - start
    used = resource.getrusage(resource.RUSAGE_SELF)
    controller_cpu = used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime
    for connection in connections:
        connection.close()  # type: ignore[attr-defined]
    return (
        f"payload build {built * 1000:.0f} ms "
        f"({len(payload.stdin) / 1024:.0f} KiB sent per host); "
        f"{len(names)} handshakes {handshakes:.2f} s; {len(names)} agent runs "
        f"(payload + boot + collect + stream) {agents:.2f} s, of which the controller's "
        f"own CPU {controller_cpu:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-ansible", action="store_true", help="skip Ansible (slow)")
    args = parser.parse_args()
    python = bench_python()
    venv = Path(python).parent
    directory = shared_dir("sockstat-bench-")
    client = directory / "id_client"
    (directory / "authorized_keys").write_text(keygen(client) + "\n")
    servers = [Sshd(directory, free_port()) for _ in range(args.hosts)]
    names = [f"h{i}" for i in range(args.hosts)]
    known = directory / "known_hosts"
    config = directory / "ssh_config"
    hosts = directory / "hosts"
    try:
        for server in servers:
            server.start()
        known.write_text("".join(s.known_hosts_line() + "\n" for s in servers))
        config.write_text(
            "".join(
                f"Host {name}\n  HostName 127.0.0.1\n  Port {server.port}\n"
                for name, server in zip(names, servers)
            )
            + f"Host *\n  User root\n  IdentityFile {client}\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {known}\n  StrictHostKeyChecking yes\n  BatchMode yes\n"
        )
        hosts.write_text("\n".join(names) + "\n")
        inventory = directory / "inventory.ini"
        inventory.write_text("[all]\n" + "\n".join(names) + "\n")
        commands = {
            f"sockstat -P tcp ({args.hosts} hosts)": [
                str(venv / "sockstat"), "-q", "-F", str(config), "-i", str(hosts),
                "-P", "tcp", "-j", str(args.hosts),
            ],
            f"xargs -P {args.hosts} ssh HOST ss -tanp": [
                "sh", "-c",
                f"xargs -P {args.hosts} -I{{}} ssh -F {config} {{}} ss -tanp < {hosts}",
            ],
        }  # fmt: skip
        ansible = venv / "ansible"
        if ansible.exists() and not args.no_ansible:
            commands[f"ansible all -f {args.hosts} -m command"] = [
                "env", f"ANSIBLE_SSH_ARGS=-F {config}", "ANSIBLE_HOST_KEY_CHECKING=True",
                "ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3",
                "ANSIBLE_LOAD_CALLBACK_PLUGINS=0",
                str(ansible), "all", "-i", str(inventory), "-f", str(args.hosts),
                "-m", "command", "-a", "ss -tanp",
            ]  # fmt: skip
        ours = commands[f"sockstat -P tcp ({args.hosts} hosts)"]
        check = subprocess.run([*ours, "-H"], capture_output=True, text=True, check=False)
        rows = len(check.stdout.splitlines())
        print(f"sockstat check: exit {check.returncode}, {rows} rows")
        times = compare(commands, args.rounds)
        breakdown = phases(names, config)
    finally:
        for server in servers:
            server.stop()
    print(f"\n{platform.node()}, {platform.release()}, Python {platform.python_version()}, "
          f"{args.rounds} rounds after a warm-up\n")  # fmt: skip
    baseline = f"xargs -P {args.hosts} ssh HOST ss -tanp"
    print(table(times, baseline))
    ours = statistics.median(times[f"sockstat -P tcp ({args.hosts} hosts)"])
    print(f"\nsockstat / OpenSSH fan-out = {ours / statistics.median(times[baseline]):.2f} "
          "(budget 1.0)")  # fmt: skip
    key = f"ansible all -f {args.hosts} -m command"
    if key in times:
        print(
            f"Ansible / sockstat = {statistics.median(times[key]) / ours:.1f} (budget >= 5)"
        )
    print(f"phases: {breakdown}")


if __name__ == "__main__":
    main()
