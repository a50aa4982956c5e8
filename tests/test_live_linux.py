"""The Linux agent and the sockstat command against real sockets this test opens."""

from __future__ import annotations

import csv
import io
import json
import os
import pwd
import subprocess
import sys
from typing import Any

import pytest

from common.decode import decode_snapshot
from tests.conftest import Holder
from tests.conftest import require
from tests.conftest import require_root
from tests.conftest import require_tool
from tests.conftest import run_sockstat
from tests.conftest import sockstat_json
from tests.conftest import start_holder
from tests.conftest import stop_holder

pytestmark = pytest.mark.live

BACKENDS = {"netlink": {}, "proc_net": {"SOCKSTAT_PROC_NET": "1"}}


def by_inode(doc: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {s["inode"]: s for s in doc["sockets"] if s["inode"]}


def owners_of(sock: dict[str, Any]) -> set[tuple[int, int]]:
    return {(o["pid"], o["fd"]) for o in sock["owners"]}


@pytest.fixture(params=sorted(BACKENDS))
def backend_env(request: pytest.FixtureRequest) -> dict[str, str]:
    require_root()
    return dict(BACKENDS[request.param])


def test_every_kind_of_socket_with_its_owner(
    holder: Holder, backend_env: dict[str, str]
) -> None:
    doc = sockstat_json("-u", "-a", env=backend_env)
    found = by_inode(doc)
    user = pwd.getpwuid(holder.report["uid"]).pw_name
    expected = {
        "tcp4_listen": ("tcp4", "LISTEN", "127.0.0.1"),
        "tcp4_any": ("tcp4", "LISTEN", "0.0.0.0"),
        "tcp6_any": ("tcp6", "LISTEN", "::"),
        "tcp4_client": ("tcp4", "ESTABLISHED", "127.0.0.1"),
        "tcp4_server": ("tcp4", "ESTABLISHED", "127.0.0.1"),
        "tcp6_listen": ("tcp6", "LISTEN", "::1"),
        "tcp6_client": ("tcp6", "ESTABLISHED", "::1"),
        "tcp6_server": ("tcp6", "ESTABLISHED", "::1"),
        "udp4": ("udp4", "UNCONN", "127.0.0.1"),
        "udp6": ("udp6", "UNCONN", "::1"),
        "udp4_connected": ("udp4", "ESTABLISHED", "127.0.0.1"),
    }
    for name, (proto, state, address) in expected.items():
        sock = found[holder.inode(name)]
        assert (sock["proto"], sock["state"], sock["local_address"]) == (
            proto,
            state,
            address,
        )
        assert sock["local_port"] == holder.port(name)
        assert sock["host"] == os.uname().nodename
        assert sock["zone"] == "global"
        assert owners_of(sock) == {(holder.pid, holder.sock(name)["fd"])}, name
        owner = sock["owners"][0]
        assert owner["user"] == user
        assert owner["command"] == "sockholder"
        assert owner["args"].endswith(
            f"tests/holder.py {holder.tag} {os.path.dirname(holder.report['path'])}"
        )
    # A connected pair points at each other.
    client, server = found[holder.inode("tcp4_client")], found[holder.inode("tcp4_server")]
    assert client["remote_port"] == server["local_port"] == holder.port("tcp4_listen")
    assert server["remote_port"] == client["local_port"]
    assert found[holder.inode("tcp4_listen")]["remote_address"] is None
    # Unix sockets: a path with spaces, an abstract name, a connected pair.
    listener = found[holder.inode("unix_listen")]
    assert (listener["proto"], listener["state"], listener["path"]) == (
        "unix",
        "LISTEN",
        holder.report["path"],
    )
    abstract = found[holder.inode("unix_abstract")]
    assert abstract["path"] == holder.report["abstract"]
    assert abstract["type"] == "dgram"
    assert found[holder.inode("unix_client")]["state"] == "ESTABLISHED"
    # The socket kept across fork() is held by both processes.
    shared = found[holder.inode("shared")]
    fd = holder.sock("shared")["fd"]
    assert owners_of(shared) == {(holder.pid, fd), (holder.child, fd)}
    assert doc["targets"] == [
        {
            "host": os.uname().nodename,
            "zone": "global",
            "status": "ok",
            "error": None,
            "sockets": len(doc["sockets"]),
            "elapsed_ms": doc["targets"][0]["elapsed_ms"],
            "warnings": doc["targets"][0]["warnings"],
            "resolved_by": [],
            "owners_from": "holders",  # every process holding each socket
        }
    ]


def test_sock_diag_only_details(holder: Holder) -> None:
    """What /proc/net cannot say: bound-only TCP sockets and unix peers."""
    require_root()
    found = by_inode(sockstat_json("-u"))
    assert found[holder.inode("tcp4_bound")]["state"] == "BOUND"
    client = found[holder.inode("unix_client")]
    assert client["peer"] == holder.inode("unix_server")
    assert holder.inode("tcp4_bound") not in by_inode(
        sockstat_json(env={"SOCKSTAT_PROC_NET": "1"})
    )


def _table_lines(holder: Holder, *args: str) -> list[str]:
    done = run_sockstat(*args)
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if f" {holder.pid} " in line]


def test_table_shows_the_seed_columns(holder: Holder) -> None:
    require_root()
    done = run_sockstat("-a", "-s")
    header, *rows = done.stdout.splitlines()
    assert header.split() == [
        "USER", "COMMAND", "PID", "PROTO", "LOCAL", "ADDRESS", "REMOTE", "ADDRESS",
        "STATE", "ARGS",
    ]  # fmt: skip
    port = holder.port("tcp4_listen")
    line = next(r for r in rows if f"127.0.0.1:{port} " in r and "LISTEN" in r)
    user = pwd.getpwuid(holder.report["uid"]).pw_name
    cells = line.split()
    assert cells[:7] == [user, "sockholder", str(holder.pid), "tcp4", f"127.0.0.1:{port}",
                         "*.*", "LISTEN"]  # fmt: skip
    assert line.rstrip().endswith(holder.tag + " " + os.path.dirname(holder.report["path"]))
    v6 = next(r for r in rows if f"[::1]:{holder.port('tcp6_listen')} " in r)
    assert v6.split()[3] == "tcp6"
    # Columns are aligned: every row starts its PROTO cell where the header does.
    column = header.index("PROTO")
    assert all(r[column : column + 3] in ("tcp", "udp") for r in rows)
    # One row per holder of the shared socket.
    shared = [r for r in rows if f"127.0.0.1:{holder.port('shared')} " in r]
    assert sorted(r.split()[2] for r in shared) == sorted(
        [str(holder.pid), str(holder.child)]
    )


def test_table_without_header_and_numeric(holder: Holder) -> None:
    require_root()
    done = run_sockstat("-H", "-n")
    assert not done.stdout.startswith("USER")
    line = next(
        r for r in done.stdout.splitlines() if f":{holder.port('tcp4_listen')} " in r
    )
    assert line.split()[0] == str(holder.report["uid"])


def test_csv_rows(holder: Holder) -> None:
    require_root()
    done = run_sockstat("--format", "csv", "-u")
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    mine = [r for r in rows if r["inode"] == str(holder.inode("shared"))]
    assert sorted(r["pid"] for r in mine) == sorted([str(holder.pid), str(holder.child)])
    assert {r["command"] for r in mine} == {"sockholder"}
    listener = next(r for r in rows if r["inode"] == str(holder.inode("unix_listen")))
    assert listener["path"] == holder.report["path"]
    assert listener["proto"] == "unix"


def test_jsonl_is_one_socket_per_line(holder: Holder) -> None:
    require_root()
    done = run_sockstat("--format", "jsonl", "-P", "udp")
    docs = [json.loads(line) for line in done.stdout.splitlines()]
    assert docs
    assert {d["proto"] for d in docs} <= {"udp4", "udp6"}
    assert holder.inode("udp4") in {d["inode"] for d in docs}


FILTERS = [
    # (flags, sockets that must be shown, sockets that must not)
    (["-4"], ["tcp4_listen", "udp4"], ["tcp6_listen", "udp6", "unix_listen"]),
    (["-6"], ["tcp6_listen", "udp6"], ["tcp4_listen", "udp4"]),
    (["-l"], ["tcp4_listen", "udp4", "tcp4_bound"], ["tcp4_client", "udp4_connected"]),
    (["-c"], ["tcp4_client", "tcp6_server", "udp4_connected"], ["tcp4_listen", "udp6"]),
    (["-L"], [], ["tcp4_listen", "tcp6_listen", "udp4", "tcp4_client"]),
    (["-P", "udp"], ["udp4", "udp6"], ["tcp4_listen", "unix_listen"]),
    (["-P", "unix"], ["unix_listen", "unix_abstract"], ["tcp4_listen", "udp4"]),
    (["-u"], ["unix_listen", "tcp4_listen", "udp6"], []),
    ([], ["tcp4_listen", "udp4"], ["unix_listen", "unix_abstract"]),
    (["-u", "-l"], ["unix_listen", "unix_abstract"], ["unix_client"]),
    (["-u", "-c"], ["unix_client", "unix_server"], ["unix_listen"]),
]


@pytest.mark.parametrize(("flags", "shown", "hidden"), FILTERS)
def test_filters(
    holder: Holder, flags: list[str], shown: list[str], hidden: list[str]
) -> None:
    require_root()
    found = by_inode(sockstat_json(*flags))
    for name in shown:
        assert holder.inode(name) in found, f"{flags} hides {name}"
    for name in hidden:
        assert holder.inode(name) not in found, f"{flags} shows {name}"


def test_port_filter_matches_local_or_remote(holder: Holder) -> None:
    require_root()
    port = holder.port("tcp4_listen")
    found = by_inode(sockstat_json("-p", str(port)))
    # The listener and the accepted socket have it as local port, the client as remote.
    assert {holder.inode(n) for n in ("tcp4_listen", "tcp4_client", "tcp4_server")} <= set(
        found
    )
    assert holder.inode("udp4") not in found
    assert all(port in (s["local_port"], s["remote_port"]) for s in found.values())


# Connections closed by earlier tests pass through these states between the two
# listings; the comparison is about the sockets that stay.
CLOSING = ("TIME_WAIT", "FIN_WAIT1", "FIN_WAIT2", "CLOSING", "LAST_ACK", "CLOSE_WAIT")
CLOSING_SS = ("TIME-WAIT", "FIN-WAIT-1", "FIN-WAIT-2", "CLOSING", "LAST-ACK", "CLOSE-WAIT")


def test_counts_agree_with_ss(holder: Holder) -> None:
    """Every TCP socket ss lists, sockstat lists; the only extras are bound-only ones."""
    require_root()
    ss = require_tool("ss")
    ours = sockstat_json("-P", "tcp")
    listed = subprocess.run([ss, "-tanH"], capture_output=True, text=True, check=True)
    theirs = {
        (fields[3], fields[4])
        for fields in (line.split() for line in listed.stdout.splitlines())
        if fields[0] not in CLOSING_SS
    }

    def endpoint(address: str | None, port: int | None, proto: str) -> str:
        if address is None:  # ss prints a listener's peer as the wildcard address
            return "0.0.0.0:*" if proto == "tcp4" else "[::]:*"
        host = f"[{address}]" if ":" in address else address
        return f"{host}:{port or '*'}"

    mine = {
        (
            endpoint(s["local_address"], s["local_port"], s["proto"]),
            endpoint(s["remote_address"], s["remote_port"], s["proto"]),
        )
        for s in ours["sockets"]
        if s["state"] not in ("BOUND", *CLOSING)
    }
    assert mine == theirs
    bound = [s for s in ours["sockets"] if s["state"] == "BOUND"]
    assert holder.inode("tcp4_bound") in {s["inode"] for s in bound}


def psutil_view() -> dict[tuple[int, int], tuple[object, ...]]:
    """Every inet socket psutil sees, by (pid, fd): family, endpoints, TCP state."""
    import psutil  # noqa: PLC0415 - a test extra, the judge of this one test

    view: dict[tuple[int, int], tuple[object, ...]] = {}
    for conn in psutil.net_connections(kind="inet"):
        if conn.pid is None or conn.fd < 0:
            continue
        family = "inet" if conn.family == 2 else "inet6"
        remote = (conn.raddr.ip, conn.raddr.port) if conn.raddr else None
        state = conn.status if conn.type == 1 else None  # SOCK_STREAM
        if state == "CLOSE" and conn.laddr.port:
            state = "BOUND"  # TCP_CLOSE with a local port: bound, never used
        view[conn.pid, conn.fd] = (family, conn.laddr.ip, conn.laddr.port, remote, state)
    return view


def test_whole_machine_agrees_with_psutil(holder: Holder) -> None:
    """Every inet socket of every process, as psutil sees it (issue #9: 0.0.0.0 vs ::).

    Sockets that changed between psutil's two listings are left out; every other
    one must be in sockstat's listing with the same family, endpoints and state.
    """
    require_root()
    before = psutil_view()
    doc = sockstat_json()
    after = psutil_view()
    stable = {k: v for k, v in before.items() if after.get(k) == v}
    ours: dict[tuple[int, int], tuple[object, ...]] = {}
    for sock in doc["sockets"]:
        remote = None
        if sock["remote_port"]:
            remote = (sock["remote_address"], sock["remote_port"])
        state = sock["state"] if sock["proto"].startswith("tcp") else None
        for owner in sock["owners"]:
            ours[owner["pid"], owner["fd"]] = (
                sock["family"], sock["local_address"], sock["local_port"], remote, state,
            )  # fmt: skip
    for name in ("tcp4_any", "tcp6_any", "tcp4_listen", "tcp6_listen", "udp6"):
        assert (holder.pid, holder.sock(name)["fd"]) in stable, name
    assert {k: ours.get(k) for k in stable} == stable


def test_unprivileged_user_sees_sockets_without_owners(holder: Holder) -> None:
    """Never root-only: as nobody every socket is listed, root's without an owner."""
    require_root()
    done = run_sockstat("--format", "json", "-u", user=65534)
    assert done.returncode == 0, done.stderr
    found = by_inode(json.loads(done.stdout))
    sock = found[holder.inode("tcp4_listen")]
    assert sock["owners"] == []
    assert "no visible owner" in done.stderr
    table = run_sockstat("-P", "tcp", user=65534)
    line = next(
        r for r in table.stdout.splitlines() if f":{holder.port('tcp4_listen')} " in r
    )
    assert line.split()[:3] == ["?", "?", "?"]


def test_escape_sequences_in_args_are_shown_escaped(tmp_path: Any) -> None:
    require_root()
    evil = tmp_path / "evil\x1b[2J\x07dir"
    evil.mkdir()
    held = start_holder(evil)
    try:
        done = run_sockstat("-a", "-P", "tcp")
        line = next(r for r in done.stdout.splitlines() if f" {held.pid} " in r)
        assert "\x1b" not in done.stdout
        assert "\x07" not in done.stdout
        assert "evil\\x1b[2J\\x07dir" in line
        csv_out = run_sockstat("--format", "csv", "-P", "tcp").stdout
        assert "\x1b" not in csv_out
        doc = sockstat_json("-a", "-P", "tcp")
        args = next(
            s for s in doc["sockets"] if s["owners"] and s["owners"][0]["pid"] == held.pid
        )
        assert (
            "evil\x1b[2J\x07dir" in args["owners"][0]["args"]
        )  # JSON keeps the real bytes
    finally:
        stop_holder(held)


def test_agent_module_writes_only_the_stream(holder: Holder) -> None:
    require(os.geteuid() == 0, "this test needs root")
    done = subprocess.run(
        [sys.executable, "-m", "agent", "-P", "tcp,unix"], capture_output=True, check=True
    )
    snapshot = decode_snapshot(done.stdout)
    inodes = {s.inode for s in snapshot.sockets}
    assert holder.inode("tcp4_listen") in inodes
    assert holder.inode("unix_listen") in inodes
    assert holder.inode("udp4") not in inodes
