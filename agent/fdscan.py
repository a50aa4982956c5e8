"""Map socket inodes to every (pid, fd) that holds them: one readlink per open fd.

This module imports only the stdlib and nothing of ours, because its own source is
also run as a helper process (``python -S -c <source>``) that scans part of /proc on
the other core while the agent drains the sock_diag dumps.  It runs on Python 3.9.
"""

from __future__ import annotations

import os
import sys
from array import array

PROC = "/proc"


def scan(names: list[str], out: array[int], proc: str = PROC) -> int:
    """Append (inode, pid, fd) for each socket fd of the pids named; return denials.

    A process that exits mid-scan is skipped silently (its sockets are closing too);
    one whose fds we may not read (EACCES when not root) is counted, not fatal.
    """
    denied = 0
    readlink = os.readlink
    extend = out.extend
    for name in names:
        try:
            dir_fd = os.open(proc + "/" + name + "/fd", os.O_RDONLY | os.O_DIRECTORY)
        except PermissionError:
            denied += 1
            continue
        except OSError:
            continue
        pid = int(name)
        try:
            for fd in os.listdir(dir_fd):
                try:
                    link = readlink(fd, dir_fd=dir_fd)
                except OSError:  # closed since listdir()
                    continue
                if link[:8] == "socket:[":
                    extend((int(link[8:-1]), pid, int(fd)))
        except OSError:
            pass
        finally:
            os.close(dir_fd)
    return denied


def main(names: list[str]) -> None:
    """Scan the pids named and write the denial count, then the triples, as int64s."""
    out = array("q", [0])
    out[0] = scan(names, out)
    sys.stdout.buffer.write(out.tobytes())


if __name__ == "__main__":
    main(sys.argv[1:])
