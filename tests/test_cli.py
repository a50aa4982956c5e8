"""The command line: usage errors, help, formats, and the stdout/stderr split."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from common.decode import decode_snapshot
from common.schema import Family
from common.schema import Owner
from common.schema import Proto
from common.schema import Snapshot
from common.schema import Socket
from controller.cli import run
from controller.filters import Filter
from controller.filters import select
from controller.flags import UsageError
from controller.render import render_csv
from controller.results import FleetResult
from controller.results import TargetResult
from controller.status import Status
from tests.conftest import ROOT


def invoke(*args: str) -> tuple[int, str, str]:
    """Run the command line in this process, as main() does, capturing both streams."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = run(list(args))
        except UsageError as error:
            err.write(f"sockstat: {error}\n")
            code = 2
    return code, out.getvalue(), err.getvalue()


def run_main(*args: str) -> subprocess.CompletedProcess[str]:
    """Run sockstat as users do; usage errors must be one line, exit 2."""
    return subprocess.run(
        [sys.executable, "-m", "controller", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-P", "sctp"], "unknown protocol 'sctp'; expected one of: tcp, udp, unix"),
        (["-P", ","], "empty protocol list"),
        (["-p", "99999"], "bad port '99999'"),
        (["-p", "80-20"], "bad port '80-20'"),
        (["-p", "http"], "bad port 'http'"),
        (["--format", "xml"], "invalid choice: 'xml'"),
        (["-x"], "unrecognized arguments: -x"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    done = run_main(*args)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("sockstat: ")
    assert message in lines[0]
    assert "Traceback" not in done.stderr


def help_options(text: str) -> set[str]:
    """The option names --help lists (each at the start of its entry)."""
    found: set[str] = set()
    for line in text.splitlines():
        entry = re.match(r"  (-\S.*?)(?:\s{2,}|$)", line)
        if entry:
            found.update(spec.split()[0] for spec in entry.group(1).split(", "))
    return found


def test_help_and_readme_list_the_same_options() -> None:
    """Every option of --help is in the README's Options table, and only those."""
    code, out, _ = invoke("-h")
    assert code == 0
    shown = help_options(out)
    assert {"-4", "-6", "-a", "-c", "-l", "-H", "-L", "-P", "-u", "-p", "-s", "-n",
            "-Z", "-z", "-j", "--format"} <= shown  # fmt: skip
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Options") : readme.index("Neither `-l` nor `-c`")]
    documented = set()
    for row in table.splitlines()[2:]:
        first = row.split("|")[1] if row.startswith("|") else ""
        documented.update(re.findall(r"`(-[-\w]+)", first))
    assert shown - {"--version"} == documented
    assert "Exit status" in out


def test_json_document_shape() -> None:
    code, out, _ = invoke("--format", "json", "-u")
    assert code == 0
    doc = json.loads(out)
    assert set(doc) == {"targets", "sockets"}
    (target,) = doc["targets"]
    assert target["zone"] == "global"
    assert target["status"] == "ok"
    assert target["error"] is None
    assert target["sockets"] == len(doc["sockets"])
    for sock in doc["sockets"]:
        assert {"host", "zone", "proto", "state", "local_address", "local_port",
                "remote_address", "remote_port", "path", "inode", "uid",
                "owners"} <= set(sock)  # fmt: skip
        for owner in sock["owners"]:
            assert set(owner) >= {"pid", "fd", "user", "command", "args"}


def test_msgpack_output_is_a_valid_stream() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "controller", "--format", "msgpack", "-q"],
        capture_output=True,
        cwd=ROOT,
        check=True,
    )
    snapshot = decode_snapshot(done.stdout)
    assert snapshot.zone == "global"


def test_no_rows_prints_only_the_header() -> None:
    code, out, _ = invoke("-p", "1", "-P", "udp")  # nothing listens on udp/1 here
    assert code == 0
    assert out.split() == ["USER", "COMMAND", "PID", "PROTO", "LOCAL", "ADDRESS",
                           "REMOTE", "ADDRESS"]  # fmt: skip


def test_python_dash_m_controller_runs() -> None:
    done = run_main("-H", "-q", "-P", "tcp")
    assert done.returncode == 0
    assert "Traceback" not in done.stderr


# -- output errors (#9.10) ---------------------------------------------------------


@pytest.mark.parametrize("fmt", ["table", "json", "jsonl", "csv", "msgpack"])
def test_full_disk_is_one_line_and_exit_74(fmt: str) -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "controller", "-q", "-u", "-a", "--format", fmt],
            stdout=full, stderr=subprocess.PIPE, text=True, cwd=ROOT, check=False,
        )  # fmt: skip
    assert done.returncode == 74
    assert done.stderr.splitlines() == [
        "sockstat: cannot write the output: No space left on device"
    ]


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "msgpack"])
def test_reader_that_leaves_is_silent_and_exit_0(fmt: str) -> None:
    """`sockstat | head -1`: the reader is gone before sockstat writes."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "controller", "-q", "-u", "-a", "--format", fmt],
            stdout=write_end, stderr=subprocess.PIPE, text=True, cwd=ROOT, check=False,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert done.returncode == 0
    assert done.stderr == ""


def test_msgpack_refuses_a_terminal() -> None:
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "controller", "--format", "msgpack"],
            stdout=follower, stderr=subprocess.PIPE, text=True, cwd=ROOT, check=False,
        )  # fmt: skip
    finally:
        os.close(leader)
        os.close(follower)
    assert done.returncode == 2
    assert "refusing to write binary msgpack to a terminal" in done.stderr
    assert len(done.stderr.splitlines()) == 1


# -- bad files and values (#9.11) --------------------------------------------------


def bad_inventories(tmp_path: Path) -> list[tuple[Path, str]]:
    cases = {
        "binary.txt": (b"\x00\xff\xfe\x93binary", "not a text inventory"),
        "list.yml": (b"all:\n  hosts:\n    a: [1, 2]\n", "variables of host 'a' must be"),
        "children.yml": (b"all:\n  children: [x]\n", "children of group 'all' must be"),
        "loop.ini": (b"[a:children]\nb\n[b:children]\na\n", "creates a loop"),
        "vars.yml": (b"all:\n  vars: [1]\n", "vars of group 'all' must be"),
    }
    found = []
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        found.append((tmp_path / name, message))
    return found


def test_bad_inventories_are_usage_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOCKSTAT_INVENTORY_READER", "builtin")
    for path, message in bad_inventories(tmp_path):
        done = run_main("-i", str(path))
        assert done.returncode == 2, (path, done.stderr)
        lines = done.stderr.splitlines()
        assert len(lines) == 1, done.stderr
        assert str(path) in lines[0]
        assert message in lines[0], lines[0]
        assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-F", "/nonexistent/ssh_config", "web1"], "cannot read ssh_config"),
        (["-Z", "--timeout", "nan"], "bad time 'nan'"),
        (["--deadline", "inf"], "bad time 'inf'"),
        (["--timeout", "0"], "bad time '0'"),
        (["--max-bytes", "lots"], "bad size 'lots'"),
        (["--max-sockets", "0"], "--max-sockets"),
    ],
)
def test_bad_values_are_usage_errors(args: list[str], message: str) -> None:
    done = run_main(*args)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_bad_value_for_one_host_is_that_hosts_bad_target(tmp_path: Path) -> None:
    """The other hosts are still surveyed; the error names the host and the variable."""
    path = tmp_path / "hosts.ini"
    path.write_text("[web]\nw1 ansible_port=99999999\nlocal ansible_connection=local\n")
    done = run_main("-i", str(path), "--format", "json")
    assert done.returncode == 2, done.stderr
    doc = json.loads(done.stdout)
    found = {t["host"]: (t["status"], t["error"]) for t in doc["targets"]}
    assert found["local"][0] == "ok"
    assert found["w1"] == (
        "bad-target",
        "inventory host w1: ansible_port='99999999': expected a port 1-65535",
    )
    assert done.stderr.count("bad-target") == 1


def test_binary_ssh_config_is_a_usage_error(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_bytes(b"Host x\n  HostName \xff\xfe\n")
    done = run_main("-F", str(config), "x")
    assert done.returncode == 2
    assert "not a valid ssh_config" in done.stderr
    assert len(done.stderr.splitlines()) == 1


# -- CSV cells a spreadsheet would run (#9.13) -------------------------------------


def test_csv_cells_that_start_a_formula_are_quoted() -> None:
    owner = Owner(7, 3, 0, "=cmd|' /C calc'!A0", "+evil", "-x @y")
    sock = Socket(Proto.TCP, Family.INET, "stream", "LISTEN", "10.0.0.1", 80, None, None,
                  None, 1, 0, None, (owner,))  # fmt: skip
    snapshot = Snapshot("h", "@zone", "linux", "k", "1", 0.0, sockets=(sock,))
    target = TargetResult("=host", "@zone", Status.OK, None, 0.0, snapshot)
    out = io.StringIO()
    render_csv(select(FleetResult([target]), Filter.from_switches()), out)
    row = next(csv.DictReader(io.StringIO(out.getvalue())))
    assert row["host"] == "'=host"
    assert row["zone"] == "'@zone"
    assert row["user"] == "'=cmd|' /C calc'!A0"
    assert row["command"] == "'+evil"
    assert row["args"] == "'-x @y"
    assert row["local_address"] == "10.0.0.1"
