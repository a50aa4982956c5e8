"""Survey many hosts over SSH: bounded fan-out, a status for every host and zone.

One Transport per host; the agent, the zone listing and (on illumos) one zlogin per
zone run on channels of that Transport, fewer at once than sshd's MaxSessions (10).
What runs on a host goes through controller/survey.py like a local survey does.
"""

from __future__ import annotations

import logging
import resource
import sys
import threading
from functools import partial
from typing import List
from typing import Optional

from common.errors import TransportError
from common.format import escape_text
from controller.cancel import RUN
from controller.hops import Become
from controller.hops import Hop
from controller.hosts import HostSpec
from controller.jobs import run_jobs
from controller.request import ZoneSelectionError
from controller.results import FleetResult
from controller.results import TargetResult
from controller.routes import describe_route
from controller.routes import resolved_by
from controller.sshrun import HostKeys
from controller.sshrun import SshConnection
from controller.sshrun import SshRunner
from controller.sshrun import connect
from controller.status import Status
from controller.survey import Host
from controller.survey import Survey
from controller.survey import survey_host
from controller.survey import survey_local
from controller.targets import Resolver
from controller.targets import SshSettings
from controller.zones import GLOBAL

log = logging.getLogger(__name__)

CHANNELS_PER_HOST = 8  # below OpenSSH's default MaxSessions of 10
# Handshakes in flight across the fleet.  Each waits on several network round trips
# (TCP, banner, key exchange, auth) far longer than it computes, so this is sized
# to hide latency, not to the cores: at 16 at once, 50 hosts 200 ms away waited
# 3.4 s for their handshakes, at 64 about one handshake's time.  sshd's MaxStartups
# counts per server; a refusal there is retried (sshrun.py).
CONCURRENT_HANDSHAKES = 64


def raise_open_file_limit() -> None:
    """Lift the soft RLIMIT_NOFILE to the hard limit: each host needs a few fds."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Progress:
    """A one-line progress counter on stderr, only when stderr is a terminal."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.enabled = total > 1 and sys.stderr.isatty()
        self._lock = threading.Lock()

    def step(self) -> None:
        """Count one finished host (the line stops once the run is cancelled)."""
        with self._lock:
            self.done += 1
            if self.enabled and not RUN.cancelled:
                end = "\n" if self.done == self.total else ""
                sys.stderr.write(f"\rsockstat: {self.done}/{self.total} hosts{end}")
                sys.stderr.flush()


class Fleet:
    """What every host of a run shares: ssh_config, host keys, handshake slots."""

    def __init__(self, survey: Survey) -> None:
        self.survey = survey
        ssh = survey.request.ssh
        self.resolver = Resolver(ssh.config_path)
        self.host_keys = HostKeys(ssh.accept_new_file, ssh.accept_new)
        self.handshakes = threading.Semaphore(CONCURRENT_HANDSHAKES)
        self.become: tuple[Hop, ...] = (Become(ssh.become),) if ssh.become else ()

    def survey_spec(self, spec: HostSpec) -> List[TargetResult]:
        """Everything sockstat does on one host; a failure is that host's status."""
        if spec.local:
            if spec.problem:
                return [TargetResult(spec.name, GLOBAL, Status.BAD_TARGET, spec.problem)]
            return survey_local(self.survey, name=spec.name).targets
        settings: Optional[SshSettings] = None
        try:
            settings = self.resolver.resolve(spec)
            if log.isEnabledFor(logging.INFO):
                log.info("%s: %s", spec.name, describe_route(settings, spec))
            results = self.survey_remote(spec, settings)
        except ZoneSelectionError as err:
            results = [TargetResult(spec.name, "*", Status.ZONE_ENTRY_FAILED, str(err))]
        except TransportError as err:
            status = Status.INTERRUPTED if RUN.cancelled else Status(err.status)
            message = RUN.reason if RUN.cancelled else str(err)
            results = [TargetResult(spec.name, GLOBAL, status, message)]
        deciders = tuple(resolved_by(spec, settings))
        for result in results:
            result.resolved_by = deciders
        return results

    def survey_remote(self, spec: HostSpec, settings: SshSettings) -> List[TargetResult]:
        """Connect, survey the host (and its zones), close."""
        connection = self.connect(settings)
        try:
            host = Host(
                spec.name,
                agent=SshRunner(connection),
                shell=SshRunner(connection),
                ships=True,
                become=self.become,
                channels=CHANNELS_PER_HOST,
            )
            return survey_host(host, self.survey)
        finally:
            connection.close()

    def connect(self, settings: SshSettings) -> SshConnection:
        """Open the host's Transport, through every ProxyJump hop in turn."""
        via: Optional[SshConnection] = None
        for hop in [*settings.jumps, settings]:
            left = self.survey.timeout()
            if left <= 0:
                if via is not None:
                    via.close()
                msg = "run deadline reached before connecting"
                raise TransportError(msg, status=Status.TIMEOUT)
            with self.handshakes:
                via = connect(hop, self.host_keys, left, via)
        if via is None:  # pragma: no cover - the loop runs at least once
            msg = "no connection"
            raise TransportError(msg, status=Status.UNREACHABLE)
        return via


def survey_hosts(specs: List[HostSpec], survey: Survey) -> FleetResult:
    """Survey every host (and zone) in order; one host's failure never stops others."""
    raise_open_file_limit()
    fleet = Fleet(survey)
    progress = Progress(len(specs))

    def job(spec: HostSpec) -> List[TargetResult]:
        if RUN.cancelled:
            return [TargetResult(spec.name, GLOBAL, Status.INTERRUPTED, RUN.reason)]
        try:
            return fleet.survey_spec(spec)
        except Exception as err:
            log.debug("%s: unexpected error", spec.name, exc_info=True)
            message = f"internal error: {type(err).__name__}: {escape_text(str(err))}"
            return [TargetResult(spec.name, GLOBAL, Status.AGENT_ERROR, message)]

    def interrupted(index: int) -> List[TargetResult]:
        return [TargetResult(specs[index].name, GLOBAL, Status.INTERRUPTED, RUN.reason)]

    jobs = [partial(job, spec) for spec in specs]
    found = run_jobs(
        jobs, survey.request.host_jobs, interrupted=interrupted, finished=progress.step
    )
    return FleetResult([t for host in found for t in host])
