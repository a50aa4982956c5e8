"""-Z and -z over real network namespaces, and over illumos zones played by stubs.

Linux: namespaces made with ``ip netns add``, a socket holder in each, surveyed
in-process with setns.  illumos: tests/stubs/zoneadm and tests/stubs/zlogin stand in
for the real tools and map each zone onto one of those namespaces, so the agent is
shipped over zlogin's stdin and booted from memory exactly as in a real zone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.linux import collect_namespaces
from agent.netns import list_namespaces
from agent.query import Query
from tests.conftest import TESTS
from tests.conftest import Holder
from tests.conftest import require
from tests.conftest import require_root
from tests.conftest import require_tool
from tests.conftest import run_sockstat
from tests.conftest import start_holder
from tests.conftest import stop_holder

pytestmark = pytest.mark.live
STUBS = TESTS / "stubs"
ZONES = 5


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def netns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Holder]]:
    """Five named network namespaces, each with a process holding sockets in it."""
    require(os.geteuid() == 0, "network namespaces need root")
    require_tool("ip")
    tag = uuid.uuid4().hex[:6]
    names = [f"sst{tag}{i}" for i in range(ZONES)]
    holders: dict[str, Holder] = {}
    try:
        for name in names:
            ip("netns", "add", name)
            ip("-n", name, "link", "set", "lo", "up")
            directory = tmp_path_factory.mktemp(name)
            holders[name] = start_holder(directory, ["ip", "netns", "exec", name])
        yield holders
    finally:
        for held in holders.values():
            stop_holder(held)
        for name in names:
            subprocess.run(
                ["ip", "netns", "delete", name], check=False, capture_output=True
            )


def survey(
    *args: str, env: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], str]:
    done = run_sockstat("--format", "json", "-u", *args, env=env)
    return done.returncode, json.loads(done.stdout), done.stderr


def sockets_of(doc: dict[str, Any], zone: str) -> dict[int, dict[str, Any]]:
    return {s["inode"]: s for s in doc["sockets"] if s["zone"] == zone and s["inode"]}


def test_every_namespace_is_a_zone(netns: dict[str, Holder], holder: Holder) -> None:
    code, doc, stderr = survey("-Z")
    assert code == 0, stderr
    statuses = {t["zone"]: t["status"] for t in doc["targets"]}
    for name, held in netns.items():
        assert statuses[name] == "ok"
        found = sockets_of(doc, name)
        for sock in ("tcp4_listen", "tcp4_client", "tcp6_server", "udp4", "unix_listen"):
            entry = found[held.inode(sock)]
            assert {(o["pid"], o["command"]) for o in entry["owners"]} == {
                (held.pid, "sockholder")
            }
        shared = found[held.inode("shared")]
        assert {o["pid"] for o in shared["owners"]} == {held.pid, held.child}
        # Each namespace has its own loopback: the same port can exist in several.
        assert all(s["zone"] == name for s in found.values())
    # The host's own namespace is the zone "global", with the host's sockets.
    assert statuses["global"] == "ok"
    assert holder.inode("tcp4_listen") in sockets_of(doc, "global")
    assert next(iter(netns.values())).inode("tcp4_listen") not in sockets_of(doc, "global")


def test_z_selects_zones_by_glob(netns: dict[str, Holder]) -> None:
    first, second = sorted(netns)[:2]
    code, doc, _ = survey("-z", first, "-z", second[:-1] + "[1]")
    assert code == 0
    assert [t["zone"] for t in doc["targets"]] == [first, second]
    assert {s["zone"] for s in doc["sockets"]} == {first, second}


def test_z_matching_nothing_names_the_zones(netns: dict[str, Holder]) -> None:
    done = run_sockstat("-z", "no-such-zone*")
    assert done.returncode == 2
    assert "no zone matches 'no-such-zone*'" in done.stderr
    assert sorted(netns)[0] in done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_table_has_zone_column_first(netns: dict[str, Holder]) -> None:
    name = sorted(netns)[0]
    done = run_sockstat("-z", name, "-P", "tcp", "-l")
    header, *rows = done.stdout.splitlines()
    assert header.split()[:3] == ["ZONE", "USER", "COMMAND"]
    port = netns[name].port("tcp4_listen")
    row = next(r for r in rows if f"127.0.0.1:{port} " in r)
    assert row.split()[:4] == [name, "root", "sockholder", str(netns[name].pid)]


def test_namespace_that_vanishes_is_reported_not_fatal(netns: dict[str, Holder]) -> None:
    name = f"sstgone{uuid.uuid4().hex[:6]}"
    ip("netns", "add", name)
    listed = {ns.name: ns for ns in list_namespaces()}
    ip("netns", "delete", name)
    keep = sorted(netns)[0]
    results = collect_namespaces(Query(), [listed[name], listed[keep]])
    assert results[0].gone
    assert "no longer exists" in (results[0].error or "")
    assert results[1].error is None
    assert netns[keep].inode("tcp4_listen") in {s.inode for s in results[1].sockets}


def test_unnamed_namespace_gets_a_readable_stable_name(tmp_path: Path) -> None:
    require_root()
    require_tool("unshare")
    up = 'ip link set lo up && exec "$@"'
    held = start_holder(tmp_path, ["unshare", "--net", "/bin/sh", "-c", up, "sh"])
    try:
        inode = os.stat(f"/proc/{held.pid}/ns/net").st_ino
        code, doc, stderr = survey("-Z")
        assert code == 0, stderr
        zone = f"sockholder-{inode}"
        assert zone in {t["zone"] for t in doc["targets"]}
        assert held.inode("unix_listen") in sockets_of(doc, zone)
    finally:
        stop_holder(held)


def test_escape_sequences_from_a_zone_are_escaped(
    tmp_path: Path, netns: dict[str, Holder]
) -> None:
    name = sorted(netns)[0]
    evil = tmp_path / "x\x1b]0;pwned\x07y"
    evil.mkdir()
    held = start_holder(evil, ["ip", "netns", "exec", name])
    try:
        done = run_sockstat("-z", name, "-a", "-P", "tcp")
        assert "\x1b" not in done.stdout
        assert "\x07" not in done.stdout
        line = next(r for r in done.stdout.splitlines() if f" {held.pid} " in r)
        assert "x\\x1b]0;pwned\\x07y" in line
    finally:
        stop_holder(held)


# -- the illumos code path, through the zoneadm and zlogin stubs ---------------------

MODES = {
    "hung": "hang",
    "junk": "garbage",
    "cut": "cutoff",
    "ex3": "exit3",
    "gone": "gone",
    "nopy": "nopython",
    "oldpy": "oldpython",
    "hostile": "hostile",
    "evilss": "hostile-ss",
    "flood": "flood",
}


@pytest.fixture(scope="module")
def illumos(
    netns: dict[str, Holder], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """Environment that puts the stubs first on PATH, with zones mapped onto netns."""
    names = sorted(netns)
    directory = tmp_path_factory.mktemp("zones")

    def zone_path(name: str, *, su: bool = True) -> str:
        # The zone's root file system, as the global zone sees it: with su, as
        # every real zone but SmartOS's smallest has.
        path = directory / name
        (path / "root" / "usr" / "bin").mkdir(parents=True)
        if su:
            (path / "root" / "usr" / "bin" / "su").touch()
        return str(path)

    zones: list[dict[str, Any]] = [
        {"name": f"z{i}", "netns": name, "brand": "joyent", "did": i,
         "path": zone_path(f"z{i}")}
        for i, name in enumerate(names)
    ]  # fmt: skip
    zones += [
        {"name": z, "netns": names[0], "mode": m, "path": zone_path(z)}
        for z, m in MODES.items()
    ]
    zones.append({"name": "vm1", "netns": names[0], "brand": "bhyve"})
    zones.append({"name": "odd", "netns": names[0], "path": zone_path("a:b:c")})
    # SmartOS's zlogin, in a zone with su and in one without (words exec'd as given).
    zones.append({"name": "smartsu", "netns": names[0], "zlogin": "smartos",
                  "path": zone_path("smartsu")})  # fmt: skip
    zones.append({"name": "smartnosu", "netns": names[0], "zlogin": "smartos",
                  "path": zone_path("smartnosu", su=False)})  # fmt: skip
    # A zone name no zonecfg accepts, as a compromised global zone could list it.
    zones.append({"name": "ev\x1b[2Jil\rzone", "netns": names[0]})
    config = directory / "zones.json"
    config.write_text(json.dumps({"zones": zones}))
    return {
        "PATH": f"{STUBS}:{os.environ['PATH']}",
        "SOCKSTAT_STUB_ZONES": str(config),
        "SOCKSTAT_STUB_LOG": str(directory / "zlogin.log"),
    }


def test_illumos_zones_through_zlogin(
    netns: dict[str, Holder], illumos: dict[str, str]
) -> None:
    zones = [f"z{i}" for i in range(ZONES)]
    code, doc, stderr = survey("-z", "z*", "-z", "odd", env=illumos)
    assert code == 0, stderr
    assert [t["zone"] for t in doc["targets"]] == [*zones, "odd"]
    for zone, name in zip(zones, sorted(netns)):
        held = netns[name]
        found = sockets_of(doc, zone)
        listener = found[held.inode("tcp4_listen")]
        assert listener["owners"][0]["pid"] == held.pid
        assert listener["owners"][0]["command"] == "sockholder"
        assert listener["owners"][0]["user"] == "root"
        assert held.report["path"] == found[held.inode("unix_listen")]["path"]
    calls = [
        json.loads(line)
        for line in Path(illumos["SOCKSTAT_STUB_LOG"]).read_text().splitlines()
    ]
    first = next(c for c in calls if c[1] == "z0")
    assert first[0] == "-Q"
    assert len(first) == 3  # one quoted string for the zone's shell
    assert first[2].startswith("echo sockstat-entered:zone:z0 >&2; exec /bin/sh -c ")


def test_smartos_zlogin_with_and_without_su(
    netns: dict[str, Holder], illumos: dict[str, str]
) -> None:
    """SmartOS's zlogin execs the words where the zone has no su: both must work."""
    log = Path(illumos["SOCKSTAT_STUB_LOG"])
    log.write_text("")
    code, doc, stderr = survey("-z", "smartsu", "-z", "smartnosu", env=illumos)
    assert code == 0, stderr
    assert {t["zone"]: t["status"] for t in doc["targets"]} == {
        "smartsu": "ok", "smartnosu": "ok",
    }  # fmt: skip
    held = netns[sorted(netns)[0]]
    for zone in ("smartsu", "smartnosu"):
        assert held.inode("tcp4_listen") in sockets_of(doc, zone)
    calls = {c[1]: c for c in map(json.loads, log.read_text().splitlines())}
    assert len(calls["smartsu"]) == 3  # one string, for su -c
    announce = 'echo sockstat-entered:zone:smartnosu >&2; exec "$@"'
    assert calls["smartnosu"][2:5] == ["/bin/sh", "-c", announce]  # the words


def test_illumos_global_zone_is_surveyed_in_place(
    holder: Holder, illumos: dict[str, str]
) -> None:
    code, doc, _ = survey("-z", "global", env=illumos)
    assert code == 0
    assert holder.inode("tcp4_listen") in sockets_of(doc, "global")


def test_each_failure_is_one_zone_status(
    netns: dict[str, Holder], illumos: dict[str, str]
) -> None:
    code, doc, stderr = survey("-Z", "--timeout", "4", env=illumos)
    assert code == 1
    by_zone = {t["zone"]: t for t in doc["targets"]}
    expected = {
        "hung": ("timeout", "no complete answer within 4s"),
        "junk": ("bad-output", "undecodable msgpack"),
        "cut": ("bad-output", "cut off"),
        "ex3": ("agent-error", "exit status 3"),
        "gone": ("zone-entry-failed", "not running"),
        "nopy": ("fallback", "no python3 found; listed by ss -tuanpe"),
        "oldpy": ("fallback", "python3 is Python 3.6.15, older than 3.9"),
        "vm1": ("skipped", "hardware VM (bhyve)"),
    }
    for zone, (status, message) in expected.items():
        assert by_zone[zone]["status"] == status, by_zone[zone]
        assert message in by_zone[zone]["error"]
    for zone in [f"z{i}" for i in range(ZONES)] + ["global", "hostile"]:
        assert by_zone[zone]["status"] == "ok"
    # The zones that failed are one line each on stderr; the others are all reported.
    for zone in ("hung", "junk", "cut", "ex3", "gone"):
        assert sum(f"/{zone}: " in line for line in stderr.splitlines()) == 1, stderr
    assert "Traceback" not in stderr
    # The fallback still lists the zone's sockets, owners without user or args.
    held = netns[sorted(netns)[0]]
    fallback = sockets_of(doc, "nopy")[held.inode("tcp4_listen")]
    assert fallback["owners"][0]["pid"] == held.pid
    assert fallback["owners"][0]["user"] is None


def test_zlogin_refusing_a_zone(illumos: dict[str, str], tmp_path: Path) -> None:
    config = json.loads(Path(illumos["SOCKSTAT_STUB_ZONES"]).read_text())
    # zoneadm lists a zone that zlogin does not know: zlogin refuses it.
    listed = {**config, "zones": [*config["zones"], {"name": "ghost", "netns": "none"}]}
    zoneadm_view = tmp_path / "zones.json"
    zoneadm_view.write_text(json.dumps(listed))
    env = {**illumos, "SOCKSTAT_STUB_ZONES": str(zoneadm_view)}
    Path(zoneadm_view).write_text(json.dumps(listed))
    code, doc, stderr = survey("-z", "ghost", "-z", "z1", env=env)
    by_zone = {t["zone"]: t for t in doc["targets"]}
    assert by_zone["z1"]["status"] == "ok"
    assert by_zone["ghost"]["status"] == "zone-entry-failed"
    assert code == 1
    assert "ghost" in stderr


def test_no_zone_answering_exits_3(illumos: dict[str, str]) -> None:
    code, doc, _ = survey("-z", "hung", "-z", "junk", "--timeout", "2", env=illumos)
    assert code == 3
    assert {t["status"] for t in doc["targets"]} == {"timeout", "bad-output"}


def test_nothing_a_zone_says_drives_the_terminal(illumos: dict[str, str]) -> None:
    """Warnings, stderr lines (-vv), names and fallback text from zones (#9.2)."""
    done = run_sockstat("-Z", "-vv", "-u", "--timeout", "4", env=illumos)
    for stream in (done.stdout, done.stderr):
        assert "\x1b" not in stream
        assert "\r" not in stream
        assert "\x07" not in stream
    lines = done.stderr.splitlines()
    assert all(line.startswith("sockstat: ") for line in lines), done.stderr
    assert "sockstat: all ok" not in lines
    warning = "/hostile: \\x1b[2Jcleared\\rover\\nsockstat: all ok"
    assert any(line.endswith(warning) for line in lines), done.stderr


def test_fallback_text_gets_the_decoders_validation(illumos: dict[str, str]) -> None:
    code, doc, stderr = survey("-z", "evilss", "-z", "z0", env=illumos)
    by_zone = {t["zone"]: t for t in doc["targets"]}
    assert by_zone["z0"]["status"] == "ok"
    assert by_zone["evilss"]["status"] == "bad-output", by_zone["evilss"]
    assert "local_address" in by_zone["evilss"]["error"]
    assert not [s for s in doc["sockets"] if s["zone"] == "evilss"]
    assert code == 1
    assert "\x1b" not in stderr


def test_zone_names_in_usage_errors_are_escaped(illumos: dict[str, str]) -> None:
    done = run_sockstat("-z", "no-such-zone", env=illumos)
    assert done.returncode == 2
    assert "\x1b" not in done.stderr
    assert "\r" not in done.stderr
    assert "ev\\x1b[2Jil\\rzone" in done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_huge_command_line_is_cut_not_fatal(
    netns: dict[str, Holder], illumos: dict[str, str]
) -> None:
    """A 100 KB classpath used to make its whole zone bad-output (#9.8)."""
    name = sorted(netns)[0]
    script = (
        "import socket,sys;s=socket.socket();s.bind(('127.0.0.1',0));s.listen();"
        "print(s.getsockname()[1],flush=True);sys.stdin.read()"
    )
    classpath = "/opt/app/lib/" + "x" * 100_000 + ".jar"
    process = subprocess.Popen(
        ["ip", "netns", "exec", name, sys.executable, "-c", script, "-cp", classpath],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        code, doc, stderr = survey("-z", "z0", "-P", "tcp", env=illumos)
        assert code == 0, stderr
        (sock,) = [s for s in doc["sockets"] if s["local_port"] == port]
        args = sock["owners"][0]["args"]
        assert args.startswith(f"{sys.executable} -c ")
        assert args.endswith(" more characters]")
        assert "[cut: " in args
        assert len(args) < 33_000
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait()


def test_endless_valid_records_are_cut_at_the_limit(illumos: dict[str, str]) -> None:
    """A zone streaming valid records without end ends as bad-output (#9.3)."""
    code, doc, _ = survey(
        "-z", "flood", "-z", "z0", "--max-sockets", "5000", "--timeout", "30", env=illumos
    )
    by_zone = {t["zone"]: t for t in doc["targets"]}
    assert by_zone["z0"]["status"] == "ok"
    assert by_zone["flood"]["status"] == "bad-output"
    assert "more than 5000 sockets" in by_zone["flood"]["error"]
    assert "--max-sockets" in by_zone["flood"]["error"]
    assert code == 1
    code, doc, _ = survey("-z", "flood", "--max-bytes", "64K", env=illumos)
    assert "stream exceeds 65536 bytes" in doc["targets"][0]["error"]
    assert "--max-bytes" in doc["targets"][0]["error"]


def sleepers() -> list[str]:
    """Pids of the hung zone's command (tests/stubs/zlogin mode "hang")."""
    done = subprocess.run(["pgrep", "-f", "^sleep 3600$"], capture_output=True, text=True)
    return done.stdout.split()


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_the_run_and_keeps_what_came(
    illumos: dict[str, str], signum: int, code: int
) -> None:
    """Ctrl-C or SIGTERM: answered zones printed, the rest interrupted, no child left."""
    log = Path(illumos["SOCKSTAT_STUB_LOG"])
    log.write_text("")
    process = subprocess.Popen(
        [sys.executable, "-m", "controller", "--format", "json", "-j", "1",
         "-z", "z0", "-z", "hung", "-z", "ex3", "--timeout", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=TESTS.parent,
        env={**os.environ, **illumos},
    )  # fmt: skip
    try:
        for _ in range(200):  # until the hung zone's command runs
            if sleepers():
                break
            threading.Event().wait(0.05)
        assert sleepers(), "the hung zone never started"
        process.send_signal(signum)  # z0 has answered (-j 1: zones go in order)
        out, err = process.communicate(timeout=20)  # a hang guard, not a measure
    finally:
        process.kill()
    assert process.returncode == code, err
    doc = json.loads(out)
    by_zone = {t["zone"]: t for t in doc["targets"]}
    assert by_zone["z0"]["status"] == "ok"
    assert by_zone["hung"]["status"] == "interrupted"
    assert by_zone["ex3"]["status"] == "interrupted"
    name = "SIGINT" if signum == signal.SIGINT else "SIGTERM"
    assert f"interrupted by {name}" in by_zone["hung"]["error"]
    assert [s for s in doc["sockets"] if s["zone"] == "z0"]
    assert "Traceback" not in err
    for _ in range(40):  # the killed group is reaped by init, not by us
        if not sleepers():
            break
        threading.Event().wait(0.05)
    assert sleepers() == []
    # ex3 never started: no zlogin for it after the signal.
    assert "ex3" not in [json.loads(line)[1] for line in log.read_text().splitlines()]


def test_z_without_root_is_a_status_per_zone(netns: dict[str, Holder]) -> None:
    """Non-root -Z printed a thread's PermissionError traceback (#9.12)."""
    empty = f"sstempty{uuid.uuid4().hex[:6]}"
    ip("netns", "add", empty)
    try:
        done = run_sockstat("--format", "json", "-Z", user=65534)
    finally:
        ip("netns", "delete", empty)
    assert "Traceback" not in done.stderr
    assert "Exception in thread" not in done.stderr
    by_zone = {t["zone"]: t for t in json.loads(done.stdout)["targets"]}
    assert by_zone["global"]["status"] == "ok"
    # Without root neither setns(2) nor root's /proc/<pid>/ns/net links: each
    # namespace is one status saying why, and the others are still listed.
    for name in [empty, *netns]:
        assert by_zone[name]["status"] == "zone-entry-failed", by_zone[name]
        assert "needs root" in by_zone[name]["error"]
        assert sum(f"/{name}: " in line for line in done.stderr.splitlines()) == 1
    assert done.returncode == 1
