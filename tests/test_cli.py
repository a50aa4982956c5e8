"""The command line: usage errors, help, formats, and the stdout/stderr split."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from common.decode import decode_snapshot
from controller.cli import sockstat_command
from tests.conftest import ROOT


def invoke(*args: str) -> tuple[int, str, str]:
    runner = CliRunner()
    result = runner.invoke(sockstat_command, list(args), standalone_mode=True)
    return result.exit_code, result.stdout, result.stderr


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
        (["--format", "xml"], "'xml' is not one of"),
        (["-x"], "No such option"),
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


def test_help_lists_every_option() -> None:
    code, out, _ = invoke("-h")
    assert code == 0
    for flag in ("-4", "-6", "-a", "-c", "-H", "-l", "-L", "-P", "-u", "-p", "-s", "-n",
                 "--format", "Exit status"):  # fmt: skip
        assert flag in out


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
