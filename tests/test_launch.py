"""The sockstat command's launcher: its guess of a local listing, judged by argparse.

controller/launch.py forks the fd scan before the CLI has parsed anything, from a
guess made on the raw words.  A wrong "yes" costs a scan nobody takes; a "yes" for a
run that is not a listing of this host must never happen silently, and every flag
the parser gains must be placed by hand: these tests fail otherwise.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from controller import flags
from controller.flags import UsageError
from controller.parser import build_parser
from tests.conftest import ROOT

# Flags that mean another host, another command, or no listing at all.
NOT_A_LOCAL_LISTING = {
    "-i", "-F", "--limit", "--list-targets", "--accept-new", "--become", "--shard",
    "--version", "-h", "--help",
}  # fmt: skip


def parser_options() -> dict[str, bool]:
    """Every option string of the parser -> whether it takes a value."""
    return {
        option: action.nargs != 0
        for action in build_parser()._actions
        for option in action.option_strings
    }


def guessed_options() -> dict[str, bool]:
    short = {f"-{c}": False for c in flags.SWITCHES}
    short |= {f"-{c}": True for c in flags.VALUED}
    long = dict.fromkeys(flags.LONG_SWITCHES, False)
    long |= dict.fromkeys(flags.LONG_VALUED, True)
    return short | long


def test_every_flag_of_the_parser_is_placed() -> None:
    options, guessed = parser_options(), guessed_options()
    assert set(guessed) | NOT_A_LOCAL_LISTING == set(options)
    assert not set(guessed) & NOT_A_LOCAL_LISTING
    for option, takes_value in guessed.items():
        assert options[option] is takes_value, option


@pytest.mark.parametrize(
    ("argv", "local"),
    [
        ([], True),
        (["-q", "-P", "tcp"], True),
        (["-lc4"], True),
        (["-Ptcp,udp", "-p80"], True),
        (["-lP", "tcp"], True),
        (["--format=json", "--timeout", "5"], True),
        (["-Z", "-z", "web*", "-s"], True),
        (["--save", "/var/lib/sockstat.db", "--diff=x.db"], True),
        (["web1"], False),
        (["-q", "web1"], False),
        (["-P", "tcp", "root@web1:22"], False),
        (["-i", "hosts.ini"], False),
        (["-li", "hosts.ini"], False),
        (["history", "list"], False),
        (["--form", "json"], False),  # an abbreviation argparse accepts: no guess
        (["-P"], False),
        (["--format"], False),
        (["-"], False),
        (["--"], False),
        (["--check=yes"], False),
        (["--help"], False),
    ],
)
def test_the_guess(argv: list[str], local: bool) -> None:
    assert flags.lists_this_host(argv) is local


OTHER_WORDS = {"tcp", "web1", "history", "-lc", "-Ptcp", "--format=json", "5", "-", "--",
               "-x", "--form", "a@b"}  # fmt: skip
WORDS = st.sampled_from(sorted(set(parser_options()) | OTHER_WORDS))


@settings(max_examples=2000, deadline=None)
@given(st.lists(WORDS, max_size=6))
def test_a_guessed_listing_is_one_for_argparse(argv: list[str]) -> None:
    """Whenever the launcher guesses "listing of this host", argparse agrees or refuses."""
    if not flags.lists_this_host(argv):
        return
    try:
        opts = build_parser().parse_intermixed_args(argv)
    except (UsageError, SystemExit, TypeError, ValueError):
        return  # a usage error: the early scan is ended unused
    assert opts.targets == []
    assert opts.inventory is None
    assert opts.ssh_config is None
    assert not opts.help
    assert not opts.version
    assert not opts.list_targets


# Values, good and bad, for the flags that take one.
VALUES = ["tcp", "tcp,udp,unix", "sctp", "", "22", "80,8000-8100", "99999", "web*",
          "json", "xml", "0", "8", "2000", "1.5", "nan", "64M", "7d", "-1", "=tcp",
          "a.db"]  # fmt: skip


@settings(max_examples=3000, deadline=None)
@given(st.lists(WORDS | st.sampled_from(VALUES), max_size=6))
def test_a_listing_parsed_without_argparse_is_what_argparse_reads(argv: list[str]) -> None:
    """parse_listing() answers None, or exactly argparse's namespace for the same words."""
    quick = flags.parse_listing(argv)
    if quick is None:
        return
    judged = build_parser().parse_intermixed_args(argv)  # must not refuse them either
    assert vars(quick) == vars(judged)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["-q", "-P", "tcp"],
        ["-lc4"],
        ["-Ptcp,udp", "-p80"],
        ["-lP", "tcp"],
        ["--format=json", "--timeout", "5"],
        ["-Z", "-z", "web*", "-z", "db", "-s"],
        ["-vvq", "--quiet", "--verbose"],
        ["--max-bytes", "64M", "--max-sockets", "10"],
        ["--save", "a.db", "--diff=a.db", "--baseline", "7d", "--lock-timeout=2.5"],
        ["-j", "4", "--host-jobs", "16", "--deadline", "60", "--output", "out.txt"],
        ["-P", "tcp", "-P", "udp", "--format", "csv", "--format", "table"],
        ["--check"],
    ],
)
def test_plain_listings_are_read_without_argparse(argv: list[str]) -> None:
    quick = flags.parse_listing(argv)
    assert quick is not None
    assert vars(quick) == vars(build_parser().parse_intermixed_args(argv))


@pytest.mark.parametrize(
    "argv",
    [
        ["web1"],
        ["-i", "hosts"],
        ["--help"],
        ["-h"],
        ["--version"],
        ["--form", "json"],
        ["-P", "sctp"],
        ["-P=tcp"],
        ["-P", "-l"],
        ["--format", "xml"],
        ["--timeout", "nan"],
        ["--check=1"],
        ["-j", "0"],
        ["-z"],
        ["history", "list", "a.db"],
        ["--"],
        ["-"],
    ],
)
def test_the_rest_is_left_to_argparse(argv: list[str]) -> None:
    assert flags.parse_listing(argv) is None


def test_a_plain_listing_does_not_import_argparse() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from controller.cli import run; "
         "run(['-q', '-H', '-P', 'tcp']); print('argparse' in sys.modules)"],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    assert done.stdout.splitlines()[-1] == "False"


WATCH = """
import os, sys
from agent import fdhelper
from controller import launch
fdhelper.HELPER_MIN_FDS = 0  # fork the helper however few fds this machine has
started, taken = [], []
start, take = fdhelper.start_early, fdhelper.take_early
def start_early():
    start()
    started.extend(h._child[0] for h in fdhelper._early if h._child)
def take_early():
    helper = take()
    if helper is not None:
        taken.append(sys._getframe(1).f_code.co_name)
    return helper
fdhelper.start_early, fdhelper.take_early = start_early, take_early
def leave(status):
    for pid in started:
        try:
            os.waitpid(pid, os.WNOHANG)
            sys.stderr.write("helper left running\\n")
        except ChildProcessError:
            pass
    sys.stderr.write(f"started {len(started)} taken {taken}\\n")
    sys.exit(status)
launch.leave = leave
sys.argv = ["sockstat", *sys.argv[1:]]
launch.main()
"""


def watch(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run the launcher as the command does, reporting what became of its helper."""
    return subprocess.run(
        [sys.executable, "-c", WATCH, *argv],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip


def test_a_local_listing_uses_the_early_scan() -> None:
    done = watch("-q", "-u", "-P", "tcp")
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == "started 1 taken ['collect_namespaces']"
    assert "COMMAND" in done.stdout


def test_an_early_scan_is_ended_when_the_run_is_no_listing() -> None:
    done = watch("-q", "-P", "sctp")  # guessed a listing; the CLI refuses it
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "sockstat: argument -P: unknown protocol 'sctp'; expected one of: tcp, udp, unix",
        "started 1 taken ['discard_early']",
    ]


def test_no_early_scan_for_other_hosts(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("")
    done = watch("-i", str(hosts))
    assert done.stderr.splitlines()[-1] == "started 0 taken []"


def test_the_command_exits_with_the_clis_status_and_all_its_output() -> None:
    """leave() skips the teardown, never the output: a full table through a pipe."""
    command = [sys.executable, "-m", "controller", "-u", "-a"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0
    assert done.stdout.endswith("\n")
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["USER", "COMMAND", "PID"]
    assert len(lines) > 1


def test_ctrl_c_before_the_clis_handlers_is_a_quiet_exit_130() -> None:
    """A KeyboardInterrupt while the CLI imports: no traceback, the scan ended."""
    script = WATCH.replace(
        "launch.main()",
        "import controller.cli\n"
        "def interrupted():\n    raise KeyboardInterrupt\n"
        "controller.cli.main = interrupted\nlaunch.main()",
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "-q", "-P", "tcp"],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.returncode == 130
    assert done.stdout == ""
    assert done.stderr.splitlines() == ["started 1 taken ['discard_early']"]
