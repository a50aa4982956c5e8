"""A process that opens known sockets, forks, and reports them as JSON on stdout.

Run by the live tests as ``python tests/holder.py TAG DIR [ESCAPE]``.  It renames itself
(/proc/self/comm) to ``sockholder`` so the tests can assert the COMMAND column, and
the child of the fork keeps only the socket named ``shared``.  It exits when its
stdin closes.
"""

from __future__ import annotations

import json
import os
import socket
import sys


def _set_comm(name: str) -> None:
    with open("/proc/self/comm", "w") as f:
        f.write(name)


def _tcp_pair(family: int, host: str) -> tuple[socket.socket, ...]:
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.bind((host, 0))
    listener.listen(8)
    client = socket.socket(family, socket.SOCK_STREAM)
    client.connect(listener.getsockname()[:2])
    server, _ = listener.accept()
    return listener, client, server


def main() -> None:  # noqa: PLR0915 - one straight script of sockets
    tag, directory = sys.argv[1], sys.argv[2]
    _set_comm("sockholder")
    socks: dict[str, socket.socket] = {}
    socks["tcp4_listen"], socks["tcp4_client"], socks["tcp4_server"] = _tcp_pair(
        socket.AF_INET, "127.0.0.1"
    )
    socks["tcp6_listen"], socks["tcp6_client"], socks["tcp6_server"] = _tcp_pair(
        socket.AF_INET6, "::1"
    )
    # Both wildcards, as sshd listens on most hosts: 0.0.0.0 and :: have the same
    # bytes in a sock_diag reply; only the message's family tells them apart.
    any4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    any4.bind(("0.0.0.0", 0))
    any4.listen(1)
    socks["tcp4_any"] = any4
    any6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    any6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    any6.bind(("::", 0))
    any6.listen(1)
    socks["tcp6_any"] = any6
    bound = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    bound.bind(("127.0.0.1", 0))  # bound, never listening: only sock_diag shows it
    socks["tcp4_bound"] = bound
    udp4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp4.bind(("127.0.0.1", 0))
    socks["udp4"] = udp4
    udp6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    udp6.bind(("::1", 0))
    socks["udp6"] = udp6
    udp4c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp4c.connect(udp4.getsockname())
    socks["udp4_connected"] = udp4c
    path = os.path.join(directory, f"unix listener {tag}.sock")  # a path with spaces
    ulisten = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ulisten.bind(path)
    ulisten.listen(4)
    uclient = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    uclient.connect(path)
    userver, _ = ulisten.accept()
    socks["unix_listen"], socks["unix_client"], socks["unix_server"] = (
        ulisten,
        uclient,
        userver,
    )
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    abstract.bind(f"\0sockstat-test-{tag}")
    socks["unix_abstract"] = abstract
    shared = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    shared.bind(("127.0.0.1", 0))
    shared.listen(1)
    socks["shared"] = shared

    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read_end)
        for name, sock in socks.items():
            if name != "shared":
                sock.close()
        os.write(write_end, b"x")
        os.close(write_end)
        sys.stdin.read()
        os._exit(0)
    os.close(write_end)
    os.read(read_end, 1)  # the child has closed what it must not hold
    report = {
        "pid": os.getpid(),
        "child": child,
        "uid": os.getuid(),
        "path": path,
        "abstract": f"@sockstat-test-{tag}",
        "sockets": {
            name: {
                "fd": sock.fileno(),
                "inode": os.fstat(sock.fileno()).st_ino,
                "local": list(sock.getsockname()[:2])
                if sock.family != socket.AF_UNIX
                else None,
            }
            for name, sock in socks.items()
        },
    }
    print(json.dumps(report), flush=True)
    sys.stdin.read()
    os.waitpid(child, 0)


if __name__ == "__main__":
    main()
