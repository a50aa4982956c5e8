"""Pure parser of illumos ``/proc/<pid>/psinfo`` (psinfo_t, sys/procfs.h).

The kernel answers in the *reader's* data model (prread() in fs/proc/prvnops.c): a
64-bit Python reads the 416-byte psinfo_t, a 32-bit one the 336-byte psinfo32_t, so
the layout is chosen by ``struct.calcsize("P")``, not by the target process.
Offsets are those of the declarations compiled for amd64/i386 (reference/illumos.md
§5.2); only the fields sockstat shows are read.  Stdlib only, Python 3.9+.
"""

from __future__ import annotations

import struct

from common.errors import ParseError

# size -> offsets of pr_pid, pr_uid, pr_fname[16], pr_psargs[80], pr_zoneid.
LAYOUTS = {
    416: (8, 24, 136, 152, 276),  # psinfo_t, LP64
    336: (8, 24, 88, 104, 220),  # psinfo32_t, ILP32
}
PRFNSZ = 16  # sys/procfs.h: maximum size of execed filename
PRARGSZ = 80  # sys/procfs.h: number of chars of arguments


class PsInfo:
    """What sockstat shows of a process: ids, command and the first 79 bytes of args."""

    __slots__ = ("args", "fname", "pid", "uid", "zoneid")

    def __init__(self, pid: int, uid: int, fname: str, args: str, zoneid: int) -> None:
        self.pid = pid
        self.uid = uid
        self.fname = fname
        self.args = args
        self.zoneid = zoneid


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "backslashreplace")


def parse_psinfo(data: bytes, pointer_size: int, order: str = "<") -> PsInfo:
    """Parse a psinfo read by a reader whose pointers are ``pointer_size`` bytes."""
    size = {8: 416, 4: 336}.get(pointer_size)
    if size is None:
        msg = f"no psinfo layout for {pointer_size}-byte pointers"
        raise ParseError(msg)
    if len(data) < size:
        msg = f"psinfo of {len(data)} bytes, expected {size} (process exiting?)"
        raise ParseError(msg)
    pid_at, uid_at, fname_at, args_at, zone_at = LAYOUTS[size]
    (pid,) = struct.unpack_from(order + "i", data, pid_at)
    (uid,) = struct.unpack_from(order + "I", data, uid_at)
    (zoneid,) = struct.unpack_from(order + "i", data, zone_at)
    fname = _text(data[fname_at : fname_at + PRFNSZ])
    args = _text(data[args_at : args_at + PRARGSZ])
    return PsInfo(pid, uid, fname, args, zoneid)
