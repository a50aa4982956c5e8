"""The illumos netstat fallback parser, judged by netstat.c's own printf formats.

tests/fixtures/illumos/netstat_rows.c prints rows with the formats, headers, state
names and address rendering of illumos netstat.c; the rows are generated here
(every state, blank owners, long user and command names, endpoints wider than their
columns, IPv6, ``-an`` and ``-anu``), and what the parser reads back must be the
values that went in, cut where netstat cuts them.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from common.errors import ParseError
from controller.agentio import parse_fallback
from controller.netstat import parse_netstat
from tests.conftest import require_tool

SOURCE = Path(__file__).parent / "fixtures" / "illumos" / "netstat_rows.c"

# tcp.h TCPS_*: CLOSED -6 ... TIME_WAIT 6, as our state names; 7 and -7 are unknown.
TCP_STATES = {
    -6: "CLOSE", -5: "IDLE", -4: "BOUND", -3: "LISTEN", -2: "SYN_SENT",
    -1: "SYN_RECV", 0: "ESTABLISHED", 1: "CLOSE_WAIT", 2: "FIN_WAIT1",
    3: "CLOSING", 4: "LAST_ACK", 5: "FIN_WAIT2", 6: "TIME_WAIT",
    7: "UNKNOWN", -7: "UNKNOWN",
}  # fmt: skip
# mib2.h MIB2_UDP_unbound 1, _idle 2, _connected 3; 4 (_unknown) and 9 are unknown.
UDP_STATES = {1: "UNCONN", 2: "UNCONN", 3: "ESTABLISHED", 4: "UNKNOWN", 9: "UNKNOWN"}


@dataclass(frozen=True)
class Row:
    kind: str  # tcp4 tcp6 udp4 udp6
    local: str
    lport: int
    remote: str
    rport: int
    state: int
    holders: tuple[tuple[str, int, str], ...] = ()  # (user, pid, command) each a row
    swnd: int = 0
    sendq: int = 0
    ifname: str = ""

    def lines(self, mode: str) -> list[str]:
        holders = self.holders if mode == "anu" and self.holders else (("", 0, ""),)
        return [self._line(mode, *holder) for holder in holders]

    def _line(self, mode: str, user: str, pid: int, command: str) -> str:
        fields = [
            self.kind, mode, self.local, str(self.lport), self.remote, str(self.rport),
            str(self.state), user, str(pid) if pid else "", command, str(self.swnd),
            str(self.sendq), "128000", "0", self.ifname,
        ]  # fmt: skip
        return "\t".join(fields)

    def expected(self, mode: str) -> tuple[object, ...]:
        tcp = self.kind.startswith("tcp")
        v6 = self.kind.endswith("6")
        anyaddr = "::" if v6 else "0.0.0.0"
        state = (TCP_STATES if tcp else UDP_STATES)[self.state]
        if tcp and state == "IDLE" and self.lport:
            state = "BOUND"
        # UDP prints the peer only when connected; a port 0 peer is no peer.
        shown = tcp or self.state == 3
        peer = shown and self.rport != 0
        owners = tuple(
            # netstat cuts the user to 8 and the command to 14 columns.
            (user[:8] or None, pid, command[:14].rstrip() or None)
            for user, pid, command in (self.holders if mode == "anu" else ())
        )
        return (
            "tcp" if tcp else "udp", "inet6" if v6 else "inet", state,
            _canonical(self.local) or anyaddr, self.lport,
            (_canonical(self.remote) or anyaddr) if peer else None,
            self.rport if peer else None, owners,
        )  # fmt: skip


def _canonical(address: str) -> str | None:
    import ipaddress  # noqa: PLC0415

    parsed = ipaddress.ip_address(address)
    return None if parsed.is_unspecified else str(parsed)


LONG6 = "2001:db8:1234:5678:9abc:def0:1234:5678"  # 39 characters: wider than 33
ROOT_SSHD = ("root", 531, "sshd")
ROWS = [
    *[
        Row("tcp4", "10.0.0.5", 8000 + s, "10.0.0.9", 41000, s, (ROOT_SSHD,), 64128, 1448)
        for s in TCP_STATES
    ],
    *[
        Row(
            "tcp6", "fe80::1", 9000 + s, "2001:db8::9", 5000, s, (ROOT_SSHD,), ifname="net0"
        )
        for s in TCP_STATES
    ],
    *[
        Row("udp4", "192.168.1.1", 500 + s, "192.168.1.2", 53, s, (ROOT_SSHD,))
        for s in UDP_STATES
    ],
    *[
        Row("udp6", "::1", 600 + s, "::2", 53, s, (ROOT_SSHD,), ifname="lo0")
        for s in UDP_STATES
    ],
    # No holder: blank User, Pid and Command (a FIN_WAIT_1 row whose Send-Q once
    # became a pid).
    Row("tcp4", "192.168.1.1", 22, "192.168.1.79", 34640, 2, (), 64000, 1448),
    Row("udp4", "0.0.0.0", 0, "0.0.0.0", 0, 1),
    Row("tcp6", "::", 22, "::", 0, -3),
    Row("udp6", "::", 546, "::", 0, 2),
    # Several holders of one socket: one row each, consecutive.
    Row(
        "tcp4",
        "0.0.0.0",
        22,
        "0.0.0.0",
        0,
        -3,
        (
            ROOT_SSHD,
            ("sshd", 533, "sshd"),
            ("postgres-admin", 999999, "a long command name"),
        ),
    ),
    # Endpoints wider than their columns.
    Row("tcp4", "255.255.255.255", 65535, "255.255.255.254", 65534, 0, (ROOT_SSHD,)),
    Row("tcp6", LONG6, 65535, LONG6.replace("5678", "9999"), 443, 0, (ROOT_SSHD,)),
    Row("udp6", LONG6, 65535, LONG6, 65534, 3, (ROOT_SSHD,), ifname="net12345678"),
    # A command with spaces, exactly 14 characters and longer.
    Row("udp4", "127.0.0.1", 5353, "0.0.0.0", 0, 2, (("www", 2040, "my server d"),)),
    Row("udp4", "127.0.0.1", 5354, "0.0.0.0", 0, 2, (("www", 2041, "fourteen chars"),)),
    Row("tcp4", "127.0.0.1", 5432, "0.0.0.0", 0, -5, (("nobody", 60001, "x" * 20),)),
    # A holder whose user has no name: netstat prints the uid.
    Row("tcp6", "::1", 25, "::", 0, -3, (("4294967", 700, "sendmail"),)),
]


@pytest.fixture(scope="module")
def netstat_rows(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cc = require_tool("cc")
    binary = tmp_path_factory.mktemp("netstat") / "netstat_rows"
    subprocess.run([cc, "-O", "-Wall", "-Werror", "-o", str(binary), str(SOURCE)],
                   check=True)  # fmt: skip
    return binary


def print_rows(binary: Path, rows: list[Row], mode: str) -> str:
    lines = [line for row in rows for line in row.lines(mode)]
    done = subprocess.run(
        [str(binary)], input="\n".join(lines) + "\n", capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    return done.stdout


def view(text: str) -> list[tuple[object, ...]]:
    return [
        (s.proto.value, s.family.value, s.state, s.local_address, s.local_port,
         s.remote_address, s.remote_port,
         tuple((o.user, o.pid, o.command) for o in s.owners))
        for s in parse_netstat(text)
    ]  # fmt: skip


@pytest.mark.parametrize("mode", ["an", "anu"])
def test_every_row_reads_back_as_printed(netstat_rows: Path, mode: str) -> None:
    text = print_rows(netstat_rows, ROWS, mode)
    assert view(text) == [row.expected(mode) for row in ROWS]


def test_a_row_without_a_holder_has_no_owner(netstat_rows: Path) -> None:
    fin_wait = ROWS[len(TCP_STATES) * 2 + len(UDP_STATES) * 2]
    text = print_rows(netstat_rows, [fin_wait], "anu")
    assert "1448" in text  # the Send-Q that was once taken for a pid
    [sock] = parse_netstat(text)
    assert (sock.state, sock.owners) == ("FIN_WAIT1", ())


def test_holders_of_one_socket_are_one_socket(netstat_rows: Path) -> None:
    shared = next(row for row in ROWS if len(row.holders) == 3)
    [sock] = parse_netstat(print_rows(netstat_rows, [shared], "anu"))
    assert [o.pid for o in sock.owners] == [531, 533, 999999]


def test_the_controller_reads_the_fallback(netstat_rows: Path) -> None:
    text = "#sockstat-fallback netstat -anu\n" + print_rows(netstat_rows, ROWS, "anu")
    sockets = parse_fallback("netstat -anu", text.split("\n", 1)[1])
    assert len(sockets) == len(ROWS)


def test_malformed_row_names_the_line() -> None:
    text = "TCP: IPv4\n   Local Address  Remote Address Swind Send-Q Rwind Recv-Q State\n"
    with pytest.raises(ParseError, match="malformed line 3"):
        parse_netstat(text + "garbage here\n")


@pytest.mark.parametrize(
    "row",
    [
        "10.0.0.1.22          10.0.0.2.5           0      0 128000      0 NOT_A_STATE",
        "10.0.0.1.22          10.0.0.2.5           0      0",
        "10.0.0.1.99x         10.0.0.2.5           0      0 128000      0 LISTEN",
    ],
)
def test_rows_netstat_cannot_print_are_errors(row: str) -> None:
    with pytest.raises(ParseError, match="malformed line 2"):
        parse_netstat(f"TCP: IPv4\n{row}\n")


@pytest.mark.parametrize("mode", ["an", "anu"])
def test_the_fixture_files_are_what_netstat_prints(netstat_rows: Path, mode: str) -> None:
    # tests/fixtures/illumos/netstat-*.txt seed the fuzzer (tests/test_fuzz.py).
    fixture = SOURCE.parent / f"netstat-{mode}.txt"
    assert fixture.read_text() == print_rows(netstat_rows, ROWS, mode)
