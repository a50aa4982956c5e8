"""``python3 -m agent``: write one framed snapshot of this zone to stdout.

Stdout carries only the msgpack stream; diagnostics go to stderr.  Exit 0 on
success, 1 with a one-line reason (and a trailer carrying it), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from typing import List
from typing import Optional

from agent import __version__
from agent.collect import collect_snapshot
from agent.query import ALL_PROTOCOLS
from agent.query import INET_FAMILIES
from agent.query import Query
from common.errors import FleetError
from common.schema import Family
from common.schema import Proto
from common.schema import Snapshot
from common.wire import write_snapshot


def parse_args(argv: Optional[List[str]]) -> Query:
    """Parse the agent's arguments into a Query."""
    parser = argparse.ArgumentParser(prog="python3 -m agent", description=__doc__)
    parser.add_argument("-P", dest="protocols", default="tcp,udp,unix")
    parser.add_argument("-f", dest="families", default="inet,inet6")
    parser.add_argument("--version", action="version", version=__version__)
    ns = parser.parse_args(argv)
    try:
        protocols = frozenset(Proto(p) for p in ns.protocols.split(",") if p)
        families = frozenset(Family(f) for f in ns.families.split(",") if f)
    except ValueError as err:
        parser.error(str(err))  # exits 2
    return Query(protocols or ALL_PROTOCOLS, families or INET_FAMILIES)


def main(argv: Optional[List[str]] = None) -> int:
    """Collect and write one snapshot."""
    query = parse_args(argv)
    gc.disable()  # one short run building many small objects: nothing to collect
    out = sys.stdout.buffer
    try:
        snapshot = collect_snapshot(query)
    except (FleetError, OSError) as err:
        reason = f"sockstat agent: {err}"
        print(reason, file=sys.stderr)
        failed = Snapshot(
            "", "", sys.platform, "", __version__, time.time(), errors=(reason,)
        )
        write_snapshot(failed, out)
        return 1
    write_snapshot(snapshot, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
