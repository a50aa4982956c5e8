"""Pure parser of illumos ``/proc/<pid>/fdinfo/<fd>`` (prfdinfo_t, sys/procfs.h).

``netstat -u`` (illumos 9531) finds every process holding a socket this way: each
socket's inode from the MIB's EXPER_SOCK_INFO rows, matched against the inode of
every open file descriptor.  The file is a binary ``prfdinfo_t`` followed by
self-describing ``pr_misc`` records; only its first fields are read, whose offsets
are the same for amd64 and i386 (4-byte int and mode_t, then an 8-byte-aligned
uint64_t; asserted against a C compiler in tests/test_layouts.py):

    off 0 int pr_fd    off 4 mode_t pr_mode    off 8 uint64_t pr_ino

Stdlib only, Python 3.9+.
"""

from __future__ import annotations

import struct

from common.errors import ParseError

HEAD = struct.Struct("<iIQ")  # pr_fd, pr_mode, pr_ino (x86, little-endian)
S_IFMT = 0o170000  # sys/stat.h
S_IFSOCK = 0o140000  # sys/stat.h


def socket_inode(data: bytes) -> tuple[int, int] | None:
    """Return (fd, inode) when the descriptor is a socket, else None."""
    if len(data) < HEAD.size:
        msg = f"fdinfo of {len(data)} bytes, expected at least {HEAD.size}"
        raise ParseError(msg)
    fd, mode, inode = HEAD.unpack_from(data)
    if mode & S_IFMT != S_IFSOCK:
        return None
    return fd, inode
