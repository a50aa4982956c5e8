"""The illumos netstat fallback parser, on texts written to netstat.c's formats."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.errors import ParseError
from common.schema import Family
from common.schema import Proto
from controller.agentio import parse_fallback
from controller.netstat import parse_netstat

FIXTURES = Path(__file__).parent / "fixtures" / "illumos"


def view(text: str) -> list[tuple[object, ...]]:
    return [
        (s.proto.value, s.family.value, s.state, s.local_address, s.local_port,
         s.remote_address, s.remote_port,
         tuple((o.user, o.pid, o.command) for o in s.owners))
        for s in parse_netstat(text)
    ]  # fmt: skip


def test_netstat_anu_with_owners() -> None:
    rows = view((FIXTURES / "netstat-anu.txt").read_text())
    assert rows == [
        ("udp", "inet", "UNCONN", "0.0.0.0", 0, None, None, ()),
        ("udp", "inet", "UNCONN", "0.0.0.0", 111, None, None,
         (("daemon", 612, "rpcbind"),)),
        ("udp", "inet", "ESTABLISHED", "127.0.0.1", 53, "127.0.0.1", 5353,
         (("root", 801, "dnsmasq"),)),
        ("tcp", "inet", "LISTEN", "0.0.0.0", 22, None, None, (("root", 531, "sshd"),)),
        ("tcp", "inet", "ESTABLISHED", "192.168.1.1", 22, "192.168.1.79", 34640,
         (("root", 531, "sshd"), ("af", 533, "sshd"))),
        ("tcp", "inet", "CLOSE_WAIT", "10.0.0.5", 8080, "10.0.0.9", 41000,
         (("www", 2040, "my server"),)),
        ("tcp", "inet", "BOUND", "127.0.0.1", 5432, None, None,
         (("postgres", 977, "postgres"),)),
        ("tcp", "inet6", "LISTEN", "::", 22, None, None, (("root", 531, "sshd"),)),
        ("tcp", "inet6", "LISTEN", "::1", 25, None, None, (("root", 700, "sendmail"),)),
        ("udp", "inet6", "UNCONN", "::", 546, None, None, (("root", 120, "in.ndpd"),)),
    ]  # fmt: skip


def test_netstat_an_without_owners() -> None:
    sockets = parse_netstat((FIXTURES / "netstat-an.txt").read_text())
    assert [(s.proto, s.state, s.local_port, s.owners) for s in sockets] == [
        (Proto.UDP, "UNCONN", 111, ()),
        (Proto.UDP, "UNCONN", 0, ()),
        (Proto.TCP, "LISTEN", 111, ()),
        (Proto.TCP, "IDLE", 0, ()),
        (Proto.TCP, "ESTABLISHED", 22, ()),
        (Proto.TCP, "TIME_WAIT", 80, ()),
    ]
    assert {s.family for s in sockets} == {Family.INET}


def test_controller_parses_the_illumos_fallback() -> None:
    text = (FIXTURES / "netstat-anu.txt").read_text()
    assert len(parse_fallback("netstat -anu", text)) == 10


def test_malformed_row_names_the_line() -> None:
    text = "TCP: IPv4\n   Local Address  Remote Address Swind Send-Q Rwind Recv-Q State\n"
    with pytest.raises(ParseError, match="malformed line 3"):
        parse_netstat(text + "garbage here\n")
