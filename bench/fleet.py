"""50 SSH hosts: sockstat against an OpenSSH fan-out and Ansible ad-hoc.

    python3 bench/fleet.py [--hosts 50] [--rounds 5] [--rtt-ms 200]

Run as root.  Starts one sshd per host on loopback ports (real OpenSSH, throwaway
keys), then times, interleaved: sockstat over all hosts with its default flags,
`xargs -P 50 ssh HOST ss -tanp`, and `ansible all -f 50 -m command -a 'ss -tanp'`
(ansible-core in the benchmark's own venv).  Also reports sockstat's phases measured
in-process: handshakes, agent runs.  With ``--rtt-ms``, every tool reaches every host
through bench/relay.py, which delays each byte by half that round trip each way.

Every tool logs in as ``sockstat-bench``, a second name for uid 0 created for the run
with an empty home, as root on a plain server: root's own ~/.bashrc on a development
machine may do anything (here it runs ``pyenv init``, ~0.15 s of CPU per session with
a lock that makes concurrent sessions sleep), which both tools would pay on every
session and the benchmark would measure instead of them.  ``--user root`` measures it.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
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

BENCH_USER = "sockstat-bench"


@contextlib.contextmanager
def bench_login(home: Path) -> Iterator[str]:
    """Create a uid-0 login with an empty home and a plain shell; remove it after."""
    home.mkdir(mode=0o700)
    subprocess.run(
        ["useradd", "-o", "-u", "0", "-g", "0", "-M", "-d", str(home), "-s", "/bin/sh",
         "-p", "*", BENCH_USER],  # "*": no password, but not locked (sshd refuses "!")
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield BENCH_USER
    finally:
        # -f: userdel refuses a uid that processes run as, and uid 0 always has some.
        subprocess.run(["userdel", "-f", BENCH_USER], check=False, capture_output=True)


def phases(names: list[str], config: Path) -> str:
    """Time sockstat's phases in-process: connect all hosts, then run every agent."""
    import threading  # noqa: PLC0415

    from agent.query import Query  # noqa: PLC0415
    from common.schema import Proto  # noqa: PLC0415
    from controller.fleet import CONCURRENT_HANDSHAKES  # noqa: PLC0415
    from controller.hops import Ship  # noqa: PLC0415
    from controller.hosts import parse_target  # noqa: PLC0415
    from controller.request import SurveyRequest  # noqa: PLC0415
    from controller.sshrun import HostKeys  # noqa: PLC0415
    from controller.sshrun import SshConnection  # noqa: PLC0415
    from controller.sshrun import SshRunner  # noqa: PLC0415
    from controller.sshrun import connect  # noqa: PLC0415
    from controller.survey import Survey  # noqa: PLC0415
    from controller.survey import Target  # noqa: PLC0415
    from controller.survey import survey_target  # noqa: PLC0415
    from controller.targets import Resolver  # noqa: PLC0415

    resolver = Resolver(str(config))
    keys = HostKeys(None, accept_new=False)
    gate = threading.Semaphore(CONCURRENT_HANDSHAKES)

    def one(name: str) -> SshConnection:
        with gate:
            return connect(resolver.resolve(parse_target(name)), keys, 30)

    survey = Survey(SurveyRequest(query=Query(frozenset({Proto.TCP})), timeout=60))
    start = time.perf_counter()
    payload = survey.payload
    built = time.perf_counter() - start
    start = time.perf_counter()
    with ThreadPoolExecutor(len(names)) as pool:
        connections = list(pool.map(one, names))
    handshakes = time.perf_counter() - start

    def agent(connection: SshConnection) -> None:
        target = Target("h", ("global",), SshRunner(connection), (Ship(payload),))
        (result,) = survey_target(target, survey)
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
        connection.close()
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
    parser.add_argument("--user", help="log in as this user (default: a clean uid 0)")
    parser.add_argument(
        "--rtt-ms", type=float, default=0.0, help="round trip added by a relay"
    )
    args = parser.parse_args()
    python = bench_python()
    venv = Path(python).parent
    directory = shared_dir("sockstat-bench-")
    (directory / "authorized_keys").write_text(keygen(directory / "id_client") + "\n")
    servers = [Sshd(directory, free_port()) for _ in range(args.hosts)]
    names = [f"h{i}" for i in range(args.hosts)]
    with contextlib.ExitStack() as stack:
        user = args.user or stack.enter_context(bench_login(directory / "home"))
        times, breakdown = run(args, venv, servers, names, directory, user)
    print(f"\n{platform.node()}, {platform.release()}, Python {platform.python_version()}, "
          f"{args.rounds} rounds after a warm-up, logged in as {user}, "
          f"{args.rtt_ms:g} ms added round trip\n")  # fmt: skip
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


def run(
    args: argparse.Namespace,
    venv: Path,
    servers: list[Sshd],
    names: list[str],
    directory: Path,
    user: str,
) -> tuple[dict[str, list[float]], str]:
    """Start the servers, time every command side by side, stop the servers."""
    client = directory / "id_client"
    known = directory / "known_hosts"
    config = directory / "ssh_config"
    hosts = directory / "hosts"
    relay = None
    try:
        for server in servers:
            server.start()
        ports = [server.port for server in servers]
        if args.rtt_ms:
            pairs = [f"0:{s.port}" for s in servers]
            relay = subprocess.Popen(
                [sys.executable, str(Path(__file__).parent / "relay.py"), "--rtt-ms",
                 str(args.rtt_ms), *pairs], stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            assert relay.stdout is not None
            ready, *chosen = relay.stdout.readline().split()
            assert ready == "ready"
            ports = [int(p) for p in chosen]
        known.write_text(
            "".join(
                f"[127.0.0.1]:{port} {' '.join(s.known_hosts_line().split()[1:])}\n"
                for port, s in zip(ports, servers)
            )
        )
        config.write_text(
            "".join(
                f"Host {name}\n  HostName 127.0.0.1\n  Port {port}\n"
                for name, port in zip(names, ports)
            )
            + f"Host *\n  User {user}\n  IdentityFile {client}\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {known}\n  StrictHostKeyChecking yes\n  BatchMode yes\n"
        )
        hosts.write_text("\n".join(names) + "\n")
        inventory = directory / "inventory.ini"
        inventory.write_text("[all]\n" + "\n".join(names) + "\n")
        commands = {
            f"sockstat -P tcp ({args.hosts} hosts)": [
                str(venv / "sockstat"), "-q", "-F", str(config), "-i", str(hosts),
                "-P", "tcp",
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
        if relay is not None:
            relay.kill()
            relay.wait()
        for server in servers:
            server.stop()
    return times, breakdown


if __name__ == "__main__":
    main()
