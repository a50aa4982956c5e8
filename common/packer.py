"""A msgpack encoder in the stdlib, for agents running where msgpack is not installed.

The payload shipped into zones and hosts carries no msgpack: importing msgpack's
pure-Python fallback (and the datetime and collections modules it pulls in) was a
seventh of every agent's start-up.  This encoder writes exactly what
``msgpack.packb(obj, use_bin_type=True)`` writes for the types a snapshot holds
(None, bool, int, float, str, bytes, list, tuple, dict), choosing the smallest
format as msgpack-python does; tests compare the two byte for byte.  Formats and
type bytes: the MessagePack specification (github.com/msgpack/msgpack/blob/master/spec.md).
Stdlib only, Python 3.9+.
"""

from __future__ import annotations

import struct

_U8 = struct.Struct(">B").pack
_U16 = struct.Struct(">H").pack
_U32 = struct.Struct(">I").pack
_U64 = struct.Struct(">Q").pack
_I8 = struct.Struct(">b").pack
_I16 = struct.Struct(">h").pack
_I32 = struct.Struct(">i").pack
_I64 = struct.Struct(">q").pack
_F64 = struct.Struct(">d").pack


class Packer:
    """Encode objects as msgpack, the subset and choices of msgpack-python's Packer."""

    def pack(self, obj: object) -> bytes:
        """Return obj's msgpack bytes; TypeError for a type the wire does not use."""
        buf = bytearray()
        _pack(obj, buf)
        return bytes(buf)


def _pack(obj: object, buf: bytearray) -> None:  # noqa: PLR0915 - one dispatch table
    kind = type(obj)
    if kind is str or (kind is not bool and isinstance(obj, str)):
        data = str.encode(obj, "utf-8")  # type: ignore[arg-type]
        size = len(data)
        if size < 32:
            buf.append(0xA0 | size)  # fixstr
        elif size <= 0xFF:
            buf += b"\xd9" + _U8(size)
        elif size <= 0xFFFF:
            buf += b"\xda" + _U16(size)
        else:
            buf += b"\xdb" + _U32(size)
        buf += data
    elif obj is None:
        buf.append(0xC0)
    elif kind is bool:
        buf.append(0xC3 if obj else 0xC2)
    elif kind is int or isinstance(obj, int):
        _pack_int(int(obj), buf)  # type: ignore[call-overload]
    elif kind is list or kind is tuple:
        items: list[object] | tuple[object, ...] = obj  # type: ignore[assignment]
        size = len(items)
        if size < 16:
            buf.append(0x90 | size)  # fixarray
        elif size <= 0xFFFF:
            buf += b"\xdc" + _U16(size)
        else:
            buf += b"\xdd" + _U32(size)
        for item in items:
            _pack(item, buf)
    elif kind is dict:
        mapping: dict[object, object] = obj  # type: ignore[assignment]
        size = len(mapping)
        if size < 16:
            buf.append(0x80 | size)  # fixmap
        elif size <= 0xFFFF:
            buf += b"\xde" + _U16(size)
        else:
            buf += b"\xdf" + _U32(size)
        for key, value in mapping.items():
            _pack(key, buf)
            _pack(value, buf)
    elif kind is float:
        buf += b"\xcb" + _F64(obj)  # float 64, as msgpack-python writes every float
    elif kind is bytes:
        data = obj  # type: ignore[assignment]
        size = len(data)
        if size <= 0xFF:
            buf += b"\xc4" + _U8(size)
        elif size <= 0xFFFF:
            buf += b"\xc5" + _U16(size)
        else:
            buf += b"\xc6" + _U32(size)
        buf += data
    else:
        msg = f"cannot serialize {kind.__name__!r} object"
        raise TypeError(msg)


def _pack_int(value: int, buf: bytearray) -> None:
    if 0 <= value < 0x80:
        buf.append(value)  # positive fixint
    elif value >= 0:
        if value <= 0xFF:
            buf += b"\xcc" + _U8(value)
        elif value <= 0xFFFF:
            buf += b"\xcd" + _U16(value)
        elif value <= 0xFFFFFFFF:
            buf += b"\xce" + _U32(value)
        elif value <= 0xFFFFFFFFFFFFFFFF:
            buf += b"\xcf" + _U64(value)
        else:
            msg = "int too big to serialize"
            raise OverflowError(msg)
    elif value >= -32:
        buf.append(value & 0xFF)  # negative fixint
    elif value >= -0x80:
        buf += b"\xd0" + _I8(value)
    elif value >= -0x8000:
        buf += b"\xd1" + _I16(value)
    elif value >= -0x80000000:
        buf += b"\xd2" + _I32(value)
    elif value >= -0x8000000000000000:
        buf += b"\xd3" + _I64(value)
    else:
        msg = "int too big to serialize"
        raise OverflowError(msg)
