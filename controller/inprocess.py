"""The agent run in the controller's own process: this host's zone, or its namespaces.

A runner like the others (it takes the agent's argv), but nothing is spawned and
nothing is encoded: the snapshots go to the output as objects.  Starting a Python
and decoding its stream would cost more than the collection on most hosts; and
one /proc scan serves every namespace (agent/linux.py).
"""

from __future__ import annotations

from agent.__main__ import netns_listing
from agent.__main__ import parse_args
from agent.__main__ import take_snapshots
from agent.collect import failed_snapshot
from common.errors import FleetError
from common.errors import TransportError
from common.schema import Record
from controller.status import Status
from controller.transport import AGENT
from controller.transport import Completed

TYPE_CHECKING = False  # typing is not imported at run time: start-up (issue #10)
if TYPE_CHECKING:
    from collections.abc import Sequence

    from controller.transport import Output


class InProcessRunner(Record):
    """Run the agent's argv (``[AGENT, args...]``, no hops) in this process."""

    __slots__ = ("label",)

    def __init__(self, label: str) -> None:
        self.label = label

    def run(
        self, argv: Sequence[str], *, stdin: bytes, output: Output, timeout: float
    ) -> Completed:
        """Collect as ``python3 -m agent ARGS`` would; its failures end in the stream."""
        if not argv or argv[0] != AGENT:
            msg = f"only the agent runs in-process, not {list(argv)[:1]!r}"
            raise TransportError(msg, status=Status.AGENT_ERROR, target=self.label)
        try:
            args = parse_args(list(argv[1:]))
        except SystemExit as err:  # the agent's usage error: a bug of ours
            msg = f"bad agent arguments {list(argv[1:])!r}"
            raise TransportError(msg, status=Status.AGENT_ERROR) from err
        if args.list_netns:
            output.feed(netns_listing())
            return Completed(0, "")
        try:
            snapshots = take_snapshots(args)
        except (FleetError, OSError) as err:
            output.accept([failed_snapshot(f"sockstat agent: {err}")])
            return Completed(1, "")
        output.accept(snapshots)
        return Completed(0, "")
