"""A TCP relay that delays every byte by half a round trip each way: latency for benches.

    python3 bench/relay.py --rtt-ms 200 LISTEN_PORT:TARGET_PORT ...

This kernel has no netem (tc qdisc), so the benchmark puts one of these in front of
every sshd instead: one asyncio process for all hosts, used by every tool alike.  Data
read from one side is written to the other ``rtt / 2`` later, in order; the TCP
connect itself is not delayed (the same for every tool).  A listen port of 0 lets
the kernel choose; prints ``ready`` and the ports it listens on, in order, once
listening; runs until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

CHUNK = 1 << 16


async def pump(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float
) -> None:
    """Copy reader to writer, each chunk ``delay`` seconds after it was read."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def send() -> None:
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                writer.write_eof() if writer.can_write_eof() else writer.close()
                return
            writer.write(data)
            await writer.drain()

    sender = asyncio.create_task(send())
    try:
        while True:
            data = await reader.read(CHUNK)
            queue.put_nowait((loop.time() + delay, data))
            if not data:
                break
        await sender
    except (ConnectionError, OSError):
        sender.cancel()
    finally:
        writer.close()


async def serve(listen: int, target: int, delay: float) -> asyncio.Server:
    """Listen on 127.0.0.1:listen and relay each connection to 127.0.0.1:target."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(
            pump(reader, up_writer, delay), pump(up_reader, writer, delay),
            return_exceptions=True,
        )  # fmt: skip

    return await asyncio.start_server(handle, "127.0.0.1", listen, backlog=1024)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rtt-ms", type=float, required=True)
    parser.add_argument("pairs", nargs="+", metavar="LISTEN:TARGET")
    args = parser.parse_args()
    delay = args.rtt_ms / 2000
    servers = []
    for pair in args.pairs:
        listen, target = (int(p) for p in pair.split(":"))
        servers.append(await serve(listen, target, delay))
    ports = [s.sockets[0].getsockname()[1] for s in servers]
    print("ready", *ports, flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
