"""The stdlib msgpack encoder the shipped agent uses: byte for byte msgpack-python's."""

from __future__ import annotations

import msgpack
import pytest

from common.decode import decode_snapshot
from common.packer import Packer
from common.schema import Family
from common.schema import Owner
from common.schema import Proto
from common.schema import Snapshot
from common.schema import Socket
from common.wire import header_to_wire
from common.wire import socket_to_wire
from common.wire import trailer_to_wire

# Every size boundary of every format the wire uses (fixint/uint/int 8-64, fixstr/
# str8-32, bin8-32, fixarray/array16-32, fixmap/map16-32), both sides of each.
BOUNDARIES: list[object] = [
    None, True, False, 0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32,
    2**64 - 1, -1, -32, -33, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1,
    -(2**63), 1.5, -0.0, float("inf"), 1e300,
    "", "a" * 31, "a" * 32, "a" * 255, "a" * 256, "a" * 65535, "a" * 65536,
    "h\u00e9llo \u2603 \U0001f600", "\x1b[2J\x00",
    b"", b"x" * 255, b"x" * 256, b"x" * 65535, b"x" * 65536,
    [], [1] * 15, [1] * 16, [1] * 65535, [1] * 65536, (1, "a", None),
    {}, {"a": 1}, {str(i): i for i in range(15)}, {str(i): i for i in range(16)},
    {str(i): i for i in range(65536)}, [[1, None, "x", [2.5, {"k": [True]}]]],
]  # fmt: skip


@pytest.mark.parametrize("value", BOUNDARIES, ids=lambda v: repr(v)[:30])
def test_same_bytes_as_msgpack(value: object) -> None:
    assert Packer().pack(value) == msgpack.packb(value, use_bin_type=True)


def test_str_enum_packs_as_its_text() -> None:
    assert Packer().pack(Proto.TCP) == msgpack.packb("tcp")


@pytest.mark.parametrize("value", [2**64, -(2**63) - 1])
def test_int_out_of_range_is_refused(value: int) -> None:
    with pytest.raises(OverflowError):
        Packer().pack(value)


@pytest.mark.parametrize("value", [object(), {1, 2}, bytearray(b"x")])
def test_unknown_type_is_refused(value: object) -> None:
    with pytest.raises(TypeError, match="cannot serialize"):
        Packer().pack(value)


def test_stream_decodes() -> None:
    owner = Owner(7, 3, 0, "root", "sshd", "sshd: alice")
    sockets = (
        Socket(Proto.TCP, Family.INET6, "stream", "LISTEN", "::", 22, "::", 0,
               None, 2**40, 0, None, (owner, owner)),
        Socket(Proto.UNIX, Family.UNIX, "dgram", "UNCONN", None, None, None, None,
               "@/run/x", 5, None, 2**63, ()),
    )  # fmt: skip
    snapshot = Snapshot("h", "z", "linux", "Linux 6", "0.1", 1.5, 0.25, sockets, ("w",))
    pack = Packer().pack
    data = b"".join(
        [
            pack(header_to_wire(snapshot)),
            *(pack(socket_to_wire(s)) for s in sockets),
            pack(trailer_to_wire(2, 0.25, ("w",), ())),
        ]
    )
    assert decode_snapshot(data) == snapshot
