"""Whole reads of the small files the kernel generates: /proc/<pid>/*, /proc/net/*.

One place for the read loop both backends use.  With os.read rather than open(): no
buffered file object, half the time, which counts when several files are read per
process that owns a socket.  Stdlib only, Python 3.9+.
"""

from __future__ import annotations

import os


def read_file(path: str) -> bytes:
    """Return the whole file; OSError as open(2) and read(2) raise it."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 16384):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
