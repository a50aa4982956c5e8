"""What asking /dev/arp for MIB2_TCP and MIB2_UDP saves over EXPER_IP_AND_ALL_IRES (#12.6).

illumos cannot run here, so the kernel's side is a model: a stream that answers as
ip_snmp_get() does (reference/illumos.md §3.5): the full request gets ICMP, UDP, TCP
and then every IP table, routes included; a MIB2_TCP or MIB2_UDP request gets only
that group's records, then the end-of-data message.  The agent's own reply loop
(agent/illumos.py _read_replies(), ctypes strbufs and all) reads each through a
stand-in for libc's getmsg() that copies the modelled messages, so what is timed is
sockstat's side: the bytes it must take in and the time it spends doing so.  The
kernel's own cost of building route tables comes on top and is not measured here.

    python3 -m bench.mib_request [--routes 200000] [--sockets 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import struct
import time

from agent import illumos
from agent import mib2

ROUTE_ENTRY = 112  # modelled mib2_ipRouteEntry_t stride (ipRouteEntrySize in mib2_ip_t)
Message = tuple[bytes, bytes]  # (control part, data part)


def ack(level: int, name: int, length: int) -> bytes:
    return struct.pack("<iiiiIII", mib2.T_OPTMGMT_ACK, 12, 16, mib2.T_SUCCESS,
                       level, name, length)  # fmt: skip


def group(level: int, tables: list[tuple[int, int, bytes]]) -> list[Message]:
    return [(ack(lvl, name, len(data)), data) for lvl, name, data in tables]


def model(sockets: int, routes: int) -> dict[int, list[Message]]:
    """The replies to each request, by request level (one list each, EOD added)."""
    tcp_header = bytearray(228)
    struct.pack_into("<i", tcp_header, 48, 172)
    struct.pack_into("<i", tcp_header, 208, 200)
    udp_header = bytearray(40)
    struct.pack_into("<ii", udp_header, 12, 36, 64)
    tcp = group(mib2.MIB2_TCP, [
        (mib2.MIB2_TCP, 0, bytes(tcp_header)),
        (mib2.MIB2_TCP, mib2.MIB2_TCP_CONN, bytes(172 * sockets)),
        (mib2.MIB2_TCP6, mib2.MIB2_TCP6_CONN, bytes(200 * sockets // 4)),
    ])  # fmt: skip
    udp = group(mib2.MIB2_UDP, [
        (mib2.MIB2_UDP, 0, bytes(udp_header)),
        (mib2.MIB2_UDP, mib2.MIB2_UDP_ENTRY, bytes(36 * sockets // 10)),
        (mib2.MIB2_UDP6, mib2.MIB2_UDP6_ENTRY, bytes(64 * sockets // 20)),
    ])  # fmt: skip
    # mib2.h: MIB2_IP (IPPROTO_MAX + 4), MIB2_ICMP (+ 5), MIB2_IP6 (+ 12); the route
    # tables' names only matter in that the agent drops them.
    mib2_ip, mib2_icmp, mib2_ip6, ip_route, ipv6_route = 260, 261, 268, 21, 11
    icmp = group(mib2_icmp, [(mib2_icmp, 0, bytes(128))])
    ip = group(mib2_ip, [
        (mib2_ip, 0, bytes(200)),
        (mib2_ip, ip_route, bytes(ROUTE_ENTRY * routes)),
        (mib2_ip6, ipv6_route, bytes((ROUTE_ENTRY + 48) * (routes // 10))),
    ])  # fmt: skip
    end = [(ack(0, 0, 0), b"")]
    return {
        mib2.EXPER_IP_AND_ALL_IRES: icmp + udp + tcp + ip + end,
        mib2.MIB2_TCP: tcp + end,
        mib2.MIB2_UDP: udp + end,
    }


class ModelStream:
    """getmsg() over modelled messages: control first, then the data part."""

    def __init__(self, messages: list[Message]) -> None:
        self.messages = list(messages)
        self.data: bytes | None = None
        self.taken = 0

    def getmsg(self, _fd: int, control: object, data: object, flags: object) -> int:
        if control is not None:
            ctl, self.data = self.messages.pop(0)
            buf = control._obj  # type: ignore[attr-defined]
            ctypes.memmove(buf.buf, ctl, len(ctl))
            buf.len = len(ctl)
            self.taken += len(ctl)
            return mib2.MOREDATA if self.data else 0
        assert self.data is not None
        buf = data._obj  # type: ignore[attr-defined]
        ctypes.memmove(buf.buf, self.data, len(self.data))
        buf.len = len(self.data)
        self.taken += len(self.data)
        return 0


def read(replies: dict[int, list[Message]], levels: list[int]) -> tuple[float, int, int]:
    """Read the replies to ``levels`` as the agent does: seconds, bytes, tables kept."""
    readable, writer = os.pipe()  # poll() must see the stream readable
    os.write(writer, b"x")
    layout = mib2.Layout()
    taken = kept = 0
    started = time.perf_counter()
    try:
        for level in levels:
            stream = ModelStream(replies[level])
            items = illumos._read_replies(  # the loop under test
                stream,
                readable,
                layout,
                time.monotonic() + 60,  # type: ignore[arg-type]
            )
            taken += stream.taken
            kept += len(items)
    finally:
        os.close(readable)
        os.close(writer)
    return time.perf_counter() - started, taken, kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--routes", type=int, default=200_000)
    parser.add_argument("--sockets", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    replies = model(args.sockets, args.routes)
    ways = {
        "EXPER_IP_AND_ALL_IRES (netstat's, before)": [mib2.EXPER_IP_AND_ALL_IRES],
        "MIB2_TCP + MIB2_UDP (now)": [mib2.MIB2_TCP, mib2.MIB2_UDP],
    }
    print(f"{args.sockets} TCP sockets, {args.routes} IPv4 routes "
          f"(+{args.routes // 10} IPv6), {args.rounds} rounds, median:")  # fmt: skip
    results = {}
    for name, levels in ways.items():
        timings = []
        for _ in range(args.rounds):
            seconds, taken, kept = read(replies, levels)
            timings.append(seconds)
        results[name] = (statistics.median(timings), taken)
        print(f"  {name:44} {results[name][0] * 1000:8.2f} ms  {taken / 1e6:8.2f} MB read"
              f"  {kept} tables kept")  # fmt: skip
    (before, before_bytes), (now, now_bytes) = results.values()
    ratios = f"{before / now:.1f}x less time, {before_bytes / now_bytes:.1f}x fewer bytes"
    print(f"  ratio: {ratios}")


if __name__ == "__main__":
    main()
