"""illumos zones: list them with zoneadm, run the agent in each through zlogin."""

from __future__ import annotations

import subprocess
from typing import Callable
from typing import List
from typing import Optional
from typing import Sequence

from agent.query import Query
from common.errors import FleetError
from common.errors import TransportError
from common.format import escape_text
from controller import results
from controller.agentrun import agent_job
from controller.cancel import RUN
from controller.payload import build_payload
from controller.results import FleetResult
from controller.results import TargetResult
from controller.run import Clock
from controller.run import RunOptions
from controller.run import collect_here
from controller.run import run_jobs
from controller.zones import GLOBAL
from controller.zones import Zlogin
from controller.zones import parse_zoneadm
from controller.zones import select_zones
from controller.zones import why_not_entered


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
        refused = why_not_entered(zone)
        if name == GLOBAL:
            jobs.append(lambda: collect_here(host, GLOBAL, query))
        elif refused is not None:
            jobs.append(_fixed(host, name, *refused))
        else:
            command = Zlogin(name).wrap(argv)
            jobs.append(agent_job(host, name, command, payload.stdin, options, clock))
    names = list(chosen)

    def interrupted(index: int) -> TargetResult:
        return TargetResult(host, names[index], results.INTERRUPTED, RUN.reason)

    return FleetResult(run_jobs(jobs, options.jobs, interrupted=interrupted))


def _fixed(host: str, zone: str, status: str, reason: str) -> Callable[[], TargetResult]:
    return lambda: TargetResult(host, zone, status, reason)
