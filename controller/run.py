"""Survey targets: this host's zone, or each of its zones, with a status per target.

Only what the common case needs is imported up front: the illumos and SSH paths
import their modules when a run takes them (start-up time is part of every run).
"""

from __future__ import annotations

import logging
import shutil
import socket
import time
from concurrent.futures import FIRST_COMPLETED
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait
from dataclasses import dataclass
from dataclasses import field
from typing import Callable
from typing import List
from typing import Optional
from typing import Sequence
from typing import TypeVar

from agent.collect import collect_snapshot
from agent.query import Query
from common.decode import DEFAULT_LIMITS
from common.decode import Limits
from common.errors import FleetError
from controller import results
from controller.cancel import GRACE
from controller.cancel import RUN
from controller.results import FleetResult
from controller.results import TargetResult
from controller.zones import GLOBAL
from controller.zones import select_zones

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RunOptions:
    """Concurrency and time limits of a run."""

    jobs: int = 8  # targets surveyed at once
    timeout: float = 30.0  # seconds for one target
    deadline: float = 300.0  # seconds for the whole run
    # What one shipped agent's stream may cost (--max-sockets, --max-bytes).
    limits: Limits = field(default_factory=lambda: DEFAULT_LIMITS)


class Clock:
    """The run's deadline, shared by every target."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds until the run's deadline."""
        return self.end - time.monotonic()


def local_host_name() -> str:
    """Return this host's name as the controller reports it."""
    return socket.gethostname()


def collect_here(host: str, zone: str, query: Query) -> TargetResult:
    """Survey the zone the controller runs in, with the agent in-process."""
    clock = time.perf_counter()
    try:
        snapshot = collect_snapshot(query)
    except (FleetError, OSError) as err:
        elapsed = time.perf_counter() - clock
        return TargetResult(host, zone, results.AGENT_ERROR, str(err), elapsed)
    # The names come from the controller, never from what the agent claims.
    snapshot.host, snapshot.zone = host, zone
    return TargetResult(host, zone, results.OK, None, time.perf_counter() - clock, snapshot)


def survey_local(
    query: Query,
    *,
    all_zones: bool,
    patterns: Optional[Sequence[str]],
    options: RunOptions,
    host: Optional[str] = None,
) -> FleetResult:
    """Survey this host: its own zone, or (with -Z/-z) each selected zone."""
    host = host or local_host_name()
    if not all_zones and patterns is None:
        return FleetResult([collect_here(host, GLOBAL, query)])
    if shutil.which("zoneadm"):
        from controller.illumos import survey_illumos_zones  # noqa: PLC0415

        return survey_illumos_zones(host, query, patterns, options)
    return survey_network_namespaces(host, query, patterns)


def survey_network_namespaces(
    host: str, query: Query, patterns: Optional[Sequence[str]]
) -> FleetResult:
    """Survey Linux network namespaces in-process: one /proc scan, a dump per netns."""
    from agent.collect import new_snapshot  # noqa: PLC0415 - Linux -Z only
    from agent.linux import collect_namespaces  # noqa: PLC0415
    from agent.netns import list_namespaces  # noqa: PLC0415

    namespaces = list_namespaces()
    chosen = set(select_zones([ns.name for ns in namespaces], patterns))
    selected = [ns for ns in namespaces if ns.name in chosen]
    started, clock = time.time(), time.perf_counter()
    found = collect_namespaces(query, selected)
    elapsed = time.perf_counter() - clock
    targets = []
    for item in found:
        name = item.namespace.name
        if item.error is not None:
            status = results.ZONE_GONE if item.gone else results.ZONE_ENTRY_FAILED
            targets.append(TargetResult(host, name, status, item.error, elapsed))
            continue
        snapshot = new_snapshot(name, started, elapsed)
        snapshot.host = host
        snapshot.sockets = tuple(item.sockets)
        snapshot.warnings = tuple(item.warnings)
        targets.append(TargetResult(host, name, results.OK, None, elapsed, snapshot))
    return FleetResult(targets)


def run_jobs(
    jobs: Sequence[Callable[[], T]],
    workers: int,
    *,
    interrupted: Callable[[int], T],
    finished: Optional[Callable[[], None]] = None,
) -> List[T]:
    """Run jobs with bounded concurrency; results in the jobs' order.

    Once the run is cancelled (controller/cancel.py), jobs not started never
    start, running ones get a short grace to wind down, and every job without a
    result by then is ``interrupted(index)``.  ``finished`` is called per job.
    """
    pool = ThreadPoolExecutor(max(1, workers))

    def run(job: Callable[[], T]) -> T:
        try:
            return job()
        finally:
            if finished is not None and not RUN.cancelled:
                finished()

    futures = [pool.submit(run, job) for job in jobs]
    try:
        pending = set(futures)
        while pending and not RUN.cancelled:
            _, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
        if pending:
            wait(pending, timeout=GRACE)
    finally:
        # Threads still blocked (a DNS lookup, a handshake) are not waited for.
        pool.shutdown(wait=not RUN.cancelled, cancel_futures=True)
    return [
        f.result() if f.done() and not f.cancelled() else interrupted(i)
        for i, f in enumerate(futures)
    ]
