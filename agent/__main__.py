"""``python3 -m agent``: write snapshots of this zone to stdout as a framed stream.

Stdout carries only msgpack; diagnostics go to stderr.  Exit 0 on success, 1 with a
one-line reason (also carried in the stream's trailer), 2 for bad arguments.
With ``--netns PATH`` (Linux, repeatable; ``-`` is its own) it writes one snapshot per
namespace, in order; ``--list-netns`` writes the namespaces it can see instead.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from typing import List
from typing import Optional

import msgpack

from agent import __version__
from agent.query import ALL_PROTOCOLS
from agent.query import INET_FAMILIES
from agent.query import Query
from common.errors import FleetError
from common.schema import Family
from common.schema import Proto
from common.schema import Snapshot
from common.wire import write_snapshot


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    """Parse the agent's arguments; the query is in ``.query``."""
    parser = argparse.ArgumentParser(prog="python3 -m agent", description=__doc__)
    parser.add_argument("-P", dest="protocols", default="tcp,udp,unix")
    parser.add_argument("-f", dest="families", default="inet,inet6")
    parser.add_argument("--netns", action="append", default=[], metavar="PATH")
    parser.add_argument("--list-netns", action="store_true")
    parser.add_argument("--version", action="version", version=__version__)
    ns = parser.parse_args(argv)
    try:
        protocols = frozenset(Proto(p) for p in ns.protocols.split(",") if p)
        families = frozenset(Family(f) for f in ns.families.split(",") if f)
    except ValueError as err:
        parser.error(str(err))  # exits 2
    ns.query = Query(protocols or ALL_PROTOCOLS, families or INET_FAMILIES)
    return ns


def main(argv: Optional[List[str]] = None) -> int:
    """Collect and write the snapshots asked for."""
    args = parse_args(argv)
    gc.disable()  # one short run building many small objects: nothing to collect
    out = sys.stdout.buffer
    try:
        if args.list_netns:
            from agent.netns import list_namespaces  # noqa: PLC0415 - Linux only

            listing = [[n.name, n.path, n.inode, n.pid] for n in list_namespaces()]
            out.write(msgpack.packb({"type": "sockstat-netns", "namespaces": listing}))
            out.flush()
            return 0
        if args.netns:
            from agent.collect import collect_netns_snapshots  # noqa: PLC0415

            snapshots = collect_netns_snapshots(args.query, args.netns)
        else:
            from agent.collect import collect_snapshot  # noqa: PLC0415

            snapshots = [collect_snapshot(args.query)]
    except (FleetError, OSError) as err:
        reason = f"sockstat agent: {err}"
        print(reason, file=sys.stderr)
        failed = Snapshot(
            "", "", sys.platform, "", __version__, time.time(), errors=(reason,)
        )
        write_snapshot(failed, out)
        return 1
    for snapshot in snapshots:
        write_snapshot(snapshot, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
