"""The fleet over SSH against real OpenSSH servers on loopback (and in a namespace)."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from typing import Callable

import pytest

from controller.hosts import parse_target
from controller.sshrun import HostKeys
from controller.sshrun import connect
from controller.targets import Resolver
from tests.conftest import ROOT
from tests.conftest import Holder
from tests.conftest import require
from tests.conftest import run_sockstat
from tests.conftest import start_holder
from tests.conftest import stop_holder
from tests.sshd import SSHD
from tests.sshd import Sshd
from tests.sshd import free_port
from tests.sshd import keygen
from tests.sshd import shared_dir

pytestmark = [pytest.mark.live, pytest.mark.ssh]
USER = "sockstat-user"  # may sudo without a password
NOSUDO = "sockstat-nosudo"  # may not sudo at all
HANG = "sockstat-hang"  # every command it runs hangs


@dataclass
class Fleet:
    directory: Path
    config: Path
    known_hosts: Path
    servers: dict[str, Sshd]
    home: Path

    def env(self) -> dict[str, str]:
        # A HOME of our own: no ssh-agent, no ~/.ssh of the machine, and the file
        # --accept-new writes stays in the test's directory.
        return {"HOME": str(self.home), "SSH_AUTH_SOCK": ""}

    def run(
        self, *args: str, env: dict[str, str] | None = None
    ) -> tuple[int, dict[str, Any], str]:
        done = run_sockstat(
            "-F", str(self.config), "--format", "json", *args,
            env={**self.env(), **(env or {})},
        )  # fmt: skip
        try:
            doc = json.loads(done.stdout)
        except json.JSONDecodeError:
            pytest.fail(f"no JSON (exit {done.returncode}): {done.stderr}")
        return done.returncode, doc, done.stderr


def rsa_host_key(directory: Path) -> Path:
    path = directory / "host_key_rsa"
    keygen(path, "rsa")
    return path


def host_entry(alias: str, port: int, key: Path, known: Path, *, user: str = "root",
               hostname: str = "127.0.0.1", extra: str = "") -> str:  # fmt: skip
    return (
        f"Host {alias}\n  HostName {hostname}\n  Port {port}\n  User {user}\n"
        f"  IdentityFile {key}\n  IdentitiesOnly yes\n  UserKnownHostsFile {known}\n"
        f"  ConnectTimeout 5\n{extra}"
    )


def add_user(name: str, sudo: bool, shell: str = "/bin/sh") -> None:
    subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True, check=False)
    subprocess.run(["userdel", "-r", name], capture_output=True, check=False)
    subprocess.run(["useradd", "-m", "-s", shell, name], check=True)
    # useradd leaves the password locked ("!"), and sshd without PAM refuses locked
    # accounts even for key logins; "*" means no password, not locked.
    subprocess.run(["usermod", "-p", "*", name], check=True)
    if sudo:
        Path(f"/etc/sudoers.d/{name}").write_text(f"{name} ALL=(ALL) NOPASSWD: ALL\n")


def write_known_hosts(directory: Path, servers: dict[str, Sshd]) -> Path:
    """Every server's key, but for "unknown"; markers, an RSA-only and a changed key."""
    known = directory / "known_hosts"
    skip = ("unknown", "changed", "dualkey")
    lines = [s.known_hosts_line() for n, s in servers.items() if n not in skip]
    # Markers paramiko cannot read: one such line used to fail every host (#9.5).
    ca = keygen(directory / "host_ca").split()
    lines.insert(0, f"@cert-authority *.example.com {ca[0]} {ca[1]}")
    revoked = servers["revoked"].known_hosts_line().split()
    lines.append(f"@revoked * {revoked[1]} {revoked[2]}")
    rsa = Path(f"{rsa_host_key(directory)}.pub").read_text().split()
    lines.append(f"[127.0.0.1]:{servers['dualkey'].port} {rsa[0]} {rsa[1]}")
    # "changed": known_hosts has another key for it (a man in the middle, a rebuild).
    other = keygen(directory / "other_host_key").split()
    lines.append(f"[127.0.0.1]:{servers['changed'].port} {other[0]} {other[1]}")
    known.write_text("\n".join(lines) + "\n")
    return known


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    require(os.geteuid() == 0, "sshd tests need root")
    require(os.path.exists(SSHD), "openssh-server is not installed")
    require(shutil.which("ssh-keygen") is not None, "ssh-keygen is not installed")
    directory = shared_dir("sockstat-ssh-")
    home = directory / "home"
    (home / ".ssh").mkdir(parents=True)
    client = directory / "id_client"
    stranger = directory / "id_stranger"  # a key no server accepts
    (directory / "authorized_keys").write_text(keygen(client) + "\n")
    (directory / "authorized_keys").chmod(0o644)
    keygen(stranger)
    client.chmod(0o600)
    servers = {
        "alpha": Sshd(directory, free_port()),
        "bravo": Sshd(directory, free_port()),
        "hung": Sshd(directory, free_port(), extra="ForceCommand exec sleep 600"),
        "flood": Sshd(
            directory,
            free_port(),
            # 25 MB on stderr before the real command: both streams must be drained.
            extra="ForceCommand head -c 25000000 /dev/zero >&2; "
            'eval "$SSH_ORIGINAL_COMMAND"',
        ),
        "dying": Sshd(directory, free_port(), extra="ForceCommand exec sleep 60"),
        "changed": Sshd(directory, free_port()),
        "unknown": Sshd(directory, free_port()),
        # An RSA host key besides the ed25519 one; known_hosts lists only the RSA key.
        "dualkey": Sshd(directory, free_port(), extra=f"HostKey {rsa_host_key(directory)}"),
        "revoked": Sshd(directory, free_port()),
    }
    try:  # whatever step fails, what was started is stopped
        for server in servers.values():
            server.start()
        known = write_known_hosts(directory, servers)
        entries = [host_entry(name, s.port, client, known) for name, s in servers.items()]
        entries.append(host_entry("wrongkey", servers["alpha"].port, stranger, known))
        entries.append(host_entry("down", free_port(), client, known))
        entries.append(
            host_entry("nxdomain", 22, client, known, hostname="no-such-host.invalid")
        )
        entries.append(
            host_entry("asuser", servers["alpha"].port, client, known, user=USER)
        )
        entries.append(
            host_entry("nosudo", servers["alpha"].port, client, known, user=NOSUDO)
        )
        entries.append(
            host_entry("hanger", servers["alpha"].port, client, known, user=HANG)
        )
        entries.append(
            "Host * !wrongkey\n"
            f"  IdentityFile {client}\n  IdentitiesOnly yes\n  UserKnownHostsFile {known}\n"
            "  User root\n  ForwardX11 no\n  GSSAPIAuthentication no\n"
        )
        config = directory / "ssh_config"
        config.write_text("\n".join(entries))
        add_user(USER, sudo=True)
        add_user(NOSUDO, sudo=False)
        # A login whose every command hangs (not a ForceCommand: sshd refuses to signal
        # those), standing in for an agent stuck on a remote host.
        hang_shell = directory / "hang-shell"
        hang_shell.write_text("#!/bin/sh\nexec sleep 3602\n")
        hang_shell.chmod(0o755)
        add_user(HANG, sudo=False, shell=str(hang_shell))
        yield Fleet(directory, config, known, servers, home)
    finally:
        for server in servers.values():
            server.stop()
        for name in (USER, NOSUDO, HANG):
            subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True, check=False)
            subprocess.run(["userdel", "-r", name], capture_output=True, check=False)
            Path(f"/etc/sudoers.d/{name}").unlink(missing_ok=True)
        shutil.rmtree(directory, ignore_errors=True)


def statuses(doc: dict[str, Any]) -> dict[str, str]:
    return {f"{t['host']}/{t['zone']}": t["status"] for t in doc["targets"]}


def inodes(doc: dict[str, Any], host: str) -> set[int]:
    return {s["inode"] for s in doc["sockets"] if s["host"] == host}


def test_key_login_through_an_alias(fleet: Fleet, holder: Holder) -> None:
    code, doc, stderr = fleet.run("alpha", "-P", "tcp,unix")
    assert code == 0, stderr
    assert statuses(doc) == {"alpha/global": "ok"}
    assert holder.inode("tcp4_listen") in inodes(doc, "alpha")
    listener = next(s for s in doc["sockets"] if s["inode"] == holder.inode("tcp4_listen"))
    assert listener["owners"][0]["command"] == "sockholder"
    # OpenSSH resolved the alias, and the JSON says so.
    assert [t["resolved_by"] for t in doc["targets"]] == [["ssh -G"]]


def test_two_hosts_get_a_host_column(fleet: Fleet, holder: Holder) -> None:
    done = run_sockstat(
        "-F", str(fleet.config), "alpha", "bravo", "-P", "tcp", env=fleet.env()
    )
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split()[:2] == ["HOST", "USER"]
    port = holder.port("tcp4_listen")
    hosts = {r.split()[0] for r in rows if f"127.0.0.1:{port} " in r}
    assert hosts == {"alpha", "bravo"}


@pytest.mark.parametrize(
    ("alias", "status", "message"),
    [
        ("unknown", "hostkey-unknown", "is not known"),
        ("changed", "hostkey-changed", "CHANGED"),
        ("wrongkey", "auth", "refused our public keys"),
        ("down", "unreachable", "cannot connect"),
        ("nxdomain", "dns", "cannot resolve no-such-host.invalid"),
        ("nosudo", "become-failed", "sudo"),
    ],
)
def test_each_failure_is_a_host_status(
    fleet: Fleet, alias: str, status: str, message: str
) -> None:
    args = ["--become", "sudo"] if alias == "nosudo" else []
    code, doc, stderr = fleet.run(alias, "alpha", *args)
    by_host = {t["host"]: t for t in doc["targets"]}
    assert by_host[alias]["status"] == status, by_host[alias]
    assert message in by_host[alias]["error"]
    assert by_host["alpha"]["status"] == "ok"
    assert code == 1
    assert [line for line in stderr.splitlines() if f"{alias}/" in line] == [
        f"sockstat: {alias}/global: {status}: {by_host[alias]['error']}"
    ]


def test_changed_key_is_refused_even_with_accept_new(fleet: Fleet) -> None:
    code, doc, _ = fleet.run("changed", "--accept-new")
    assert code == 3
    assert statuses(doc) == {"changed/global": "hostkey-changed"}


def test_accept_new_records_the_key_once(fleet: Fleet) -> None:
    recorded = fleet.home / ".ssh" / "known_hosts.sockstat"
    recorded.unlink(missing_ok=True)
    code, _, stderr = fleet.run("unknown", "--accept-new")
    assert code == 0, stderr
    assert "accepted new host key" in stderr
    port = fleet.servers["unknown"].port
    assert recorded.read_text().startswith(f"[127.0.0.1]:{port} ssh-ed25519 ")
    code, _, _ = fleet.run("unknown")  # now known: no --accept-new needed
    assert code == 0
    recorded.unlink()


def test_hung_agent_times_out_while_others_finish(fleet: Fleet) -> None:
    code, doc, _ = fleet.run("hung", "alpha", "--timeout", "3")
    assert statuses(doc) == {"hung/global": "timeout", "alpha/global": "ok"}
    assert code == 1


def test_25_megabytes_of_stderr_do_not_deadlock(fleet: Fleet, holder: Holder) -> None:
    code, doc, stderr = fleet.run("flood", "-P", "tcp", "--timeout", "60")
    assert code == 0, stderr
    assert holder.inode("tcp4_listen") in inodes(doc, "flood")


def test_sshd_killed_mid_run(fleet: Fleet) -> None:
    server = fleet.servers["dying"]
    killer = threading.Timer(2.0, server.stop)
    killer.start()
    try:
        code, doc, _ = fleet.run("dying", "alpha", "--timeout", "30")
    finally:
        killer.join()
    by_host = {t["host"]: t for t in doc["targets"]}
    assert by_host["dying"]["status"] in ("unreachable", "agent-error")
    assert by_host["alpha"]["status"] == "ok"
    assert code == 1


def test_a_command_that_exits_without_reading_its_input(fleet: Fleet) -> None:
    # sudo -n refusing, or a zone without python, exits before reading the agent we
    # send: the channel closes under our writes, and its exit status must still be
    # what the host reports (CI once saw "connection lost: Socket is closed").
    settings = Resolver(str(fleet.config)).resolve(parse_target("alpha"))
    connection = connect(settings, HostKeys(None, accept_new=False), timeout=10)
    try:
        for _ in range(20):
            done = connection.run(
                "echo refused >&2; exit 3", stdin=b"x" * (4 << 20),
                on_stdout=lambda _: None, timeout=30,
            )  # fmt: skip
            assert done.returncode == 3
            assert "refused" in done.stderr_tail
    finally:
        connection.close()


def test_become_sudo_for_a_user_that_is_not_root(fleet: Fleet, holder: Holder) -> None:
    pwd.getpwnam(USER)
    code, doc, stderr = fleet.run("asuser", "-P", "tcp")
    assert code == 0, stderr
    mine = next(s for s in doc["sockets"] if s["inode"] == holder.inode("tcp4_listen"))
    assert mine["owners"] == []  # as sockstat-user, root's processes are not visible
    code, doc, stderr = fleet.run("asuser", "-P", "tcp", "--become", "sudo")
    assert code == 0, stderr
    mine = next(s for s in doc["sockets"] if s["inode"] == holder.inode("tcp4_listen"))
    assert mine["owners"][0]["pid"] == holder.pid


@pytest.fixture(scope="module")
def remote_netns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Holder]]:
    name = f"sshz{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    held = start_holder(tmp_path_factory.mktemp(name), ["ip", "netns", "exec", name])
    try:
        yield name, held
    finally:
        stop_holder(held)
        subprocess.run(["ip", "netns", "delete", name], check=False)


def test_zones_of_a_remote_host(fleet: Fleet, remote_netns: tuple[str, Holder]) -> None:
    name, held = remote_netns
    code, doc, stderr = fleet.run("alpha", "-Z", "-l")
    assert code == 0, stderr
    assert statuses(doc)[f"alpha/{name}"] == "ok"
    assert statuses(doc)["alpha/global"] == "ok"
    zone = [s for s in doc["sockets"] if s["zone"] == name]
    assert held.inode("tcp4_listen") in {s["inode"] for s in zone}
    code, doc, _ = fleet.run("alpha", "-z", name)
    assert [t["zone"] for t in doc["targets"]] == [name]


@pytest.fixture(scope="module")
def jump(fleet: Fleet) -> Iterator[str]:
    """A namespace reachable only through sshd "gate": ssh gate, then 127.0.0.1 inside."""
    name = f"sshj{uuid.uuid4().hex[:6]}"
    host_side, ns_side = f"vj{name[-6:]}a", f"vj{name[-6:]}b"
    commands = [
        ["ip", "netns", "add", name],
        ["ip", "-n", name, "link", "set", "lo", "up"],
        ["ip", "link", "add", host_side, "type", "veth", "peer", "name", ns_side],
        ["ip", "link", "set", ns_side, "netns", name],
        ["ip", "addr", "add", "10.213.7.1/30", "dev", host_side],
        ["ip", "link", "set", host_side, "up"],
        ["ip", "-n", name, "addr", "add", "10.213.7.2/30", "dev", ns_side],
        ["ip", "-n", name, "link", "set", ns_side, "up"],
    ]
    for argv in commands:
        subprocess.run(argv, check=True)
    gate = Sshd(fleet.directory, 22, address="10.213.7.2", netns=name).start()
    inner = Sshd(fleet.directory, 2222, address="127.0.0.1", netns=name).start()
    with fleet.known_hosts.open("a") as f:
        f.write(gate.known_hosts_line() + "\n" + inner.known_hosts_line() + "\n")
    with fleet.config.open("a") as f:
        f.write("\nHost gate\n  HostName 10.213.7.2\n")
        f.write("Host inner\n  HostName 127.0.0.1\n  Port 2222\n  ProxyJump gate\n")
        # A jump host with a ProxyJump of its own: alpha, then the gate, then inner.
        f.write("Host gate-via-alpha\n  HostName 10.213.7.2\n  ProxyJump alpha\n")
        f.write(
            "Host deep\n  HostName 127.0.0.1\n  Port 2222\n  ProxyJump gate-via-alpha\n"
        )
    try:
        yield name
    finally:
        gate.stop()
        inner.stop()
        subprocess.run(["ip", "link", "delete", host_side], check=False)
        subprocess.run(["ip", "netns", "delete", name], check=False)


def test_proxyjump_through_one_sshd_to_another(fleet: Fleet, jump: str) -> None:
    code, doc, stderr = fleet.run("inner", "-P", "tcp", "-l")
    assert code == 0, stderr
    # Only inside the namespace does anything listen on 127.0.0.1:2222 (the inner sshd).
    listeners = {(s["local_address"], s["local_port"]) for s in doc["sockets"]}
    assert ("127.0.0.1", 2222) in listeners
    assert ("10.213.7.2", 22) in listeners


def test_a_jump_host_with_its_own_proxyjump(fleet: Fleet, jump: str) -> None:
    """OpenSSH chains a jump host's own ProxyJump; so does sockstat (dry run, then real)."""
    code, routes, stderr = fleet.run("--list-targets", "deep")
    assert code == 0, stderr
    (route,) = routes["targets"]
    hops = [(h["name"], h["address"], h["port"]) for h in route["jumps"]]
    assert hops == [
        ("alpha", "127.0.0.1", fleet.servers["alpha"].port),
        ("gate-via-alpha", "10.213.7.2", 22),
    ]
    assert (route["address"], route["port"], route["resolved_by"]) == (
        "127.0.0.1",
        2222,
        ["ssh -G"],
    )
    code, doc, stderr = fleet.run("deep", "-P", "tcp", "-l", "-v")
    assert code == 0, stderr
    assert ("127.0.0.1", 2222) in {
        (s["local_address"], s["local_port"]) for s in doc["sockets"]
    }
    assert "via root@" in stderr  # -v names the route


def test_a_dynamic_inventory_through_ansible(fleet: Fleet, tmp_path: Path) -> None:
    """An executable inventory (a script) is read by ansible-inventory, then surveyed."""
    script = tmp_path / "inventory.py"
    hostvars = {"ansible_host": "127.0.0.1", "ansible_port": fleet.servers["alpha"].port}
    listing = {"web": {"hosts": ["dyn1"]}, "_meta": {"hostvars": {"dyn1": hostvars}}}
    script.write_text(
        f"#!{sys.executable}\nimport sys\n"
        f"print({json.dumps(listing)!r} if sys.argv[1:] == ['--list'] else '{{}}')\n"
    )
    script.chmod(0o755)
    code, doc, stderr = fleet.run(
        "-i", str(script), "--limit", "web", "-P", "udp", env=reader_env("ansible")
    )
    assert code == 0, stderr
    assert [(t["host"], t["status"], t["resolved_by"]) for t in doc["targets"]] == [
        ("dyn1", "ok", ["ansible-inventory", "ssh -G"])
    ]
    done = run_sockstat("-i", str(script), env={**fleet.env(), **reader_env("builtin")})
    assert done.returncode == 2
    assert "needs ansible-inventory" in done.stderr


INI = """\
# web servers
[web]
www1 ansible_host=127.0.0.1 ansible_port={alpha}
www2 ansible_host=127.0.0.1 ansible_port={bravo}

[db]
db1 ansible_host=127.0.0.1 ansible_port={alpha} ansible_user=root

[prod:children]
web
db
"""

YAML = """\
all:
  children:
    web:
      hosts:
        www1: {{ansible_host: 127.0.0.1, ansible_port: {alpha}}}
        www2: {{ansible_host: 127.0.0.1, ansible_port: {bravo}}}
    db:
      hosts:
        db1:
          ansible_host: 127.0.0.1
          ansible_port: {alpha}
"""


def reader_env(reader: str) -> dict[str, str]:
    """Choose the inventory reader; ansible-inventory is the test venv's (a test extra)."""
    if reader == "ansible":
        command = Path(sys.executable).parent / "ansible-inventory"
        require(command.exists(), "ansible-core is not installed (pip install '.[test]')")
        return {"SOCKSTAT_INVENTORY_READER": "ansible",
                "PATH": f"{command.parent}:{os.environ['PATH']}"}  # fmt: skip
    return {"SOCKSTAT_INVENTORY_READER": "builtin"}


@pytest.mark.parametrize("reader", ["ansible", "builtin"])
@pytest.mark.parametrize(
    ("suffix", "text", "limit", "hosts"),
    [
        (".ini", INI, "web", ["www1", "www2"]),
        (".ini", INI, "prod:!www2", ["www1", "db1"]),
        (".yml", YAML, "db", ["db1"]),
        (".yml", YAML, "www*", ["www1", "www2"]),
        (".txt", "# plain\nalpha\nbravo  # second\n", "b*", ["bravo"]),
    ],
)
def test_inventories_with_limit(
    fleet: Fleet, tmp_path: Path, suffix: str, text: str, limit: str, hosts: list[str],
    reader: str,
) -> None:  # fmt: skip
    inventory = tmp_path / f"hosts{suffix}"
    ports = {"alpha": fleet.servers["alpha"].port, "bravo": fleet.servers["bravo"].port}
    inventory.write_text(text.format(**ports))
    code, doc, stderr = fleet.run(
        "-i", str(inventory), "--limit", limit, "-P", "udp", env=reader_env(reader)
    )
    assert code == 0, stderr
    assert [t["host"] for t in doc["targets"]] == hosts
    decided = "ansible-inventory" if reader == "ansible" else "built-in inventory reader"
    assert {tuple(t["resolved_by"]) for t in doc["targets"]} == {(decided, "ssh -G")}
    assert {s["host"] for s in doc["sockets"]} <= set(hosts)


def test_accept_new_when_the_key_cannot_be_recorded(fleet: Fleet) -> None:
    """An unwritable record (here a directory in its place) loses no host's answer."""
    recorded = fleet.home / ".ssh" / "known_hosts.sockstat"
    recorded.unlink(missing_ok=True)
    recorded.mkdir()
    try:
        code, doc, stderr = fleet.run("unknown", "--accept-new")
        assert code == 0, stderr
        assert statuses(doc) == {"unknown/global": "ok"}
        assert "for this run only" in stderr
        assert "Traceback" not in stderr
    finally:
        recorded.rmdir()


def test_host_known_by_its_rsa_key(fleet: Fleet) -> None:
    """known_hosts has only the RSA key: ask for RSA, as OpenSSH does (#9.6)."""
    code, doc, stderr = fleet.run("dualkey")
    assert statuses(doc) == {"dualkey/global": "ok"}, stderr
    assert code == 0


def test_known_hosts_markers(fleet: Fleet) -> None:
    """@cert-authority/@revoked lines break no host; a revoked key is refused (#9.5)."""
    code, doc, stderr = fleet.run("alpha", "revoked")
    by_host = {t["host"]: t for t in doc["targets"]}
    assert by_host["alpha"]["status"] == "ok", by_host["alpha"]
    assert by_host["revoked"]["status"] == "hostkey-revoked"
    assert "@revoked" in by_host["revoked"]["error"]
    assert code == 1
    warnings = [line for line in stderr.splitlines() if "@cert-authority" in line]
    assert len(warnings) == 1, stderr
    assert "Traceback" not in stderr


@pytest.fixture
def agent_socket(fleet: Fleet) -> Iterator[str]:
    """A real ssh-agent holding the client key, as most users have one."""
    sock = fleet.directory / f"agent-{uuid.uuid4().hex[:6]}"
    agent = subprocess.Popen(
        ["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL
    )
    try:
        for _ in range(100):
            if sock.exists():
                break
            threading.Event().wait(0.05)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", "-q", str(fleet.directory / "id_client")], env=env,
                       check=True)  # fmt: skip
        yield str(sock)
    finally:
        agent.kill()
        agent.wait()


def test_passphrase_protected_key_files_are_skipped(
    fleet: Fleet, agent_socket: str
) -> None:
    """An encrypted IdentityFile (OpenSSH or PEM) must not hide the agent's key (#9.4)."""
    locked = fleet.directory / "id_locked"
    pem = fleet.directory / "id_locked_pem"
    for path, extra in ((locked, []), (pem, ["-m", "PEM", "-t", "rsa"])):
        path.unlink(missing_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-N", "secret", "-f", str(path), *extra],
                       check=True)  # fmt: skip
    config = fleet.directory / "ssh_config_agent"
    config.write_text(
        f"Host agented\n  HostName 127.0.0.1\n  Port {fleet.servers['alpha'].port}\n"
        f"  User root\n  IdentityFile {locked}\n  IdentityFile {pem}\n"
        f"  UserKnownHostsFile {fleet.known_hosts}\n"
    )
    done = run_sockstat("-F", str(config), "--format", "json", "agented",
                        env={**fleet.env(), "SSH_AUTH_SOCK": agent_socket})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["targets"][0]["status"] == "ok"


@pytest.fixture
def silent_server() -> Iterator[tuple[int, list[int]]]:
    """A port that accepts connections and never says a word (no SSH banner)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[int] = []
    held: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = server.accept()
                held.append(conn)
                accepted.append(1)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], accepted
    finally:
        server.close()
        for conn in held:
            conn.close()


def test_silent_host_is_a_timeout_tried_once(
    fleet: Fleet, silent_server: tuple[int, list[int]]
) -> None:
    """No banner: a timeout within --timeout, not three retries each with its own wait."""
    port, accepted = silent_server
    code, doc, stderr = fleet.run(f"root@127.0.0.1:{port}", "--timeout", "2")
    (target,) = doc["targets"]
    assert target["status"] == "timeout", target
    assert len(accepted) == 1
    assert code == 3
    assert "Traceback" not in stderr


def test_banner_garbage_is_one_escaped_line(fleet: Fleet) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)

    def answer() -> None:
        with contextlib.suppress(OSError):
            while True:  # every attempt gets the same garbage
                conn, _ = server.accept()
                conn.sendall(b"\x1b[2Jgarbage\r\nsockstat: all ok\n")
                conn.close()

    threading.Thread(target=answer, daemon=True).start()
    try:
        _, doc, stderr = fleet.run(f"root@127.0.0.1:{server.getsockname()[1]}")
    finally:
        server.close()
    (target,) = doc["targets"]
    assert target["status"] == "unreachable", target
    assert "\x1b" not in stderr
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if "127.0.0.1/global" in line]
    assert len(lines) == 1, stderr
    assert "garbage" not in stderr  # paramiko's logged traceback quoted the banner


def test_proxycommand_that_exits_ends_the_host(fleet: Fleet, tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(
        "Host dead\n  ProxyCommand sh -c 'echo no route to %h >&2; exit 3'\n"
        f"  UserKnownHostsFile {fleet.known_hosts}\n"
    )
    done = run_sockstat("-F", str(config), "--format", "json", "--timeout", "20", "dead",
                        env=fleet.env())  # fmt: skip
    (target,) = json.loads(done.stdout)["targets"]
    assert target["status"] == "unreachable"
    assert "ProxyCommand exited with status 3: no route to dead" in target["error"]
    assert done.returncode == 3
    assert "Traceback" not in done.stderr


def remote_sleepers() -> list[str]:
    done = subprocess.run(["pgrep", "-u", HANG, "sleep"], capture_output=True, text=True)
    return done.stdout.split()


def wait_for(condition: Callable[[], object], seconds: float = 10.0) -> bool:
    """Poll for something another process does (a guard against hangs, not a measure)."""
    for _ in range(int(seconds / 0.05)):
        if condition():
            return True
        threading.Event().wait(0.05)
    return bool(condition())


def test_remote_agent_that_hangs_is_killed_at_its_timeout(fleet: Fleet) -> None:
    """Closing a channel does not stop its command: sshd is asked to kill it (#9.9)."""
    code, doc, _ = fleet.run("hanger", "alpha", "--timeout", "3")
    assert statuses(doc) == {"hanger/global": "timeout", "alpha/global": "ok"}
    assert code == 1
    assert wait_for(lambda: not remote_sleepers()), remote_sleepers()


def start_run(fleet: Fleet, *args: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "controller", "-F", str(fleet.config), "--format",
            "json", *args]  # fmt: skip
    return subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, **fleet.env()},
    )  # fmt: skip


def test_ctrl_c_stops_silent_hosts_and_remote_agents(
    fleet: Fleet, silent_server: tuple[int, list[int]]
) -> None:
    """SIGINT: no new host starts, connections close, remote agents die (#9.9)."""
    port, accepted = silent_server
    silent = [f"root@127.0.0.1:{port}"] * 20
    process = start_run(fleet, "hanger", *silent, "--timeout", "60", "--host-jobs", "8")
    try:
        assert wait_for(lambda: len(accepted) >= 7 and remote_sleepers())
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)  # a hang guard, not a measure
    finally:
        process.kill()
    assert process.returncode == 130, err
    doc = json.loads(out)
    assert len(doc["targets"]) == 21
    assert {t["status"] for t in doc["targets"]} == {"interrupted"}
    assert "Traceback" not in err
    assert len(accepted) <= 8  # hosts after the signal were never started
    assert wait_for(lambda: not remote_sleepers()), remote_sleepers()


@pytest.fixture(scope="module")
def sunos_host(fleet: Fleet, remote_netns: tuple[str, Holder]) -> Iterator[str]:
    """An sshd whose sessions see the illumos stubs first: uname says SunOS, and
    zoneadm/zlogin (tests/stubs) list zone "web" and enter remote_netns for it."""
    name, _ = remote_netns
    zones = fleet.directory / "sunos-zones.json"
    web = fleet.directory / "zones" / "web"  # its root has su, as zones have
    (web / "root" / "usr" / "bin").mkdir(parents=True, exist_ok=True)
    (web / "root" / "usr" / "bin" / "su").touch()
    zones.write_text(json.dumps({"zones": [
        {"name": "web", "netns": name, "path": str(web)},
        {"name": "vm1", "netns": name, "brand": "bhyve"},
    ]}))  # fmt: skip
    stubs = ROOT / "tests" / "stubs"
    path = f"{stubs}/sunos:{stubs}:/usr/sbin:/usr/bin:/sbin:/bin"
    server = Sshd(
        fleet.directory, free_port(),
        extra=f"SetEnv PATH={path} SOCKSTAT_STUB_ZONES={zones}",
    ).start()  # fmt: skip
    with fleet.known_hosts.open("a") as f:
        f.write(server.known_hosts_line() + "\n")
    with fleet.config.open("a") as f:
        f.write(f"\nHost sunos\n  HostName 127.0.0.1\n  Port {server.port}\n")
    try:
        yield "sunos"
    finally:
        server.stop()


def test_zones_of_a_remote_illumos_host(
    fleet: Fleet, sunos_host: str, remote_netns: tuple[str, Holder]
) -> None:
    """One command probes, lists (zoneadm) and ships; each zone then gets zlogin."""
    _, held = remote_netns
    code, doc, stderr = fleet.run(sunos_host, "-Z", "-P", "tcp")
    assert statuses(doc) == {
        "sunos/global": "ok", "sunos/web": "ok", "sunos/vm1": "skipped",
    }, stderr  # fmt: skip
    web = {s["inode"]: s for s in doc["sockets"] if s["zone"] == "web"}
    assert web[held.inode("tcp4_listen")]["owners"][0]["pid"] == held.pid
    assert code == 0
    code, doc, _ = fleet.run(sunos_host, "-z", "w*")
    assert statuses(doc) == {"sunos/web": "ok"}
