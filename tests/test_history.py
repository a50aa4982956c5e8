"""History: --save, --diff and ``sockstat history``, on SQLite and a real PostgreSQL.

The identity rules are unit-tested on sockets built here; the cycle that matters is
run for real: services with their own command names open and close sockets in a
network namespace between runs of the real command, and what the report says is
what an operator would read in the morning mail.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.schema import Family
from common.schema import Owner
from common.schema import Proto
from common.schema import Snapshot
from common.schema import Socket
from controller.changes import compare
from controller.changes import identities
from controller.cli import in_shard
from controller.filters import Filter
from controller.history import report_for
from controller.results import FleetResult
from controller.results import TargetResult
from controller.status import Status
from controller.store import Store
from controller.store import StoreError
from controller.store import open_store
from tests.conftest import ROOT
from tests.conftest import require
from tests.conftest import require_root
from tests.conftest import run_sockstat
from tests.pg import Postgres

STUBS = ROOT / "tests" / "stubs"


def tcp(lport: int, command: str, pid: int, *, state: str = "LISTEN",
        remote: tuple[str, int] | None = None,
        local: str = "0.0.0.0") -> Socket:  # fmt: skip
    raddr, rport = remote if remote else (None, None)
    owner = Owner(pid, 3, 0, "root", command, f"{command} --serve")
    return Socket(Proto.TCP, Family.INET, "stream", state, local, lport, raddr, rport,
                  None, 1000 + lport, 0, None, (owner,))  # fmt: skip


def run_of(*targets: tuple[str, str, list[Socket] | Status]) -> FleetResult:
    found = []
    for host, zone, sockets in targets:
        if isinstance(sockets, Status):
            found.append(TargetResult(host, zone, sockets, "zlogin: zone is down", 0.1))
            continue
        snapshot = Snapshot(host, zone, "linux", "Linux 6", "0.1", time.time(),
                            sockets=tuple(sockets), owners_from="holders")  # fmt: skip
        found.append(TargetResult(host, zone, Status.OK, None, 0.2, snapshot))
    return FleetResult(found)


# Every protocol and family: what the history holds, unfiltered.
everything = Filter(frozenset(Proto), frozenset(Family))


# -- what counts as a change ---------------------------------------------------------


def changes(old: list[Socket], new: list[Socket]) -> list[tuple[str, str, str, str]]:
    return [
        (c.action, c.key[0], c.key[2] or c.key[3], ",".join(sorted(c.commands)))
        for c in compare("h", "z", identities(old), identities(new))
    ]


def test_a_daemon_restarted_under_a_new_pid_is_not_a_change() -> None:
    assert changes([tcp(22, "sshd", 100)], [tcp(22, "sshd", 4242)]) == []


def test_a_client_reconnecting_from_a_new_port_is_not_a_change() -> None:
    before = [tcp(41000, "app", 7, state="ESTABLISHED", remote=("10.0.0.9", 5432))]
    after = [tcp(52000, "app", 8, state="ESTABLISHED", remote=("10.0.0.9", 5432))]
    assert changes(before, after) == []


def test_what_is_a_change() -> None:
    before = [tcp(80, "nginx", 1), tcp(9000, "alpha", 2), tcp(25, "exim", 3)]
    after = [
        tcp(80, "nginx", 1),
        tcp(9000, "beta", 5),  # the listener handed to another command
        tcp(8080, "nginx", 1),  # a new port
        tcp(25, "exim", 3, local="127.0.0.1"),  # a listener on a new address
        tcp(41000, "nginx", 1, state="ESTABLISHED", remote=("10.0.0.7", 443)),
    ]
    assert changes(before, after) == [
        ("added", "connect", "10.0.0.7:443", "nginx"),
        ("removed", "listen", "0.0.0.0:25", "exim"),
        ("added", "listen", "0.0.0.0:8080", "nginx"),
        ("changed", "listen", "0.0.0.0:9000", "beta"),
        ("added", "listen", "127.0.0.1:25", "exim"),
    ]


def test_clients_of_a_listener_and_closing_sockets_are_not_changes() -> None:
    before = [tcp(22, "sshd", 1)]
    after = [
        tcp(22, "sshd", 1),
        tcp(22, "sshd", 9, state="ESTABLISHED", remote=("10.0.0.5", 61000)),  # a client
        tcp(43000, "curl", 10, state="TIME_WAIT", remote=("10.0.0.6", 80)),
    ]
    assert changes(before, after) == []


def test_shards_split_hosts_stably() -> None:
    hosts = [f"web{i}.example" for i in range(300)]
    shares = [[h for h in hosts if in_shard(h, (k, 3))] for k in (1, 2, 3)]
    assert sorted(h for share in shares for h in share) == sorted(hosts)  # one share each
    assert all(60 < len(share) < 140 for share in shares)
    assert [h for h in hosts if in_shard(h, (2, 3))] == shares[1]  # the same every time


# -- the store, on SQLite and on PostgreSQL ------------------------------------------


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    server = Postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "history.db")
    server: Postgres = request.getfixturevalue("postgres")
    return server.database(f"h{uuid.uuid4().hex[:10]}")


@pytest.fixture
def store(location: str) -> Iterator[Store]:
    opened = open_store(location)
    try:
        yield opened
    finally:
        opened.close()


def save(store: Store, result: FleetResult) -> int:
    return store.save(result, started=time.time(), command="sockstat test", shard=None)


def test_a_saved_run_reads_back_whole(store: Store) -> None:
    shared = Owner(77, 4, 1000, "alice", "python3", "python3 -m http.server \x1b")
    sockets = [
        tcp(22, "sshd", 100),
        Socket(Proto.UDP, Family.INET6, "dgram", "UNCONN", "::", 53, None, None, None,
               55, 0, None, (shared, Owner(78, 9, 1000, "alice", "python3", "x"))),
        Socket(Proto.UNIX, Family.UNIX, "stream", "LISTEN", None, None, None, None,
               "/run/x.sock", 56, None, None, ()),
    ]  # fmt: skip
    run = run_of(("h1", "global", sockets), ("h2", "global", Status.UNREACHABLE))
    run_id = save(store, run)
    loaded = store.load(run_id)
    assert [(t.host, t.zone, t.status, t.error) for t in loaded.targets] == [
        ("h1", "global", Status.OK, None),
        ("h2", "global", Status.UNREACHABLE, "zlogin: zone is down"),
    ]
    snapshot = loaded.targets[0].snapshot
    assert snapshot is not None
    assert snapshot.owners_from == "holders"
    assert list(snapshot.sockets) == sockets
    assert loaded.targets[1].snapshot is None


def test_a_target_that_fails_is_no_answer_then_compared_with_its_last_good_run(
    store: Store,
) -> None:
    save(store, run_of(("h", "web", [tcp(80, "nginx", 1)])))
    down = run_of(("h", "web", Status.ZONE_ENTRY_FAILED))
    failed = report_for(store, down, everything)
    assert failed.changes == []  # never "all its sockets removed"
    assert [(t.note, t.status) for t in failed.targets] == [
        ("no answer", "zone-entry-failed")
    ]
    assert failed.changed
    save(store, run_of(("h", "web", Status.ZONE_ENTRY_FAILED)))
    back = report_for(store, run_of(("h", "web", [tcp(80, "nginx", 2), tcp(81, "x", 3)])),
                      everything)  # fmt: skip
    assert [(t.note, t.baseline) for t in back.targets] == [("answers again", 1)]
    assert [(c.action, c.key[2]) for c in back.changes] == [("added", "0.0.0.0:81")]


def test_a_new_target_is_all_added(store: Store) -> None:
    report = report_for(store, run_of(("new", "global", [tcp(22, "sshd", 1)])), everything)
    assert [t.note for t in report.targets] == ["new"]
    assert [c.action for c in report.changes] == ["added"]


def test_prune_keeps_the_recent_runs(store: Store) -> None:
    old = store.save(run_of(("h", "z", [tcp(1, "a", 1)])), started=time.time() - 40 * 86400,
                     command="old", shard=None)  # fmt: skip
    recent = save(store, run_of(("h", "z", [tcp(2, "b", 2)])))
    assert store.prune(time.time() - 30 * 86400) == 1
    assert [r.id for r in store.runs()] == [recent]
    assert not store.has_run(old)
    assert store.target_sockets(old, "h", "z") == []
    assert store.identities(old, "h", "z") == {}


def test_a_newer_schema_is_refused(location: str) -> None:
    open_store(location).close()
    store = open_store(location)
    store.execute("INSERT INTO schema_version (version) VALUES (99)")
    store.close()
    with pytest.raises(StoreError, match="schema version 99 is newer"):
        open_store(location)


# -- the real command, on real sockets ------------------------------------------------

SERVICE = textwrap.dedent(
    """
    import socket, sys
    name, specs = sys.argv[1], sys.argv[2:]
    with open("/proc/self/comm", "w") as f:
        f.write(name)
    held = []
    for spec in specs:
        kind, port = spec.split(":")
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if kind == "listen":
            s.bind(("127.0.0.1", int(port)))
            s.listen(8)
        else:
            s.connect(("127.0.0.1", int(port)))
        held.append(s)
    print("ready", flush=True)
    sys.stdin.read()
    """
)


class Namespace:
    """A network namespace with named services in it, and sockstat run inside."""

    def __init__(self) -> None:
        self.name = f"sockstat-hist-{uuid.uuid4().hex[:6]}"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        subprocess.run(["ip", "netns", "exec", self.name, "ip", "link", "set", "lo", "up"],
                       check=True)  # fmt: skip
        self.services: dict[str, subprocess.Popen[str]] = {}

    def start(self, name: str, *specs: str) -> None:
        process = subprocess.Popen(
            ["ip", "netns", "exec", self.name, sys.executable, "-c", SERVICE, name, *specs],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n"
        self.services[name] = process

    def stop(self, name: str) -> None:
        process = self.services.pop(name)
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=10)

    def sockstat(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", self.name, sys.executable, "-m", "controller", *args],
            capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
        )  # fmt: skip

    def close(self) -> None:
        for name in list(self.services):
            self.stop(name)
        subprocess.run(["ip", "netns", "delete", self.name], check=False)


@pytest.fixture
def namespace() -> Iterator[Namespace]:
    require_root()
    require(shutil.which("ip") is not None, "iproute2 is not installed")
    made = Namespace()
    try:
        yield made
    finally:
        made.close()


def diff_json(done: subprocess.CompletedProcess[str]) -> dict[str, list[tuple[str, ...]]]:
    doc = json.loads(done.stdout)
    return {
        action: sorted(
            (c["kind"], c["local"] or c["remote"], ",".join(c["commands"]),
             ",".join(c.get("before", [])))
            for c in doc[action]
        )
        for action in ("added", "removed", "changed")
    }  # fmt: skip


def test_save_and_diff_cycle_on_real_sockets(namespace: Namespace, location: str) -> None:
    db = location  # an SQLite file, then a PostgreSQL database
    history = ("--save", db, "--diff", db, "-q")
    namespace.start("webd", "listen:8080")
    namespace.start("dbd", "listen:5432")
    namespace.start("appd", "connect:5432")
    namespace.start("alpha", "listen:9000")
    first = namespace.sockstat(*history, "--format", "json")
    assert first.returncode == 4, first.stderr  # changes: everything is new
    assert diff_json(first)["added"] == [
        ("connect", "127.0.0.1:5432", "appd", ""),
        ("listen", "127.0.0.1:5432", "dbd", ""),
        ("listen", "127.0.0.1:8080", "webd", ""),
        ("listen", "127.0.0.1:9000", "alpha", ""),
    ]
    quiet = namespace.sockstat(*history)
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")  # cron: no mail

    namespace.stop("dbd")  # restarted under a new pid: not a change
    namespace.start("dbd", "listen:5432")
    namespace.stop("appd")  # reconnects from a new ephemeral port: not a change
    namespace.start("appd", "connect:5432")
    namespace.stop("webd")  # gone
    namespace.start("cached", "listen:6379")  # new
    namespace.stop("alpha")  # the port handed to another command
    namespace.start("beta", "listen:9000")
    third = namespace.sockstat(*history, "--format", "json")
    assert third.returncode == 4, third.stderr
    assert diff_json(third) == {
        "added": [("listen", "127.0.0.1:6379", "cached", "")],
        "removed": [("listen", "127.0.0.1:8080", "webd", "")],
        "changed": [("listen", "127.0.0.1:9000", "beta", "alpha")],
    }
    # The same run again, as the table a person reads, against the second run.
    table = namespace.sockstat("--diff", db, "--baseline", "2")
    assert table.returncode == 4, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["HOST", "ZONE", "COMMAND", "PROTO", "LOCAL", "ADDRESS",
                                "REMOTE", "ADDRESS"]  # fmt: skip
    marks = sorted(
        (line[0], next(w for w in line.split() if w.startswith("127.0.0.1:")))
        for line in lines[1:]
    )
    assert marks == [("+", "127.0.0.1:6379"), ("-", "127.0.0.1:8080"),
                     ("~", "127.0.0.1:9000")]  # fmt: skip
    assert "beta (was alpha)" in table.stdout
    # History commands read the same runs back.
    listing = namespace.sockstat("history", "list", db, "--format", "json")
    assert [r["id"] for r in json.loads(listing.stdout)] == [1, 2, 3]
    between = namespace.sockstat("history", "diff", db, "1", "3", "--format", "json")
    assert between.returncode == 4
    assert diff_json(between) == diff_json(third)
    shown = namespace.sockstat("history", "show", db, "1", "-l", "--format", "json")
    ports = sorted(s["local_port"] for s in json.loads(shown.stdout)["sockets"])
    assert ports == [5432, 8080, 9000]


def test_a_zone_that_fails_is_no_answer_then_answers_again(
    namespace: Namespace, tmp_path: Path
) -> None:
    # The zone is an illumos zone reached through the zoneadm/zlogin stand-ins.
    db = str(tmp_path / "audit.db")
    config = tmp_path / "zones.json"
    root = tmp_path / "zones" / "web"  # the zone's root has su, as zones have
    (root / "root" / "usr" / "bin").mkdir(parents=True)
    (root / "root" / "usr" / "bin" / "su").touch()
    env = {"PATH": f"{STUBS}:{os.environ['PATH']}", "SOCKSTAT_STUB_ZONES": str(config)}

    def survey(mode: str) -> subprocess.CompletedProcess[str]:
        zone = {"name": "web", "netns": namespace.name, "mode": mode, "path": str(root)}
        config.write_text(json.dumps({"zones": [zone]}))
        return run_sockstat("-z", "web", "--save", db, "--diff", db, "--format", "json",
                            env=env)  # fmt: skip

    namespace.start("webd", "listen:8080")
    assert survey("normal").returncode == 4
    down = survey("gone")
    assert down.returncode == 3, down.stderr  # no target answered
    doc = json.loads(down.stdout)
    assert (doc["added"], doc["removed"], doc["changed"]) == ([], [], [])
    [target] = doc["targets"]
    assert (target["note"], target["status"]) == ("no answer", "zone-entry-failed")
    namespace.start("cached", "listen:6379")
    back = survey("normal")
    doc = json.loads(back.stdout)
    assert doc["targets"][0]["note"] == "answers again"
    assert doc["targets"][0]["baseline_run"] == 1  # its last good run, not run 2
    assert [c["local"] for c in doc["added"]] == ["127.0.0.1:6379"]
    assert doc["removed"] == []


# -- what cron needs: locks, kills, full disks -----------------------------------------


def test_a_second_run_waits_for_the_lock_then_gives_up(tmp_path: Path) -> None:
    db = str(tmp_path / "audit.db")
    open_store(db).close()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from controller.store import open_store; "
         "s = open_store(sys.argv[1]); "
         "s.lock(None, 5); print('locked', flush=True); time.sleep(3)", db],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "locked\n"
        busy = run_sockstat("-l", "--save", db, "--lock-timeout", "0.5")
        assert busy.returncode == 75
        assert busy.stdout == ""  # nothing surveyed, nothing printed
        assert busy.stderr.splitlines()[-1] == (
            f"sockstat: {db}: another sockstat run still holds this history after "
            "0.5 s (--lock-timeout)"
        )
        waited = run_sockstat("-l", "--save", db, "--lock-timeout", "30")
        assert waited.returncode in (0, 1), waited.stderr  # it waited, then saved
    finally:
        holder.wait(timeout=30)
    store = open_store(db)
    assert len(store.runs()) == 1
    store.close()


SAVER = textwrap.dedent(
    """
    import sys, time
    from common.schema import Family, Owner, Proto, Snapshot, Socket
    from controller.results import FleetResult, TargetResult
    from controller.status import Status
    from controller.store import open_store
    owner = Owner(1, 3, 0, "root", "big", "big --args")
    sockets = tuple(
        Socket(Proto.TCP, Family.INET, "stream", "ESTABLISHED", "10.0.0.1", 1 + i % 60000,
               "10.0.0.2", 443, None, i, 0, None, (owner,))
        for i in range(int(sys.argv[2]))
    )
    snapshot = Snapshot("big", "global", "linux", "", "", time.time(), sockets=sockets)
    result = FleetResult([TargetResult("big", "global", Status.OK, None, 0.0, snapshot)])
    store = open_store(sys.argv[1])
    print("saving", flush=True)
    store.save(result, started=time.time(), command="big", shard=None)
    print("saved", flush=True)
    """
)


def test_sigkill_in_the_middle_of_a_save_loses_only_that_run(tmp_path: Path) -> None:
    db = str(tmp_path / "audit.db")
    store = open_store(db)
    first = save(store, run_of(("h", "global", [tcp(22, "sshd", 1)])))
    store.close()
    saver = subprocess.Popen([sys.executable, "-c", SAVER, db, "400000"], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert saver.stdout is not None
    assert saver.stdout.readline() == "saving\n"
    time.sleep(0.3)
    saver.send_signal(signal.SIGKILL)
    saver.wait()
    assert saver.stdout.read() == ""  # killed before it could say "saved"
    with contextlib.closing(sqlite3.connect(db)) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    store = open_store(db)
    assert [r.id for r in store.runs()] == [first]
    assert store.execute("SELECT sum(sockets) FROM targets").fetchone()[0] == 1
    store.close()


def test_a_read_only_history_still_prints_the_report(tmp_path: Path) -> None:
    require_root()
    directory = Path(tempfile.mkdtemp(prefix="sockstat-ro-"))
    try:
        directory.chmod(0o755)
        db = str(directory / "audit.db")
        store = open_store(db)
        save(store, run_of(("h", "global", [tcp(22, "sshd", 1)])))
        store.close()
        os.chmod(db, 0o644)  # root's: nobody may read it, not write it
        done = run_sockstat("-l", "--save", db, "--diff", db, user=65534)
        assert done.returncode == 74, done.stderr
        assert done.stdout.splitlines()[0].split()[:2] == ["HOST", "ZONE"]  # the report
        assert done.stderr.splitlines()[-1].startswith(
            f"sockstat: cannot save the run to history {db}: attempt to write a readonly"
        )
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def fill(path: Path) -> None:
    """Write zeros until the file system has no block left."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        with pytest.raises(OSError, match="No space left"):
            _write_forever(fd)
    finally:
        os.close(fd)


def _write_forever(fd: int) -> None:
    while True:
        os.write(fd, b"\0" * 4096)


def test_a_full_disk_loses_only_this_run(tmp_path: Path) -> None:
    require_root()
    mount = tmp_path / "small"
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs",
                              str(mount)], capture_output=True, check=False)  # fmt: skip
    require(mounted.returncode == 0, "cannot mount a small tmpfs here")
    try:
        db = str(mount / "audit.db")
        store = open_store(db)
        save(store, run_of(("h", "global", [tcp(22, "sshd", 1)])))
        store.close()
        fill(mount / "filler")
        done = run_sockstat("-P", "tcp,udp,unix", "--save", db, "--diff", db)
        assert done.returncode == 74, done.stderr
        assert done.stdout.splitlines()[0].split()[:2] == ["HOST", "ZONE"]  # the report
        assert done.stderr.splitlines()[-1] == (
            f"sockstat: cannot save the run to history {db}: database or disk is full"
        )
        (mount / "filler").unlink()
        with contextlib.closing(sqlite3.connect(db)) as raw:
            assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert raw.execute("SELECT count(*) FROM runs").fetchone()[0] == 1
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_output_is_written_whole_or_not_at_all(tmp_path: Path) -> None:
    report = tmp_path / "report.txt"
    report.write_text("yesterday's\n")
    done = run_sockstat("-l", "--output", str(report))
    assert done.returncode in (0, 1), done.stderr
    assert done.stdout == ""
    assert report.read_text().startswith("USER ")
    assert [p.name for p in tmp_path.iterdir()] == ["report.txt"]  # no temporary left
    missing = run_sockstat("-l", "--output", str(tmp_path / "no" / "such" / "dir.txt"))
    assert missing.returncode == 74
    assert missing.stderr.splitlines()[-1].startswith("sockstat: cannot write ")


def test_shards_save_side_by_side_into_one_postgres(postgres: Postgres) -> None:
    url = postgres.database(f"shards{uuid.uuid4().hex[:6]}")
    open_store(url).close()
    script = textwrap.dedent(
        """
        import sys, time
        from controller.store import open_store
        store = open_store(sys.argv[1])
        store.lock(sys.argv[2], 5)  # a lock per shard: the other shard is not blocked
        print("locked", flush=True)
        sys.stdin.readline()
        """
    )
    shards = [
        subprocess.Popen([sys.executable, "-c", script + SAVER.split("store = open_store",
                          1)[0], url, f"{k}/2"], cwd=ROOT, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
        for k in (1, 2)
    ]  # fmt: skip
    for shard in shards:
        assert shard.stdout is not None
        assert shard.stdout.readline() == "locked\n"  # both hold their lock at once
    for shard in shards:
        assert shard.stdin is not None
        shard.stdin.close()
        shard.wait(timeout=30)
    savers = [
        subprocess.Popen([sys.executable, "-c", SAVER, url, "30000"], cwd=ROOT,
                         stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    for saver in savers:
        out, _ = saver.communicate(timeout=120)
        assert out == "saving\nsaved\n"
    store = open_store(url)
    assert [r.sockets for r in store.runs()] == [30000, 30000]
    store.close()


def test_postgres_keeps_streams_compressed_with_lz4(postgres: Postgres) -> None:
    """Binary COPY in, lz4 TOAST (Debian's server has it), the same run back out."""
    url = postgres.database(f"lz4{uuid.uuid4().hex[:6]}")
    sockets = [tcp(1024 + i, "svc", 1000 + i % 7) for i in range(3000)]
    store = open_store(url)
    try:
        run_id = save(store, run_of(("h", "global", sockets), ("g", "z", Status.TIMEOUT)))
        (method,) = store.execute(
            "SELECT pg_column_compression(stream) FROM target_data WHERE run_id = %s",
            (run_id,),
        ).fetchone()
        loaded = store.load(run_id)
    finally:
        store.close()
    assert method == "lz4"
    assert [(t.host, t.status) for t in loaded.targets] == [
        ("g", Status.TIMEOUT), ("h", Status.OK)
    ]  # fmt: skip
    snapshot = loaded.targets[1].snapshot
    assert snapshot is not None
    assert list(snapshot.sockets) == sockets


def test_a_saved_command_line_keeps_no_password() -> None:
    from controller.store import redacted_command  # noqa: PLC0415

    argv = ["sockstat", "-l", "--save", "postgresql://audit:s3cret@db/sockstat"]
    assert redacted_command(argv) == "sockstat -l --save postgresql://audit@db/sockstat"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--shard", "3/2"], "argument --shard: '3/2' is not K/N with 1 <= K <= N"),
        (["--shard", "1/2"], "--shard needs TARGET or -i"),
        (["--baseline", "3"], "--baseline needs --diff DB"),
        (["--diff", "x.db", "--format", "csv"], "--diff writes a table, json or jsonl"),
        (["--save", "a.db", "--diff", "b.db"], "--save and --diff name different DBs"),
    ],
)
def test_history_flags_that_do_not_go_together(args: list[str], message: str) -> None:
    done = run_sockstat(*args)
    assert (done.returncode, done.stderr) == (2, f"sockstat: {message}\n")
