"""Hold N TCP sockets open (listeners and connected pairs) across several processes.

The open-files hard limit here is 20,000 per process, so 60,000 sockets need several
holders.  Every socket gets SO_LINGER(1, 0) so teardown leaves no TIME_WAIT behind.

    python -m bench.load 60000      # prints "ready <pids>" then waits for stdin EOF
"""

from __future__ import annotations

import os
import resource
import socket
import struct
import sys
import time

LISTENERS = 50
PER_WORKER = 15_000
LINGER_RESET = struct.pack("ii", 1, 0)


def _hold(worker: int, count: int, ready_fd: int) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    address = f"127.0.{worker // 250}.{worker % 250 + 1}"
    listeners = []
    for _ in range(LISTENERS):
        lsock = socket.socket()
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
        lsock.bind((address, 0))
        lsock.listen(1024)
        listeners.append(lsock)
    held: list[socket.socket] = []
    remaining = count - LISTENERS
    index = 0
    while remaining >= 2:
        lsock = listeners[index % LISTENERS]
        client = socket.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
        client.connect(lsock.getsockname())
        server, _ = lsock.accept()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
        held += (client, server)
        remaining -= 2
        index += 1
    os.write(ready_fd, b"x")
    os.close(ready_fd)
    while True:
        time.sleep(3600)


def start(total: int) -> list[int]:
    """Fork holder processes for ``total`` sockets; return their pids once ready."""
    pids = []
    worker = 0
    left = total
    while left > 0:
        share = min(PER_WORKER, left)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            try:
                _hold(worker, share, write_end)
            finally:
                os._exit(0)
        os.close(write_end)
        if os.read(read_end, 1) != b"x":
            msg = f"load worker {pid} failed"
            raise RuntimeError(msg)
        os.close(read_end)
        pids.append(pid)
        left -= share
        worker += 1
    return pids


def stop(pids: list[int]) -> None:
    """End the holder processes this module started."""
    for pid in pids:
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except ProcessLookupError:
            pass


if __name__ == "__main__":
    holders = start(int(sys.argv[1]) if len(sys.argv) > 1 else 60_000)
    print("ready", *holders, flush=True)
    try:
        sys.stdin.read()
    finally:
        stop(holders)
