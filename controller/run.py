"""Survey targets: this host's zone, or each of its zones, with a status per target."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable
from typing import List
from typing import Optional
from typing import Sequence

from agent.collect import collect_snapshot
from agent.collect import new_snapshot
from agent.linux import collect_namespaces
from agent.netns import list_namespaces
from agent.query import Query
from common.errors import FleetError
from common.errors import SchemaError
from common.errors import TransportError
from common.format import escape_text
from controller import results
from controller.agentio import NO_TOOL_STATUS
from controller.agentio import AgentOutput
from controller.agentio import judge
from controller.payload import build_payload
from controller.results import FleetResult
from controller.results import TargetResult
from controller.transport import Completed
from controller.transport import run_command
from controller.zones import GLOBAL
from controller.zones import HARDWARE_VM_BRANDS
from controller.zones import Zlogin
from controller.zones import parse_zoneadm
from controller.zones import select_zones
from controller.zones import valid_zone_name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    """Concurrency and time limits of a run."""

    jobs: int = 8  # targets surveyed at once
    timeout: float = 30.0  # seconds for one target
    deadline: float = 300.0  # seconds for the whole run


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
    query: Query, *, all_zones: bool, patterns: Optional[Sequence[str]], options: RunOptions
) -> FleetResult:
    """Survey this host: its own zone, or (with -Z/-z) each selected zone."""
    host = local_host_name()
    if not all_zones and patterns is None:
        return FleetResult([collect_here(host, GLOBAL, query)])
    if shutil.which("zoneadm"):
        return survey_illumos_zones(host, query, patterns, options)
    return survey_network_namespaces(host, query, patterns)


def survey_network_namespaces(
    host: str, query: Query, patterns: Optional[Sequence[str]]
) -> FleetResult:
    """Survey Linux network namespaces in-process: one /proc scan, a dump per netns."""
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


def list_illumos_zones(timeout: float) -> str:
    """Return ``zoneadm list -p`` output (running zones)."""
    try:
        done = subprocess.run(
            ["zoneadm", "list", "-p"], capture_output=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        msg = f"zoneadm list -p failed: {err}"
        raise TransportError(msg, argv=["zoneadm", "list", "-p"]) from err
    if done.returncode:
        tail = escape_text(done.stderr.decode("utf-8", "replace").strip()[-200:])
        msg = f"zoneadm list -p failed (exit {done.returncode}): {tail}"
        raise TransportError(
            msg, argv=["zoneadm", "list", "-p"], returncode=done.returncode
        )
    return done.stdout.decode("utf-8", "replace")


def survey_illumos_zones(
    host: str, query: Query, patterns: Optional[Sequence[str]], options: RunOptions
) -> FleetResult:
    """Survey illumos zones: the global zone in-process, the others through zlogin."""
    clock = Clock(options.deadline)
    try:
        zones = parse_zoneadm(list_illumos_zones(min(options.timeout, clock.left())))
    except FleetError as err:
        return FleetResult([TargetResult(host, "*", results.ZONE_ENTRY_FAILED, str(err))])
    by_name = {zone.name: zone for zone in zones}
    chosen = select_zones([zone.name for zone in zones], patterns)
    payload = build_payload()
    argv = payload.argv(query.to_args())
    jobs: List[Callable[[], TargetResult]] = []
    for name in chosen:
        zone = by_name[name]
        if name == GLOBAL:
            jobs.append(lambda: collect_here(host, GLOBAL, query))
        elif zone.state != "running":
            jobs.append(_fixed(host, name, results.SKIPPED, f"zone is {zone.state}"))
        elif zone.brand in HARDWARE_VM_BRANDS:
            reason = f"hardware VM ({zone.brand}): its guest's sockets are not the zone's"
            jobs.append(_fixed(host, name, results.SKIPPED, reason))
        elif not valid_zone_name(name):
            reason = f"invalid zone name {escape_text(name)!r}"
            jobs.append(_fixed(host, name, results.ZONE_ENTRY_FAILED, reason))
        else:
            command = Zlogin(name).wrap(argv)
            jobs.append(_agent_job(host, name, command, payload.stdin, options, clock))
    return FleetResult(run_jobs(jobs, options.jobs))


def _fixed(host: str, zone: str, status: str, reason: str) -> Callable[[], TargetResult]:
    return lambda: TargetResult(host, zone, status, reason)


def _agent_job(
    host: str,
    zone: str,
    argv: List[str],
    stdin: bytes,
    options: RunOptions,
    clock: Clock,
) -> Callable[[], TargetResult]:
    def job() -> TargetResult:
        left = clock.left()
        if left <= 0:
            return TargetResult(host, zone, results.TIMEOUT, "run deadline reached")
        return run_agent(host, zone, argv, stdin, min(options.timeout, left))

    return job


def run_jobs(
    jobs: Sequence[Callable[[], TargetResult]], workers: int
) -> List[TargetResult]:
    """Run target jobs with bounded concurrency; results in the jobs' order."""
    with ThreadPoolExecutor(max(1, workers)) as pool:
        return list(pool.map(lambda job: job(), jobs))


def run_agent(
    host: str, zone: str, argv: List[str], stdin: bytes, timeout: float
) -> TargetResult:
    """Run the agent through argv, decode what it says, and judge how it ended."""
    label = f"{host}/{zone}"
    output = AgentOutput()
    clock = time.perf_counter()
    try:
        completed = run_command(
            argv, stdin=stdin, on_stdout=output.feed, timeout=timeout, label=label
        )
    except SchemaError as err:  # the command was killed: its output is not ours
        output.error = err
        completed = Completed(None, "")
    except TransportError as err:
        elapsed = time.perf_counter() - clock
        return TargetResult(host, zone, results.ZONE_ENTRY_FAILED, str(err), elapsed)
    elapsed = time.perf_counter() - clock
    if output.empty and completed.returncode not in (0, None, NO_TOOL_STATUS):
        # Nothing came from inside: entering the zone failed (zlogin's own error).
        tail = completed.stderr_tail.splitlines()
        reason = escape_text(tail[-1]) if tail else "no output"
        message = f"{argv[0]} exited {completed.returncode}: {reason}"
        return TargetResult(host, zone, results.ZONE_ENTRY_FAILED, message, elapsed)
    status, error, snapshots = judge(output, completed, timeout=timeout)
    snapshot = snapshots[0] if snapshots else None
    if snapshot is not None:
        snapshot.host, snapshot.zone = host, zone
    if error is not None:
        log.debug("%s: %s: %s", label, status, error)
    return TargetResult(host, zone, status, error, elapsed, snapshot)
