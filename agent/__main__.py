"""``python3 -m agent``: write snapshots of this zone to stdout as a framed stream.

Stdout carries only msgpack; diagnostics go to stderr.  Exit 0 on success, 1 with a
one-line reason (also carried in the stream's trailer), 2 for bad arguments.
With ``--netns PATH`` (Linux, repeatable; ``-`` is its own) it writes one snapshot per
namespace, in order; ``--all-netns`` one per namespace it can see, each named as
listed (``global`` for its own); ``--list-netns`` writes the namespaces instead.
"""

from __future__ import annotations

import gc
import sys

from agent import __version__
from agent.query import ALL_PROTOCOLS
from agent.query import INET_FAMILIES
from agent.query import Query
from common.errors import FleetError
from common.schema import Family
from common.schema import Proto
from common.schema import Snapshot

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import NoReturn


USAGE = (
    "usage: python3 -m agent [-P tcp,udp,unix] [-f inet,inet6] [--netns PATH]... "
    "[--all-netns] [--list-netns] [--version]"
)
EXIT_USAGE = 2


class Arguments:
    """The agent's parsed command line."""

    __slots__ = ("all_netns", "list_netns", "netns", "query")

    def __init__(
        self, query: Query, netns: list[str], list_netns: bool, all_netns: bool = False
    ) -> None:
        self.query = query
        self.netns = netns
        self.list_netns = list_netns
        self.all_netns = all_netns  # every namespace, each snapshot named by its listing


def _usage_error(message: str) -> NoReturn:
    print(f"{USAGE}\npython3 -m agent: error: {message}", file=sys.stderr)
    sys.exit(EXIT_USAGE)


def parse_args(argv: list[str]) -> Arguments:
    """Parse the agent's arguments, written by the controller (or a user).

    By hand rather than with argparse, which with the gettext and shutil modules
    it loads would be a sixth of the agent's start-up on every zone and host.
    """
    values = {"-P": "tcp,udp,unix", "-f": "inet,inet6"}
    netns: list[str] = []
    list_netns = all_netns = False
    args = iter(argv)
    for arg in args:
        name, eq, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in ("-P", "-f", "--netns"):
            value = inline if eq else next(args, None)
            if value is None:
                _usage_error(f"argument {name}: expected one argument")
            if name == "--netns":
                netns.append(value)
            else:
                values[name] = value
        elif arg == "--list-netns":
            list_netns = True
        elif arg == "--all-netns":
            all_netns = True
        elif arg == "--version":
            print(__version__)
            sys.exit(0)
        elif arg in ("-h", "--help"):
            print(f"{USAGE}\n\n{__doc__}")
            sys.exit(0)
        else:
            _usage_error(f"unrecognized argument: {arg}")
    try:
        protocols = frozenset(Proto(p) for p in values["-P"].split(",") if p)
        families = frozenset(Family(f) for f in values["-f"].split(",") if f)
    except ValueError as err:
        _usage_error(str(err))
    query = Query(protocols or ALL_PROTOCOLS, families or INET_FAMILIES)
    return Arguments(query, netns, list_netns, all_netns)


def netns_listing() -> bytes:
    """Return the ``--list-netns`` answer: every namespace this agent can see."""
    from agent.netns import list_namespaces  # noqa: PLC0415 - Linux only
    from common.wire import new_packer  # noqa: PLC0415 - the controller's in-process runs need none

    listing = [[n.name, n.path, n.inode, n.pid] for n in list_namespaces()]
    return new_packer()({"type": "sockstat-netns", "namespaces": listing})


def take_snapshots(args: Arguments) -> list[Snapshot]:
    """Collect what the arguments ask for: this zone, each ``--netns`` path, or all."""
    if args.all_netns:
        from agent.collect import collect_all_netns_snapshots  # noqa: PLC0415

        return collect_all_netns_snapshots(args.query)
    if args.netns:
        from agent.collect import collect_netns_snapshots  # noqa: PLC0415

        return collect_netns_snapshots(args.query, args.netns)
    from agent.collect import collect_snapshot  # noqa: PLC0415

    return [collect_snapshot(args.query)]


def main(argv: list[str] | None = None) -> int:
    """Collect and write the snapshots asked for."""
    from common.wire import write_snapshot  # noqa: PLC0415 - see netns_listing()

    args = parse_args(sys.argv[1:] if argv is None else argv)
    gc.disable()  # one short run building many small objects: nothing to collect
    out = sys.stdout.buffer
    if args.list_netns:
        out.write(netns_listing())
        out.flush()
        return 0
    try:
        snapshots = take_snapshots(args)
    except (FleetError, OSError) as err:
        from agent.collect import failed_snapshot  # noqa: PLC0415

        reason = f"sockstat agent: {err}"
        print(reason, file=sys.stderr)
        write_snapshot(failed_snapshot(reason), out)
        return 1
    for snapshot in snapshots:
        write_snapshot(snapshot, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
