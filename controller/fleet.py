"""Survey many hosts over SSH: bounded fan-out, a status for every host and zone.

One Transport per host; the agent, the zone listing and (on illumos) one zlogin per
zone run on channels of that Transport, fewer at once than sshd's MaxSessions (10).
"""

from __future__ import annotations

import logging
import os
import resource
import shlex
import sys
import threading
from dataclasses import dataclass
from functools import partial
from typing import Callable
from typing import List
from typing import Optional
from typing import Sequence

import msgpack
import paramiko

from agent.netns import safe_name
from agent.query import Query
from common.errors import FleetError
from common.format import escape_text
from controller import results
from controller.agentrun import run_agent
from controller.cancel import RUN
from controller.cancel import Interrupted
from controller.hostnames import BadTargetError
from controller.inventory import HostSpec
from controller.payload import FALLBACK_MARKER
from controller.payload import Payload
from controller.payload import build_payload
from controller.results import FleetResult
from controller.results import TargetResult
from controller.run import Clock
from controller.run import RunOptions
from controller.run import run_jobs
from controller.run import survey_local
from controller.sshconfig import SshSettings
from controller.sshconfig import load_ssh_config
from controller.sshconfig import resolve
from controller.sshconfig import resolve_jump
from controller.sshrun import HostKeys
from controller.sshrun import SshConnection
from controller.sshrun import SshFailure
from controller.sshrun import connect
from controller.transport import Completed
from controller.zones import GLOBAL
from controller.zones import Zlogin
from controller.zones import ZoneSelectionError
from controller.zones import parse_zoneadm
from controller.zones import select_zones
from controller.zones import why_not_entered

log = logging.getLogger(__name__)

CHANNELS_PER_HOST = 8  # below OpenSSH's default MaxSessions of 10
# Handshakes in flight across the fleet.  Each waits on several network round trips
# (TCP, banner, key exchange, auth) more than it computes, so this is sized to hide
# latency, not to the cores: at 4 at once, 50 hosts 100 ms away would wait ~6 s
# (5 round trips x 50 / 4) before the last agent starts.
# sshd's MaxStartups counts per server; a refusal there is retried (sshrun.py).
CONCURRENT_HANDSHAKES = 16
BECOME = {"sudo": ["sudo", "-n", "--"], "pfexec": ["pfexec"]}


@dataclass(frozen=True)
class SshOptions:
    """How to reach hosts: ssh_config, host-key policy, privilege escalation."""

    config_path: Optional[str] = None
    accept_new: bool = False
    accept_new_file: str = os.path.expanduser("~/.ssh/known_hosts.sockstat")
    become: Optional[str] = None  # "sudo" or "pfexec"


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


def survey_hosts(
    specs: Sequence[HostSpec],
    query: Query,
    *,
    all_zones: bool,
    patterns: Optional[Sequence[str]],
    options: RunOptions,
    ssh: SshOptions,
) -> FleetResult:
    """Survey every host (and zone) in order; one host's failure never stops others."""
    raise_open_file_limit()
    config = load_ssh_config(ssh.config_path)
    host_keys = HostKeys(ssh.accept_new_file, ssh.accept_new)
    payload = build_payload()
    clock = Clock(options.deadline)
    handshakes = threading.Semaphore(CONCURRENT_HANDSHAKES)
    progress = Progress(len(specs))

    def job(spec: HostSpec) -> List[TargetResult]:
        if RUN.cancelled:
            return [TargetResult(spec.name, GLOBAL, results.INTERRUPTED, RUN.reason)]
        try:
            host = HostSurvey(
                spec, query, all_zones, patterns, options, ssh, payload, clock
            )
            return host.run(config, host_keys, handshakes)
        except Exception as err:
            log.debug("%s: unexpected error", spec.name, exc_info=True)
            message = f"internal error: {type(err).__name__}: {escape_text(str(err))}"
            return [TargetResult(spec.name, GLOBAL, results.AGENT_ERROR, message)]

    def interrupted(index: int) -> List[TargetResult]:
        return [TargetResult(specs[index].name, GLOBAL, results.INTERRUPTED, RUN.reason)]

    jobs = [partial(job, spec) for spec in specs]
    found = run_jobs(jobs, options.jobs, interrupted=interrupted, finished=progress.step)
    return FleetResult([t for host in found for t in host])


class HostSurvey:
    """Everything sockstat does on one host."""

    def __init__(
        self,
        spec: HostSpec,
        query: Query,
        all_zones: bool,
        patterns: Optional[Sequence[str]],
        options: RunOptions,
        ssh: SshOptions,
        payload: Payload,
        clock: Clock,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.query = query
        self.zones = all_zones or patterns is not None
        self.patterns = patterns
        self.options = options
        self.ssh = ssh
        self.payload = payload
        self.clock = clock

    def fail(self, status: str, message: str, zone: str = GLOBAL) -> List[TargetResult]:
        """One result saying why this host (or zone) could not be surveyed."""
        return [TargetResult(self.name, zone, status, message)]

    def timeout(self) -> float:
        """Seconds this host may still take."""
        return max(0.0, min(self.options.timeout, self.clock.left()))

    def run(
        self,
        config: paramiko.SSHConfig,
        host_keys: HostKeys,
        handshakes: threading.Semaphore,
    ) -> List[TargetResult]:
        """Connect, survey, disconnect."""
        if self.spec.local:
            local = survey_local(
                self.query,
                all_zones=self.zones and self.patterns is None,
                patterns=self.patterns,
                options=self.options,
                host=self.name,
            )
            return local.targets
        if self.timeout() <= 0:
            return self.fail(results.TIMEOUT, "run deadline reached before connecting")
        try:
            connection = self.connect(config, host_keys, handshakes)
            try:
                return self.survey(connection)
            finally:
                connection.close()
        except BadTargetError as err:
            return self.fail(results.BAD_TARGET, str(err))
        except Interrupted:
            return self.fail(results.INTERRUPTED, RUN.reason)
        except SshFailure as err:
            if RUN.cancelled:  # a transport closed by the cancellation fails in its words
                return self.fail(results.INTERRUPTED, RUN.reason)
            return self.fail(err.status, str(err))

    def connect(
        self,
        config: paramiko.SSHConfig,
        host_keys: HostKeys,
        handshakes: threading.Semaphore,
    ) -> SshConnection:
        """Open the Transport, through every ProxyJump hop in turn."""
        settings = resolve(config, self.spec)
        hops: List[SshSettings] = [resolve_jump(config, j) for j in settings.proxy_jump]
        via: Optional[SshConnection] = None
        for hop in [*hops, settings]:
            with handshakes:
                via = connect(hop, host_keys, self.timeout() or 0.1, via)
        if via is None:  # pragma: no cover - the loop always runs once
            raise SshFailure(results.UNREACHABLE, "no connection")
        return via

    def command(self, argv: Sequence[str], *, become: bool = True) -> str:
        """Return the remote command line (sshd hands it to the login shell)."""
        prefix = BECOME[self.ssh.become] if become and self.ssh.become else []
        return shlex.join([*prefix, *argv])

    def runner(
        self, connection: SshConnection, command: str, stdin: bytes
    ) -> Callable[[Callable[[bytes], None], float], Completed]:
        """Return a Runner for run_agent() on one exec channel."""

        def run(on_stdout: Callable[[bytes], None], limit: float) -> Completed:
            return connection.run(command, stdin=stdin, on_stdout=on_stdout, timeout=limit)

        return run

    def agent(
        self, connection: SshConnection, zones: List[str], extra: Sequence[str] = ()
    ) -> List[TargetResult]:
        """Run the shipped agent on the host for these zones."""
        argv = self.payload.argv([*self.query.to_args(), *extra])
        entry = self.ssh.become or "ssh"
        runner = self.runner(connection, self.command(argv), self.payload.stdin)
        return run_agent(
            self.name, zones, runner, self.timeout(), entry=entry,
            limits=self.options.limits,
        )  # fmt: skip

    def survey(self, connection: SshConnection) -> List[TargetResult]:
        """Survey the host's own zone, or its zones."""
        if not self.zones:
            return self.agent(connection, [GLOBAL])
        probe = self.output(connection, ["/bin/sh", "-c", "uname -s"], become=False)
        if probe.strip() == b"SunOS":
            return self.survey_illumos(connection)
        return self.survey_netns(connection)

    def output(
        self,
        connection: SshConnection,
        argv: Sequence[str],
        *,
        become: bool,
        stdin: bytes = b"",
        limit: int = 1 << 20,
    ) -> bytes:
        """Run a command and return its stdout (at most ``limit`` bytes), or raise."""
        chunks: List[bytes] = []
        size = [0]

        def keep(data: bytes) -> None:
            size[0] += len(data)
            if size[0] > limit:
                msg = f"{argv[0]} printed more than {limit} bytes"
                raise SshFailure(results.BAD_OUTPUT, msg)
            chunks.append(data)

        done = connection.run(
            self.command(argv, become=become),
            stdin=stdin,
            on_stdout=keep,
            timeout=self.timeout(),
        )
        if done.timed_out:
            raise SshFailure(results.TIMEOUT, f"{argv[0]} did not finish in time")
        if done.returncode:
            command = shlex.join(argv)[:60]
            msg = f"{command} failed (exit {done.returncode}): {done.last_error}"
            raise SshFailure(results.AGENT_ERROR, msg)
        return b"".join(chunks)

    def survey_netns(self, connection: SshConnection) -> List[TargetResult]:
        """Linux: list the namespaces with the agent, then dump them all in one run."""
        listing = self.list_netns(connection)
        if listing is None:  # no usable Python there: only the host's own, by fallback
            return self.agent(connection, [GLOBAL])
        names = [name for name, _ in listing]
        try:
            chosen = set(select_zones(names, self.patterns))
        except ZoneSelectionError as err:
            return self.fail(results.ZONE_ENTRY_FAILED, str(err), zone="*")
        selected = [(name, path) for name, path in listing if name in chosen]
        extra = [arg for _, path in selected for arg in ("--netns", path)]
        return self.agent(connection, [name for name, _ in selected], extra)

    def list_netns(self, connection: SshConnection) -> Optional[List[tuple[str, str]]]:
        """Return [(name, path)] from the agent's --list-netns, or None without Python."""
        # Without Python the discovery script answers with the whole ss listing.
        data = self.output(
            connection,
            self.payload.argv(["--list-netns"]),
            become=True,
            stdin=self.payload.stdin,
            limit=self.options.limits.max_stream_bytes,
        )
        if data.startswith(FALLBACK_MARKER):
            return None
        return parse_netns_listing(data)

    def survey_illumos(self, connection: SshConnection) -> List[TargetResult]:
        """illumos: zoneadm list, the global zone directly, the others through zlogin."""
        try:
            listed = self.output(
                connection, ["/usr/sbin/zoneadm", "list", "-p"], become=False
            )
            zones = parse_zoneadm(listed.decode("utf-8", "replace"))
            chosen = select_zones([z.name for z in zones], self.patterns)
        except (FleetError, ZoneSelectionError) as err:
            return self.fail(results.ZONE_ENTRY_FAILED, str(err), zone="*")
        by_name = {z.name: z for z in zones}
        argv = self.payload.argv(self.query.to_args())

        def one(name: str) -> List[TargetResult]:
            refused = why_not_entered(by_name[name])
            if name == GLOBAL:
                return self.agent(connection, [GLOBAL])
            if refused is not None:
                return self.fail(*refused, zone=name)
            command = self.command(Zlogin(name).wrap(argv))
            runner = self.runner(connection, command, self.payload.stdin)
            return run_agent(
                self.name, [name], runner, self.timeout(), entry="zlogin",
                limits=self.options.limits,
            )  # fmt: skip

        def interrupted(index: int) -> List[TargetResult]:
            return self.fail(results.INTERRUPTED, RUN.reason, zone=chosen[index])

        jobs = [partial(one, name) for name in chosen]
        found = run_jobs(jobs, CHANNELS_PER_HOST, interrupted=interrupted)
        return [t for zone in found for t in zone]


def parse_netns_listing(data: bytes) -> List[tuple[str, str]]:
    """Validate the agent's --list-netns answer: [(name, path)], names made safe."""
    try:
        obj = msgpack.unpackb(data, raw=False, max_str_len=4096, max_array_len=100_000)
    except (ValueError, msgpack.UnpackException) as err:
        msg = f"bad namespace listing: {err}"
        raise SshFailure(results.BAD_OUTPUT, msg) from None
    items = obj.get("namespaces") if isinstance(obj, dict) else None
    if not isinstance(items, list):
        msg = "bad namespace listing"
        raise SshFailure(results.BAD_OUTPUT, msg)
    listing = []
    for item in items:
        if not (isinstance(item, list) and len(item) == 4 and isinstance(item[0], str)):
            msg = "bad namespace listing entry"
            raise SshFailure(results.BAD_OUTPUT, msg)
        name = GLOBAL if item[1] is None else safe_name(item[0])
        path = "-" if item[1] is None else str(item[1])
        listing.append((name, path))
    return listing
