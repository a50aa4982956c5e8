"""The snapshot stream: round trip, and every way a hostile or broken agent is refused."""

from __future__ import annotations

import msgpack
import pytest

from common.decode import StreamDecoder
from common.decode import decode_snapshot
from common.decode import decode_snapshots
from common.errors import SchemaError
from common.limits import Limits
from common.schema import SCHEMA_VERSION
from common.schema import Family
from common.schema import Owner
from common.schema import Proto
from common.schema import Snapshot
from common.schema import Socket
from common.wire import encode_snapshot
from common.wire import header_to_wire
from common.wire import socket_to_wire
from common.wire import trailer_to_wire


def make_socket(**changes: object) -> Socket:
    fields: dict[str, object] = {
        "proto": Proto.TCP,
        "family": Family.INET6,
        "sock_type": "stream",
        "state": "ESTABLISHED",
        "local_address": "::1",
        "local_port": 22,
        "remote_address": "::ffff:10.0.0.1",
        "remote_port": 40000,
        "path": None,
        "inode": 1234,
        "uid": 0,
        "peer": None,
        "owners": (Owner(10, 3, 0, "root", "sshd", "sshd: alice \x1b[2J"),),
    }
    fields.update(changes)
    return Socket(**fields)  # type: ignore[arg-type]


def make_snapshot(sockets: tuple[Socket, ...] = ()) -> Snapshot:
    return Snapshot(
        host="h",
        zone="z",
        platform="linux",
        kernel="Linux 6",
        agent_version="0.1",
        time=1.5,
        elapsed=0.25,
        sockets=sockets,
        warnings=("w",),
        owners_from="creator",
    )


def encode(snapshot: Snapshot) -> bytes:
    return b"".join(encode_snapshot(snapshot))


def pack(*objects: object) -> bytes:
    return b"".join(msgpack.packb(o, use_bin_type=True) for o in objects)


HEADER = header_to_wire(make_snapshot())


def feed_in_chunks(decoder: StreamDecoder, data: bytes, size: int) -> None:
    for i in range(0, len(data), size):
        decoder.feed(data[i : i + size])


def test_round_trip_keeps_every_field() -> None:
    unix = make_socket(
        proto=Proto.UNIX, family=Family.UNIX, sock_type="dgram", state="UNCONN",
        local_address=None, local_port=None, remote_address=None, remote_port=None,
        path="@abstract name", peer=99, owners=(),
    )  # fmt: skip
    original = make_snapshot((make_socket(), unix))
    assert decode_snapshot(encode(original)) == original


@pytest.mark.parametrize("value", ["everyone", 3, ["holders"]])
def test_owners_from_is_one_of_two_words(value: object) -> None:
    trailer = {**trailer_to_wire(0, 0.0, (), ()), "owners_from": value}
    with pytest.raises(SchemaError, match="owners_from"):
        decode_snapshot(pack(HEADER, trailer))


def test_empty_zone_is_not_an_error() -> None:
    assert decode_snapshot(encode(make_snapshot())).sockets == ()


def test_fed_byte_by_byte() -> None:
    data = encode(make_snapshot((make_socket(),) * 3))
    decoder = StreamDecoder()
    for i in range(len(data)):
        decoder.feed(data[i : i + 1])
    assert len(decoder.finish().sockets) == 3


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty stream"),
        (pack(HEADER, socket_to_wire(make_socket())), "cut off after 1 sockets"),
        (pack({**HEADER, "v": SCHEMA_VERSION + 1}), "unknown schema version 3"),
        (pack({"type": "other"}), "does not start with a sockstat header"),
        (pack([1, 2, 3]), "does not start with a sockstat header"),
        (pack({**HEADER, "host": 5}), "field 'host' must be a string"),
        (pack(HEADER, trailer_to_wire(3, 0, (), ())), "trailer count 3 != 0"),
        (pack(HEADER, [1, 2]), "socket 0: 2 fields"),
        (pack(HEADER, [*socket_to_wire(make_socket())[:-1], "x"]), "bad owners"),
        (pack(HEADER, trailer_to_wire(0, 0, (), ()), {"x": 1}), "does not start with"),
        (pack(HEADER, trailer_to_wire(0, 0, (), ()), HEADER), "cut off after 0 sockets"),
        (b"\xc1\xc1\xc1", "undecodable msgpack"),
        (pack(HEADER) + b"\x92\x01", "cut off"),
    ],
)
def test_rejected_streams(data: bytes, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        decode_snapshot(data)


@pytest.mark.parametrize(
    ("index", "value", "field"),
    [
        (0, "sctp", "proto"),
        (1, "ipx", "family"),
        (2, "weird", "sock_type"),
        (3, "DANCING", "state"),
        (4, "1.2.3.4\x1b[2J", "local_address"),
        (5, 70000, "local_port"),
        (5, -1, "local_port"),
        (5, True, "local_port"),
        (7, "22", "remote_port"),
        (9, 1.5, "inode"),
        (12, [[0, 1, 0, "u", "c", "a"]], "owner pid"),
        (12, [[1, 1, 0, 7, "c", "a"]], "owner user"),
        (12, [[1, -4, 0, "u", "c", "a"]], "owner fd"),
    ],
)
def test_rejected_fields(index: int, value: object, field: str) -> None:
    record = socket_to_wire(make_socket())
    record[index] = value
    with pytest.raises(SchemaError, match=f"socket 0: bad {field}"):
        decode_snapshot(pack(HEADER, record, trailer_to_wire(1, 0, (), ())))


def test_oversized_string_is_refused() -> None:
    record = socket_to_wire(make_socket())
    record[8] = "x" * 100
    limits = Limits(max_text=64)
    with pytest.raises(SchemaError, match="undecodable msgpack"):
        decode_snapshot(pack(HEADER, record, trailer_to_wire(1, 0, (), ())), limits)


def test_oversized_list_is_refused() -> None:
    record = socket_to_wire(make_socket())
    record[12] = [[1, 1, 0, "u", "c", "a"]] * 20
    limits = Limits(max_owners=10, max_messages=10)
    with pytest.raises(SchemaError, match="undecodable msgpack"):
        decode_snapshot(pack(HEADER, record, trailer_to_wire(1, 0, (), ())), limits)


def test_too_many_sockets_are_refused() -> None:
    data = encode(make_snapshot((make_socket(),) * 5))
    with pytest.raises(SchemaError, match="more than 4 sockets"):
        decode_snapshot(data, Limits(max_sockets=4))


def test_stream_size_is_bounded() -> None:
    data = encode(make_snapshot((make_socket(),) * 50))
    decoder = StreamDecoder(Limits(max_stream_bytes=1000))
    with pytest.raises(SchemaError, match="stream exceeds 1000 bytes"):
        feed_in_chunks(decoder, data, 100)


def test_one_huge_record_is_refused_without_buffering_it() -> None:
    huge = msgpack.packb(["x" * 60_000] * 40, use_bin_type=True)
    decoder = StreamDecoder(Limits(max_record_bytes=64 * 1024))
    decoder.feed(pack(HEADER))
    with pytest.raises(SchemaError, match="exceeds 65536 bytes"):
        feed_in_chunks(decoder, huge, 4096)


def test_errors_travel_in_the_trailer() -> None:
    failed = make_snapshot()
    failed.errors = ("sock_diag: permission denied",)
    assert decode_snapshot(encode(failed)).errors == ("sock_diag: permission denied",)


def test_several_snapshots_in_one_stream() -> None:
    first, second = make_snapshot((make_socket(),)), make_snapshot((make_socket(),) * 2)
    data = encode(first) + encode(second)
    assert [len(s.sockets) for s in decode_snapshots(data)] == [1, 2]
    with pytest.raises(SchemaError, match="expected one snapshot, got 2"):
        decode_snapshot(data)


def test_field_lists_name_the_array_items_in_order() -> None:
    from common.wire import OWNER_FIELDS  # noqa: PLC0415
    from common.wire import SOCKET_FIELDS  # noqa: PLC0415

    sock = make_socket()
    wire = socket_to_wire(sock)
    assert set(SOCKET_FIELDS) == set(Socket.__slots__)
    assert set(OWNER_FIELDS) == set(Owner.__slots__)
    for name, value in zip(SOCKET_FIELDS[:-1], wire[:-1]):
        expected = getattr(sock, name)
        assert value == getattr(expected, "value", expected), name
    (owner,) = sock.owners
    assert wire[-1] == [[getattr(owner, name) for name in OWNER_FIELDS]]


def test_a_process_is_described_once_per_snapshot() -> None:
    """A 100 KB command line held by 1,000 sockets crosses the wire once (#9.3, #9.8)."""
    args = "java -cp " + "x" * 100_000
    owner = Owner(77, 3, 0, "app", "java", args)
    sockets = tuple(make_socket(inode=i, owners=(owner,)) for i in range(1, 1001))
    data = encode(make_snapshot(sockets))
    assert len(data) < 200_000
    decoded = decode_snapshot(data)
    assert decoded.sockets == sockets
    # Decoded owners share one string object for the arguments.
    assert len({id(s.owners[0].args) for s in decoded.sockets}) == 1
    two = decode_snapshots(data + data)  # each snapshot describes its own pids
    assert [len(s.sockets) for s in two] == [1000, 1000]


def test_short_owner_needs_its_pid_described_first() -> None:
    record = socket_to_wire(make_socket())
    record[12] = [[10, 3]]
    with pytest.raises(SchemaError, match="pid not described before"):
        decode_snapshot(pack(HEADER, record, trailer_to_wire(1, 0, (), ())))


def test_a_string_seen_as_owner_text_is_still_checked_as_an_address() -> None:
    evil = "1.2.3.4\x1b[2J"
    first = socket_to_wire(make_socket(owners=(Owner(5, 1, 0, evil, evil, evil),)))
    second = socket_to_wire(make_socket(local_address=evil))
    data = pack(HEADER, first, second, trailer_to_wire(2, 0, (), ()))
    with pytest.raises(SchemaError, match="socket 1: bad local_address"):
        decode_snapshot(data)


def test_nested_announced_arrays_are_refused_early() -> None:
    """3 KB announcing 65,535-item arrays 1,000 deep held 68 MiB (bench/fuzz.py)."""
    decoder = StreamDecoder()
    with pytest.raises(SchemaError, match="undecodable msgpack"):
        decoder.feed(pack(HEADER) + b"\xdc\xff\xff" * 1000)


def test_trailer_messages_and_numbers_are_bounded() -> None:
    many = trailer_to_wire(0, 0.0, ("w",) * 1001, ())
    with pytest.raises(SchemaError, match="more than 1000 items"):
        decode_snapshot(pack(HEADER, many))
    for bad in (float("nan"), float("inf")):
        with pytest.raises(SchemaError, match="finite number"):
            decode_snapshot(pack(HEADER, trailer_to_wire(0, bad, (), ())))
