"""The pure Linux parsers on captured sock_diag bytes and /proc text, one test per case."""

from __future__ import annotations

import contextlib
import errno
import json
import socket
import struct
from pathlib import Path
from typing import Any

import pytest

from agent import netlink
from agent.linux import open_diag_socket
from agent.netlink import DumpError
from agent.netlink import InetDumpParser
from agent.netlink import parse_inet_dump
from agent.netlink import parse_unix_dump
from agent.procfs import decode_address
from agent.procfs import parse_cmdline
from agent.procfs import parse_proc_net_inet
from agent.procfs import parse_proc_net_unix
from agent.procfs import parse_status_uid
from common.errors import ParseError
from common.schema import Family
from common.schema import Proto
from common.schema import Socket

FIXTURES = Path(__file__).parent / "fixtures" / "linux"
INET_FIELDS = ("state", "local_address", "local_port", "remote_address", "remote_port",
               "inode", "uid")  # fmt: skip


def cases(prefix: str) -> list[str]:
    return sorted(p.stem for p in FIXTURES.glob(f"{prefix}*.json"))


def inet_view(sockets: list[Socket]) -> list[dict[str, Any]]:
    return sorted(
        ({f: getattr(s, f) for f in INET_FIELDS} for s in sockets), key=lambda d: d["inode"]
    )


def unix_view(sockets: list[Socket]) -> dict[str, dict[str, Any]]:
    return {
        str(s.inode): {
            "type": s.sock_type,
            "state": s.state,
            "path": s.path,
            "peer": s.peer,
        }
        for s in sockets
    }


@pytest.mark.parametrize("case", cases("diag_"))
def test_sock_diag_capture(case: str) -> None:
    data = (FIXTURES / f"{case}.bin").read_bytes()
    expected = json.loads((FIXTURES / f"{case}.json").read_text())
    if "unix" in expected:
        assert unix_view(parse_unix_dump(data)) == expected["unix"]
        return
    proto = Proto(expected["proto"])
    family = Family(expected["family"]) if expected["family"] else None
    records = parse_inet_dump(data, proto=proto, family=family)
    assert inet_view(records) == sorted(expected["sockets"], key=lambda d: d["inode"])
    if family is None:  # a compat dump: both families, each message says which
        assert {s.family for s in records} == {Family.INET, Family.INET6}
    else:
        assert {(s.proto, s.family) for s in records} == {(proto, family)}


@pytest.mark.parametrize("case", cases("procnet_"))
def test_proc_net_text(case: str) -> None:
    data = (FIXTURES / f"{case}.txt").read_bytes()
    expected = json.loads((FIXTURES / f"{case}.json").read_text())
    source = f"fixtures/{case}.txt"
    if "proto" not in expected:  # unix
        if "error" in expected:
            with pytest.raises(
                ParseError, match=f"malformed line {expected['error']['lineno']}"
            ):
                parse_proc_net_unix(data, source=source)
            return
        assert unix_view(parse_proc_net_unix(data, source=source)) == expected["unix"]
        return
    kwargs = {
        "proto": Proto(expected["proto"]),
        "family": Family(expected["family"]),
        "byteorder": expected["byteorder"],
        "source": source,
    }
    if "error" in expected:
        with pytest.raises(ParseError) as raised:
            parse_proc_net_inet(data, **kwargs)
        assert raised.value.lineno == expected["error"]["lineno"]
        assert source in str(raised.value)
        assert "garbage" in str(raised.value)  # the line itself, repr'd
        return
    records = parse_proc_net_inet(data, **kwargs)
    assert inet_view(records) == sorted(expected["sockets"], key=lambda d: d["inode"])


@pytest.mark.parametrize(
    "case", [c for c in cases("diag_") if "unix" not in c] + ["live_tcp", "live_udp"]
)
def test_fast_and_careful_inet_paths_make_the_same_records(case: str) -> None:
    """Replies met by the careful path (after a flagged one) make the same records."""
    if case.startswith("live_"):
        proto = Proto(case[5:])
        data, family = live_dump(proto), None if proto is Proto.TCP else Family.INET
    else:
        data = (FIXTURES / f"{case}.bin").read_bytes()
        expected = json.loads((FIXTURES / f"{case}.json").read_text())
        proto = Proto(expected["proto"])
        family = Family(expected["family"]) if expected["family"] else None
    fast = InetDumpParser(proto, family)
    fast.feed(data)
    careful = InetDumpParser(proto, family)
    netlink.DumpParser.feed(careful, data)  # message by message, through _message
    assert fast.done
    assert careful.done
    assert fast.records == careful.records
    assert len(fast.records) > 0


def live_dump(proto: Proto) -> bytes:
    """This machine's TCP (compat, both families) or UDP (IPv4) dump, with states to see."""
    kind = socket.SOCK_STREAM if proto is Proto.TCP else socket.SOCK_DGRAM
    held = []
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        server = socket.socket(family, kind)
        server.bind((host, 0))
        held.append(server)
        if proto is Proto.TCP:
            server.listen()
            client = socket.create_connection(server.getsockname()[:2])
            held += [client, server.accept()[0]]
            closing = socket.create_connection(server.getsockname()[:2])
            accepted = server.accept()[0]
            closing.close()  # the first to close waits in TIME_WAIT: inode 0
            accepted.close()
            bound = socket.socket(family, kind)  # bound, never listening: BOUND
            bound.bind((host, 0))
            held.append(bound)
        else:
            client = socket.socket(family, kind)
            client.connect(server.getsockname()[:2])
            held.append(client)
    if proto is Proto.TCP:
        request = netlink.build_tcp_compat_request()
    else:
        request = netlink.build_inet_request(Proto.UDP, Family.INET)
    chunks = []
    try:
        with contextlib.closing(open_diag_socket()) as nl:
            nl.send(request)
            probe = InetDumpParser(proto, None if proto is Proto.TCP else Family.INET)
            while not probe.done:
                chunk = nl.recv(1 << 16)
                chunks.append(chunk)
                probe.feed(chunk)
    finally:
        for sock in held:
            sock.close()
    return b"".join(chunks)


def split_messages(data: bytes) -> list[bytes]:
    """Cut a captured dump into its netlink messages (NLMSG_ALIGN'ed)."""
    messages, offset = [], 0
    while offset < len(data):
        length = struct.unpack_from("=I", data, offset)[0]
        step = (length + 3) & ~3
        messages.append(data[offset : offset + step])
        offset += step
    return messages


def test_wildcards_and_loopbacks_keep_their_family_in_any_order() -> None:
    """0.0.0.0 and :: share their bytes; whichever comes first must not name the other."""
    messages = split_messages((FIXTURES / "diag_tcp_wildcards.bin").read_bytes())
    *replies, done = messages
    expected = json.loads((FIXTURES / "diag_tcp_wildcards.json").read_text())["sockets"]
    want = {(e["local_address"], e["local_port"]) for e in expected}
    assert ("0.0.0.0", 5100) in want
    assert ("::", 5101) in want
    for order in (replies, replies[::-1]):
        records = parse_inet_dump(b"".join([*order, done]), proto=Proto.TCP)
        got = {(s.local_address, s.local_port) for s in records}
        assert got == want
        for sock in records:
            assert (sock.family is Family.INET6) == (":" in (sock.local_address or ""))


def _message(kind: int, payload: bytes, flags: int = netlink.NLM_F_REQUEST) -> bytes:
    length = 16 + len(payload)
    return (
        netlink.NLMSGHDR.pack(length, kind, flags, 1, 0) + payload + b"\0" * (-length % 4)
    )


def test_done_with_error_code_raises() -> None:
    """A protocol without a diag handler ends the dump with NLMSG_DONE and -ENOENT."""
    parser = InetDumpParser(Proto.TCP, Family.INET)
    with pytest.raises(DumpError) as raised:
        parser.feed(_message(netlink.NLMSG_DONE, struct.pack("=i", -errno.ENOENT)))
    assert raised.value.errno == errno.ENOENT


def test_nlmsg_error_raises() -> None:
    parser = InetDumpParser(Proto.UDP, Family.INET6)
    with pytest.raises(DumpError) as raised:
        parser.feed(
            _message(netlink.NLMSG_ERROR, struct.pack("=i", -errno.EINVAL) + b"\0" * 16)
        )
    assert raised.value.errno == errno.EINVAL


def test_dump_interrupted_is_flagged_and_still_parsed() -> None:
    data = (FIXTURES / "diag_tcp4.bin").read_bytes()
    first_len = struct.unpack_from("=I", data)[0]
    flagged = bytearray(data)
    struct.pack_into("=H", flagged, 6, netlink.NLM_F_MULTI | netlink.NLM_F_DUMP_INTR)
    parser = InetDumpParser(Proto.TCP, Family.INET)
    parser.feed(bytes(flagged))
    assert parser.interrupted
    assert parser.done
    assert len(parser.records) == len(
        parse_inet_dump(data, proto=Proto.TCP, family=Family.INET)
    )
    assert first_len >= 88


def test_truncated_message_is_an_error_not_a_hang() -> None:
    data = (FIXTURES / "diag_tcp4.bin").read_bytes()
    with pytest.raises(DumpError, match="truncated"):
        InetDumpParser(Proto.TCP, Family.INET).feed(data[:100])


def test_unix_attribute_with_bad_length_stops_cleanly() -> None:
    msg = netlink.UNIX_DIAG_MSG.pack(1, 1, 10, 0, 42, b"\0" * 8) + struct.pack("=HH", 2, 0)
    records = parse_unix_dump(_message(netlink.SOCK_DIAG_BY_FAMILY, msg))
    assert [(r.inode, r.state, r.path) for r in records] == [(42, "LISTEN", None)]


def test_requests_match_the_kernel_layouts() -> None:
    request = netlink.build_inet_request(Proto.TCP, Family.INET6, seq=7)
    length, kind, flags, seq, _ = netlink.NLMSGHDR.unpack_from(request)
    assert (length, kind, flags, seq) == (16 + 56, 20, 0x301, 7)
    family, protocol, ext, pad, states = struct.unpack_from("=BBBBI", request, 16)
    assert (family, protocol, ext, pad, states) == (10, 6, 0, 0, 0xFFFFFFFF)
    compat = netlink.build_tcp_compat_request()
    assert netlink.NLMSGHDR.unpack_from(compat)[:3] == (16 + 60, 18, 0x301)
    assert struct.unpack_from("=I", compat, 16 + 52)[0] == 0xFFFFFFFF  # idiag_states
    unix = netlink.build_unix_request()
    assert struct.unpack_from("=I", unix)[0] == 16 + 24
    assert struct.unpack_from("=I", unix, 16 + 12)[0] == 0x01 | 0x04 | 0x40


def test_decode_address_examples() -> None:
    assert decode_address("0100007F", Family.INET, "little") == "127.0.0.1"
    assert decode_address("7F000001", Family.INET, "big") == "127.0.0.1"
    mapped = "0000000000000000FFFF00000100007F"
    assert decode_address(mapped, Family.INET6, "little") == "::ffff:127.0.0.1"
    assert (
        decode_address("00000000000000000000000001000000", Family.INET6, "little") == "::1"
    )


def test_proc_pid_parsers() -> None:
    assert parse_status_uid(b"Name:\tx\nUid:\t1000\t1001\t1001\t1001\n") == 1000
    assert parse_status_uid(b"Name:\tx\n") is None
    assert parse_cmdline(b"sshd: alice [priv]\0\0") == "sshd: alice [priv]"
    assert parse_cmdline(b"a\0b\xff\0") == "a b\\xff"
