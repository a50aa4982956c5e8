"""Collect snapshots from targets and gather them, with a status per target."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from dataclasses import field
from typing import List
from typing import Optional

from agent.collect import collect_snapshot
from agent.query import Query
from common.errors import FleetError
from common.schema import Snapshot

OK = "ok"
FALLBACK = "fallback"  # answered by the zone's own netstat/ss: fewer columns
AGENT_ERROR = "agent-error"
ANSWERED = frozenset({OK, FALLBACK})

# Exit codes (design.md): the rest of the output is produced in every case.
EXIT_OK = 0  # every target answered
EXIT_PARTIAL = 1  # some targets failed
EXIT_USAGE = 2  # bad command line or configuration
EXIT_NONE = 3  # no target answered


@dataclass
class TargetResult:
    """What one target (a host, or a zone of a host) answered."""

    host: str
    zone: str
    status: str
    error: Optional[str] = None
    elapsed: float = 0.0  # seconds, as the controller measured it
    snapshot: Optional[Snapshot] = None

    @property
    def label(self) -> str:
        """The name used in every message about this target."""
        return f"{self.host}/{self.zone}"

    @property
    def answered(self) -> bool:
        """Whether the target's sockets are in the result."""
        return self.status in ANSWERED and self.snapshot is not None


@dataclass
class FleetResult:
    """Every target of a run, answered or not, in a stable order."""

    targets: List[TargetResult] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 if every target answered, 3 if none did, 1 otherwise."""
        answered = sum(1 for t in self.targets if t.answered)
        if answered == len(self.targets):
            return EXIT_OK
        return EXIT_NONE if answered == 0 else EXIT_PARTIAL

    @property
    def failures(self) -> List[TargetResult]:
        """Targets that did not answer."""
        return [t for t in self.targets if not t.answered]


def local_host_name() -> str:
    """Return this host's name as the controller reports it."""
    return socket.gethostname()


def run_local(query: Query) -> FleetResult:
    """Survey this host's own zone with the agent run in-process."""
    host = local_host_name()
    clock = time.perf_counter()
    try:
        snapshot = collect_snapshot(query)
    except (FleetError, OSError) as err:
        failed = TargetResult(host, "global", AGENT_ERROR, str(err))
        failed.elapsed = time.perf_counter() - clock
        return FleetResult([failed])
    # The names come from the controller, never from what the agent claims.
    snapshot.host, snapshot.zone = host, "global"
    result = TargetResult(host, "global", OK, None, time.perf_counter() - clock, snapshot)
    return FleetResult([result])
