"""Property-based fuzzing of what reads untrusted input: the stream decoder, ss and netstat.

Contract (#9.14): for any input the decoder returns validated snapshots or raises
SchemaError, and the fallback parsers return sockets or raise a FleetError; anything
else is a bug.  bench/fuzz.py is the long run of the same contract.
"""

from __future__ import annotations

import math
import shutil
import string
import subprocess
from collections.abc import Callable
from functools import cache
from pathlib import Path

import msgpack
from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from common.decode import Limits
from common.decode import Shared
from common.decode import StreamDecoder
from common.decode import _checked_socket
from common.decode import _common_socket
from common.decode import socket_from_wire
from common.errors import FleetError
from common.errors import SchemaError
from common.schema import FAILURES
from common.schema import SOCK_TYPES
from common.schema import STATES
from common.schema import Family
from common.schema import Owner
from common.schema import Proto
from common.schema import Snapshot
from common.schema import Socket
from common.wire import HEADER
from common.wire import TRAILER
from common.wire import encode_snapshot
from common.wire import socket_to_wire
from controller.netstat import parse_netstat
from controller.ss import parse_ss

FIXTURES = Path(__file__).parent / "fixtures" / "illumos"
ADDRESS_CHARS = frozenset(string.ascii_letters + string.digits + ":.%_-")
U32 = 0xFFFFFFFF
U64 = 0xFFFFFFFFFFFFFFFF
FAST = settings(max_examples=150, deadline=None, database=None)
SLOW = settings(FAST, max_examples=80)  # strategies that build whole snapshots
Parser = Callable[..., list[Socket]]

SS_SAMPLE = """\
Netid State     Recv-Q Send-Q Local Address:Port  Peer Address:Port Process
udp   UNCONN    0      0      127.0.0.53%lo:53        0.0.0.0:*     users:(("systemd-resolve",pid=501,fd=13)) uid:101 ino:18400 sk:1 cgroup:/system.slice <->
tcp   LISTEN    0      128          0.0.0.0:22        0.0.0.0:*     users:(("sshd",pid=812,fd=3),("sshd",pid=900,fd=3)) ino:18123 sk:2 cgroup:/ <->
tcp   ESTAB     0      0    [::ffff:10.0.0.5]:22 [::ffff:10.0.0.9]:5123 users:(("sshd",pid=900,fd=4)) timer:(keepalive,119min,0) uid:0 ino:18200 sk:3
tcp   TIME-WAIT 0      0          127.0.0.1:40002   127.0.0.1:48609 timer:(timewait,35sec,0) ino:0 sk:7de
tcp   LISTEN    0      128             [::]:80           [::]:*     users:(("my \\"app\\"",pid=7,fd=9)) ino:18300 sk:4
udp   UNCONN    0      0    [fe80::1%eth0]:546          [::]:*     ino:18500 sk:5
"""  # noqa: E501

# Msgpack markers that make a decoder allocate, nest, or meet types it must refuse.
HOSTILE_BYTES = (
    b"\xc0", b"\xc1", b"\xc2", b"\xc3", b"\x90", b"\x80", b"\xa0", b"\xc4\x00",
    b"\xcc\xff", b"\xcd\xff\xff", b"\xce\xff\xff\xff\xff", b"\xcf" + b"\xff" * 8,
    b"\xd3\x80" + b"\x00" * 7, b"\xcb\x7f\xf8" + b"\x00" * 6, b"\xca\x7f\x80\x00\x00",
    b"\xdc\xff\xff", b"\xdd\xff\xff\xff\xff", b"\xde\xff\xff", b"\xdf\xff\xff\xff\xff",
    b"\xda\xff\xff", b"\xdb\xff\xff\xff\xff", b"\xc6\xff\xff\xff\xff", b"\xd4\x00\x00",
    b"\xc7\x01\x05\x00", b"\xd6\xff\x00\x00\x00\x00", b"\x91" * 64, b"\xa1\x1b",
    b"\xa3\xed\xa0\x80",
)  # fmt: skip
# Tokens the text parsers split, match or convert: separators, digits int() accepts,
# line breaks str.splitlines() knows, section headings, escape sequences.
HOSTILE_TEXT = (
    "\x00", "\x1b[2J", "\r", "\n", "\x0b", "\x1c", "\x85", "\u2028", " ", "\t",
    "[", "]", ":", "*", ".", "%", '"', "\\", "(", ")", ",", "-1", "+1", "1_0",
    "\u0663", "\uff11", "99999999999999999999", "9" * 5000, "users:((", '("x",pid=',
    ",fd=", "))", "ino:", "uid:", "pid=0", "TCP: IPv4", "UDP: IPv6", "TCP:", "Active ",
    "---", "Local Address Remote Address User Pid Command State", "LISTEN", "ESTAB",
    "UNCONN", "Idle", "Unbound", "Connected", "IDLE", "tcp", "udp", "Netid",
)  # fmt: skip


@cache
def ss_samples() -> tuple[str, ...]:
    """The embedded sample, plus this machine's own ``ss -tuanpe`` where it runs."""
    samples = [SS_SAMPLE]
    ss = shutil.which("ss")
    if ss is not None:
        done = subprocess.run([ss, "-tuanpe"], capture_output=True, text=True, check=False)
        if done.returncode == 0 and done.stdout:
            samples.append(done.stdout)
    return tuple(samples)


@cache
def netstat_samples() -> tuple[str, ...]:
    return tuple(p.read_text() for p in sorted(FIXTURES.glob("netstat-*.txt")))


# -- checks ------------------------------------------------------------------------


def check_socket(sock: Socket) -> None:
    """Assert what a decoded or validated socket promises its readers."""
    assert isinstance(sock.proto, Proto)
    assert isinstance(sock.family, Family)
    assert sock.sock_type in SOCK_TYPES
    assert sock.state in STATES
    for address in (sock.local_address, sock.remote_address):
        assert address is None or (
            isinstance(address, str)
            and 0 < len(address) <= 64
            and ADDRESS_CHARS.issuperset(address)
        ), address
    for port in (sock.local_port, sock.remote_port):
        assert port is None or (type(port) is int and 0 <= port <= 0xFFFF), port
    assert sock.path is None or isinstance(sock.path, str)
    for number, top in ((sock.inode, U64), (sock.uid, U32), (sock.peer, U64)):
        assert number is None or (type(number) is int and 0 <= number <= top)
    assert isinstance(sock.owners, tuple)
    for owner in sock.owners:
        assert type(owner.pid) is int
        assert 0 < owner.pid <= U32
        for number in (owner.fd, owner.uid):
            assert number is None or (type(number) is int and 0 <= number <= U32)
        for text in (owner.user, owner.command, owner.args):
            assert text is None or isinstance(text, str)


def check_snapshot(snapshot: Snapshot, limits: Limits) -> None:
    # One msgpack bound serves owners and messages (StreamDecoder.__init__).
    items = max(limits.max_owners, limits.max_messages)
    for text in (snapshot.host, snapshot.zone, snapshot.platform, snapshot.kernel):
        assert isinstance(text, str)
    assert isinstance(snapshot.agent_version, str)
    assert isinstance(snapshot.time, float)
    assert isinstance(snapshot.elapsed, float)
    for messages in (snapshot.warnings, snapshot.errors):
        assert isinstance(messages, tuple)
        assert len(messages) <= items
        assert all(isinstance(m, str) for m in messages)
    assert snapshot.failure is None or snapshot.failure in FAILURES
    assert len(snapshot.sockets) <= limits.max_sockets
    for sock in snapshot.sockets:
        check_socket(sock)
        assert len(sock.owners) <= items


def decode(data: bytes, sizes: list[int], limits: Limits) -> list[Snapshot] | None:
    """Feed ``data`` in chunks of ``sizes`` (cycled); None when rejected with SchemaError.

    Any other exception propagates: that is the bug this file hunts.
    """
    decoder = StreamDecoder(limits)
    start, turn = 0, 0
    try:
        while start < len(data):
            size = sizes[turn % len(sizes)] if sizes else len(data)
            decoder.feed(data[start : start + size])
            start, turn = start + size, turn + 1
        snapshots = decoder.finish_all()
    except SchemaError:
        return None
    assert sum(len(s.sockets) for s in snapshots) <= limits.max_sockets
    for snapshot in snapshots:
        check_snapshot(snapshot, limits)
    return snapshots


def check_fallback(parse: Parser, text: str) -> None:
    """A parser returns sockets or raises a FleetError; each socket passes the controller.

    controller/agentio.py checks fallback sockets with the stream's own field checks.
    """
    try:
        sockets = parse(text, source="fuzz")
    except FleetError:
        return
    assert isinstance(sockets, list)
    for index, sock in enumerate(sockets):
        assert isinstance(sock, Socket)
        try:
            checked = socket_from_wire(socket_to_wire(sock), index)
        except SchemaError:
            continue
        check_socket(checked)
        assert checked == sock


def encode(snapshots: list[Snapshot]) -> bytes:
    return b"".join(b"".join(encode_snapshot(s)) for s in snapshots)


def pack(*objects: object) -> bytes:
    return b"".join(msgpack.packb(o, use_bin_type=True) for o in objects)


# -- strategies --------------------------------------------------------------------

MSGPACK_INTS = st.integers(min_value=-(2**63), max_value=U64)
hostile_text = st.text(max_size=20) | st.sampled_from(
    ("", "\x1b[2J", "a\r\nsockstat: fake", "\x00", "\u202e", "x" * 300)
)
addresses = st.sampled_from(
    ("127.0.0.1", "0.0.0.0", "::", "::1", "::ffff:10.0.0.1", "fe80::1%eth0", "a" * 64)
) | st.text(alphabet=sorted(ADDRESS_CHARS), min_size=1, max_size=64)
ports = st.integers(0, 0xFFFF)
chunk_sizes = st.lists(st.integers(1, 300), max_size=8)
small_limits = st.builds(
    Limits,
    max_stream_bytes=st.integers(0, 20_000),
    max_record_bytes=st.integers(2, 4096),
    max_sockets=st.integers(0, 20),
    max_owners=st.integers(0, 8),
    max_text=st.integers(0, 200),
    max_messages=st.integers(0, 8),
)
limits = st.just(Limits()) | small_limits


@st.composite
def valid_socket(draw: st.DrawFn, processes: dict[int, Owner]) -> Socket:
    """A socket that the agent could write, its owners from one process table."""
    if processes:
        pids = draw(st.lists(st.sampled_from(sorted(processes)), max_size=3))
    else:
        pids = []
    owners = tuple(
        Owner(pid, draw(st.none() | st.integers(0, U32)), *_details(processes[pid]))
        for pid in pids
    )
    proto = draw(st.sampled_from(Proto))
    unix = proto is Proto.UNIX
    return Socket(
        proto=proto,
        family=Family.UNIX if unix else draw(st.sampled_from([Family.INET, Family.INET6])),
        sock_type=draw(st.sampled_from(sorted(SOCK_TYPES))),
        state=draw(st.sampled_from(sorted(STATES))),
        local_address=None if unix else draw(st.none() | addresses),
        local_port=None if unix else draw(st.none() | ports),
        remote_address=None if unix else draw(st.none() | addresses),
        remote_port=None if unix else draw(st.none() | ports),
        path=draw(st.none() | hostile_text) if unix else None,
        inode=draw(st.none() | st.integers(0, U64)),
        uid=draw(st.none() | st.integers(0, U32)),
        peer=draw(st.none() | st.integers(0, U64)),
        owners=owners,
    )


def _details(owner: Owner) -> tuple[int | None, str | None, str | None, str | None]:
    return owner.uid, owner.user, owner.command, owner.args


process_details = st.builds(
    Owner,
    pid=st.integers(1, U32),
    fd=st.none(),
    uid=st.none() | st.integers(0, U32),
    user=st.none() | hostile_text,
    command=st.none() | hostile_text,
    args=st.none() | hostile_text,
)


@st.composite
def valid_snapshot(draw: st.DrawFn) -> Snapshot:
    table = draw(st.lists(process_details, max_size=4, unique_by=lambda o: o.pid))
    processes = {o.pid: o for o in table}
    numbers = st.floats(allow_nan=False, allow_infinity=False) | st.integers(
        -(2**53), 2**53
    ).map(float)
    return Snapshot(
        host=draw(hostile_text),
        zone=draw(hostile_text),
        platform=draw(st.sampled_from(("linux", "sunos5")) | hostile_text),
        kernel=draw(hostile_text),
        agent_version=draw(hostile_text),
        time=draw(numbers),
        elapsed=draw(numbers),
        sockets=tuple(draw(st.lists(valid_socket(processes), max_size=5))),
        warnings=tuple(draw(st.lists(hostile_text, max_size=3))),
        errors=tuple(draw(st.lists(hostile_text, max_size=3))),
        failure=draw(st.none() | st.sampled_from(sorted(FAILURES))),
    )


# Values a hostile agent can put in any field: every msgpack type, nested.
wire_values = st.recursive(
    st.none()
    | st.booleans()
    | MSGPACK_INTS
    | st.floats()
    | hostile_text
    | st.binary(max_size=2)
    | st.sampled_from(("tcp", "inet6", "stream", "LISTEN", "::1", 22, -1, 65536, 2**32)),
    lambda inner: (
        st.lists(inner, max_size=6)
        | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=10,
)


@st.composite
def hostile_record(draw: st.DrawFn, record: list[object]) -> list[object]:
    """A wire record with some of its items replaced, dropped or added."""
    record = list(record)
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(("replace", "replace", "drop", "add")))
        index = draw(st.integers(0, max(len(record) - 1, 0)))
        if action == "replace" and record:
            record[index] = draw(wire_values)
        elif action == "drop" and record:
            del record[index]
        else:
            record.insert(index, draw(wire_values))
    return record


def build_socket(**fields: object) -> Socket:
    """A Socket with whatever values it is given, as a buggy parser could build one."""
    return Socket(**fields)  # type: ignore[arg-type]


@st.composite
def hostile_socket(draw: st.DrawFn) -> Socket:
    """A Socket with out-of-range numbers, control characters, wrong types anywhere."""
    numbers = st.integers() | st.integers(-(2**70), 2**70) | st.sampled_from((-1, 2**64))
    anything = st.none() | numbers | hostile_text | st.floats() | st.booleans()
    owner = st.builds(Owner, numbers, anything, anything, anything, anything, anything)
    return build_socket(
        proto=draw(st.sampled_from(Proto)),
        family=draw(st.sampled_from(Family)),
        sock_type=draw(st.sampled_from(sorted(SOCK_TYPES)) | anything),
        state=draw(st.sampled_from(sorted(STATES)) | anything),
        local_address=draw(addresses | anything),
        local_port=draw(ports | anything),
        remote_address=draw(addresses | anything),
        remote_port=draw(ports | anything),
        path=draw(anything),
        inode=draw(anything),
        uid=draw(anything),
        peer=draw(anything),
        owners=tuple(draw(st.lists(owner, max_size=3))),
    )


@st.composite
def mutated_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    """Flip, cut, insert, delete, duplicate or overwrite bytes of ``data``."""
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        where = draw(st.integers(0, len(buf)))
        action = draw(
            st.sampled_from(("flip", "cut", "insert", "delete", "repeat", "marker"))
        )
        if action == "flip" and where < len(buf):
            buf[where] ^= 1 << draw(st.integers(0, 7))
        elif action == "cut":
            del buf[where:]
        elif action == "insert":
            buf[where:where] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del buf[where : where + draw(st.integers(1, 16))]
        elif action == "repeat":
            buf[where:where] = buf[where : where + draw(st.integers(1, 64))]
        else:
            marker = draw(st.sampled_from(HOSTILE_BYTES))
            buf[where : where + draw(st.integers(0, len(marker)))] = marker
    return bytes(buf)


@st.composite
def mutated_text(draw: st.DrawFn, text: str) -> str:
    """Insert hostile tokens into, delete from, cut or shuffle the lines of ``text``."""
    for _ in range(draw(st.integers(1, 6))):
        where = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(("token", "token", "text", "delete", "cut", "line")))
        if action == "token":
            text = text[:where] + draw(st.sampled_from(HOSTILE_TEXT)) + text[where:]
        elif action == "text":
            text = text[:where] + draw(st.text(max_size=8)) + text[where:]
        elif action == "delete":
            text = text[:where] + text[where + draw(st.integers(1, 20)) :]
        elif action == "cut":
            text = text[:where]
        else:
            lines = text.splitlines(keepends=True)
            if lines:
                lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(lines)))
            text = "".join(lines)
    return text


# -- the decoder -------------------------------------------------------------------


@FAST
@given(st.binary(max_size=600), chunk_sizes, limits)
@example(b"\xdc\xff\xff" * 1000, [], Limits())
@example(b"\x91" * 5000, [7], Limits())
@example(b"", [], Limits(max_record_bytes=2))
def test_random_bytes_decode_or_raise_schema_error(
    data: bytes, sizes: list[int], bounds: Limits
) -> None:
    decode(data, sizes, bounds)


@SLOW
@given(st.lists(valid_snapshot(), min_size=1, max_size=2), chunk_sizes)
def test_a_valid_stream_decodes_to_what_was_encoded(
    snapshots: list[Snapshot], sizes: list[int]
) -> None:
    assert decode(encode(snapshots), sizes, Limits()) == snapshots


@SLOW
@given(st.data(), st.lists(valid_snapshot(), min_size=1, max_size=2), chunk_sizes, limits)
def test_a_mutated_stream_decodes_or_raises_schema_error(
    data: st.DataObject, snapshots: list[Snapshot], sizes: list[int], bounds: Limits
) -> None:
    mutated = data.draw(mutated_bytes(encode(snapshots)))
    decoded = decode(mutated, sizes, bounds)
    # Chunking is the network's choice: it must not change the verdict.
    assert decode(mutated, [], bounds) == decoded


@SLOW
@given(st.data(), valid_snapshot(), chunk_sizes, limits)
def test_hostile_records_decode_or_raise_schema_error(
    data: st.DataObject, snapshot: Snapshot, sizes: list[int], bounds: Limits
) -> None:
    """Well-framed msgpack, wrong types and ranges in header, sockets, owners, trailer."""
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(encode([snapshot]))
    objects: list[object] = list(unpacker)
    assert isinstance(objects[0], dict)
    assert objects[0]["type"] == HEADER
    assert isinstance(objects[-1], dict)
    assert objects[-1]["type"] == TRAILER
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(0, len(objects) - 1))
        item = objects[index]
        if isinstance(item, dict):
            key = data.draw(st.sampled_from(sorted(item)) | st.text(max_size=6))
            item[key] = data.draw(wire_values)
        else:
            assert isinstance(item, list)
            owners = item[-1]
            # An earlier round may have made the owners a hostile value already.
            if isinstance(owners, list) and owners and data.draw(st.booleans()):
                at = data.draw(st.integers(0, len(owners) - 1))
                owners[at] = data.draw(hostile_record(owners[at]) | wire_values)
            else:
                objects[index] = data.draw(hostile_record(item))
    decode(pack(*objects), sizes, bounds)


@SLOW
@given(st.lists(hostile_socket(), min_size=1, max_size=4), chunk_sizes)
def test_hostile_sockets_in_a_stream_decode_or_raise_schema_error(
    sockets: list[Socket], sizes: list[int]
) -> None:
    snapshot = Snapshot("h", "z", "linux", "Linux 6", "0.1", 1.0, sockets=tuple(sockets))
    try:
        data = encode([snapshot])
    except (OverflowError, TypeError):  # the agent's encoder: beyond what msgpack holds
        return
    decode(data, sizes, Limits())


@FAST
@given(hostile_socket(), st.integers(0, 10))
@example(
    build_socket(
        proto=Proto.TCP, family=Family.INET, sock_type="stream", state="LISTEN",
        local_address="1.2.3.4\x1b[2J", local_port=2**70, remote_address=None,
        remote_port=-1, path=None, inode=2**64, uid=-5, peer=math.inf,
        owners=(Owner(2**40, -1, None, "\x00", None, None),),
    ),
    0,
)  # fmt: skip
def test_hostile_sockets_are_validated_or_raise_schema_error(
    sock: Socket, index: int
) -> None:
    """The controller's check of fallback sockets (controller/agentio.py)."""
    try:
        checked = socket_from_wire(socket_to_wire(sock), index)
    except SchemaError:
        return
    check_socket(checked)
    assert checked == sock


# -- the fallback parsers ----------------------------------------------------------


@FAST
@given(st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
def test_random_text_for_ss(text: str) -> None:
    check_fallback(parse_ss, text)


ss_texts = st.deferred(lambda: st.sampled_from(ss_samples()).flatmap(mutated_text))
netstat_texts = st.deferred(
    lambda: st.sampled_from(netstat_samples()).flatmap(mutated_text)
)


@FAST
@given(ss_texts)
@example('tcp LISTEN 0 0 a:1 b:2 users:(("x",pid=' + "9" * 5000 + ",fd=1))")
@example("tcp LISTEN 0 0 a:1 b:2 ino:" + "9" * 5000)
def test_mutated_ss_text(text: str) -> None:
    check_fallback(parse_ss, text)


@FAST
@given(st.text(max_size=300))
@example("TCP: IPv4\n1.2.3.4.22 1.2.3.4.5\n")
def test_random_text_for_netstat(text: str) -> None:
    check_fallback(parse_netstat, "TCP: IPv4\n" + text)
    check_fallback(parse_netstat, text)


@FAST
@given(netstat_texts)
def test_mutated_netstat_text(text: str) -> None:
    check_fallback(parse_netstat, text)


def exact(record: Socket | Owner) -> tuple[object, ...]:
    """Fields with their types: ``==`` alone takes True for 1 and 80.0 for 80."""
    return tuple(
        tuple(exact(o) for o in value)
        if isinstance(value, tuple)
        else (type(value).__name__, value)
        for value in (getattr(record, f) for f in record.__slots__)
    )


def copied(shared: Shared) -> Shared:
    twin = Shared()
    twin.strings = dict(shared.strings)
    twin.addresses = dict(shared.addresses)
    twin.numbers = dict(shared.numbers)
    twin.processes = dict(shared.processes)
    return twin


@SLOW
@given(st.data(), valid_snapshot())
def test_the_decoders_fast_path_accepts_exactly_what_the_checks_accept(
    data: st.DataObject, snapshot: Snapshot
) -> None:
    """The inline path (issue #13: a million sockets a run) against field-by-field."""
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(encode([snapshot]))
    records = [o for o in unpacker if isinstance(o, list)]
    shared = Shared()
    for index, original in enumerate(records):
        record = original
        if data.draw(st.booleans()):
            owners = record[-1]
            if owners and isinstance(owners, list) and data.draw(st.booleans()):
                at = data.draw(st.integers(0, len(owners) - 1))
                owners[at] = data.draw(hostile_record(owners[at]) | wire_values)
            else:
                record = data.draw(hostile_record(record))
        fast = _common_socket(record, copied(shared))
        try:
            checked = _checked_socket(record, index, shared)
        except SchemaError:
            assert fast is None
            return  # the stream ends here
        if fast is not None:
            assert exact(fast) == exact(checked)


EDGE_VALUES: tuple[object, ...] = (
    None, True, False, 0, 1, 80, 80.0, -1, 0xFFFF, 0x10000, U32, U32 + 1, U64, U64 + 1,
    -(2**63), "", "x", "10.0.0.1", "a b", "\x1b[2J", "9" * 65, "tcp", "tcp4", "stream",
    "LISTEN", [], [1], [1, 2], {}, {"a": 1}, 1.5, math.nan,
)  # fmt: skip


def primed() -> tuple[list[object], Shared]:
    """A record whose addresses and pid the stream has already seen and checked."""
    owner = Owner(4242, 7, 0, "root", "sshd", "/usr/sbin/sshd -D")
    sock = Socket(
        Proto.TCP, Family.INET, "stream", "ESTABLISHED", "10.0.0.1", 22,
        "10.0.0.2", 50000, None, 99, 0, None, (owner,),
    )  # fmt: skip
    shared = Shared()
    first = socket_to_wire(sock)
    _checked_socket(first, 0, shared)
    again = socket_to_wire(sock)
    again[-1] = [[4242, 8]]  # later owners of a described pid are [pid, fd]
    return again, shared


def test_the_fast_path_refuses_every_edge_value_the_checks_refuse() -> None:
    """Each field, each owner field, replaced by each edge value, one at a time."""
    base, shared = primed()
    assert _common_socket(base, copied(shared)) is not None  # the fast path is taken
    variants: list[list[object]] = []
    for at in range(len(base)):
        for value in EDGE_VALUES:
            variants.append([*base[:at], value, *base[at + 1 :]])
    for short in ([4242, 8], [4243, 8, 0, "u", "c", "a"]):
        for at in range(len(short)):
            for value in EDGE_VALUES:
                owner = [*short[:at], value, *short[at + 1 :]]
                variants.append([*base[:-1], [owner]])
    fast_taken = 0
    for record in variants:
        fast = _common_socket(record, copied(shared))
        try:
            checked = _checked_socket(record, 1, copied(shared))
        except SchemaError:
            assert fast is None, record
            continue
        if fast is not None:
            fast_taken += 1
            assert exact(fast) == exact(checked), record
    assert fast_taken > 50  # valid variants did take the fast path
