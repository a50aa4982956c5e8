"""Survey targets: a host's own zone, or each of its zones, through one path.

A ``Target`` is a host and the zones it answers for, the runner that reaches the
host (this process, a local process, an SSH channel) and the hops its agent runs
through (controller/hops.py).  ``survey_target()`` runs any of them and judges
what came back; ``survey_host()`` turns a host and the request into targets:
this host's zone in-process, Linux namespaces in one agent run, illumos zones
through zlogin, locally or over SSH alike.
"""

from __future__ import annotations

import _socket  # not socket.py: see agent/netlink.py
import os
import sys
import time
from functools import partial

from common.errors import ParseError
from common.errors import SchemaError
from common.errors import TransportError
from common.format import escape_text
from common.schema import Record
from controller import logs
from controller.agentio import FALLBACK_MARKER
from controller.agentio import AgentOutput
from controller.agentio import judge
from controller.cancel import RUN
from controller.inprocess import InProcessRunner
from controller.jobs import Clock
from controller.results import FleetResult
from controller.results import TargetResult
from controller.status import Status
from controller.transport import AGENT
from controller.transport import Completed
from controller.transport import LocalRunner
from controller.transport import TextOutput

# The zone paths (-Z, -z) and the shipped agent import what they need when taken:
# an idle local run must start about as fast as ss (issue #10); typing too.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from common.schema import Snapshot
    from controller.hops import Hop
    from controller.payload import Payload
    from controller.request import SurveyRequest
    from controller.transport import Runner

GLOBAL = "global"  # the host's own zone, as controller/zones.py names it
ILLUMOS = "sunos"
# zoneadm(8) is in /usr/sbin, which a non-root login's PATH may lack.
ZONEADM = ("/bin/sh", "-c", 'PATH="$PATH:/usr/sbin" exec zoneadm list -p')
ZONEADM_MARKER = b"#sockstat-zoneadm\n"  # controller/hops.py Probe: an illumos host


class Target(Record):
    """Zones answered by one agent run: where it runs, and the hops it runs through."""

    __slots__ = ("hops", "host", "own", "runner", "zones")

    def __init__(
        self,
        host: str,
        zones: tuple[str, ...],  # in the order the agent reports them
        runner: Runner,
        hops: tuple[Hop, ...] = (),  # innermost first
        *,
        own: bool = False,  # the zone the agent finds itself in: no zone entered
    ) -> None:
        self.host = host
        self.zones = zones
        self.runner = runner
        self.hops = hops
        self.own = own

    def argv(self, agent_args: Sequence[str]) -> list[str]:
        """Return the argv the runner runs: the agent's, folded through the hops."""
        argv = [AGENT, *agent_args]
        for hop in self.hops:
            argv = hop.wrap(argv)
        return argv

    @property
    def stdin(self) -> bytes:
        """The payload, when the agent is shipped (by the Ship hop); else nothing."""
        for hop in self.hops:
            payload: Payload | None = getattr(hop, "payload", None)
            if payload is not None:
                return payload.stdin
        return b""


class Host(Record):
    """How a host is reached: one runner for its agent, one for plain commands."""

    __slots__ = ("agent", "become", "channels", "name", "platform", "shell", "ships")

    def __init__(
        self,
        name: str,
        *,
        agent: Runner,  # runs [AGENT, args...] once the agent hops are applied
        shell: Runner,  # runs plain commands (zoneadm) and shipped agents (zlogin)
        ships: bool,  # whether the agent must be shipped (not in this process)
        become: tuple[Hop, ...] = (),  # outermost hops of what must run as root
        platform: str | None = None,  # sys.platform-like, None until probed
        channels: int = 8,  # zones surveyed at once
    ) -> None:
        self.name = name
        self.agent = agent
        self.shell = shell
        self.ships = ships
        self.become = become
        self.platform = platform
        self.channels = channels


class Survey:
    """One run: the request, its deadline, the payload its shipped agents share."""

    def __init__(self, request: SurveyRequest) -> None:
        self.request = request
        self.clock = Clock(request.deadline)

    @property
    def payload(self) -> Payload:
        """The zero-install agent, built on first use, once for all hosts."""
        from controller.payload import build_payload  # noqa: PLC0415 - shipped only

        return build_payload()

    def timeout(self) -> float:
        """Seconds the next step may take: --timeout, within the run's deadline."""
        return max(0.0, min(self.request.timeout, self.clock.left()))

    def agent_hops(self, host: Host) -> tuple[Hop, ...]:
        """Return the hops of an agent in the host's own zone."""
        if not host.ships:
            return ()
        from controller.hops import Ship  # noqa: PLC0415 - shipped agents only

        return (Ship(self.payload), *host.become)


def survey_target(target: Target, survey: Survey) -> list[TargetResult]:
    """Run one target's agent and judge what came back: a result per zone."""
    started = time.perf_counter()

    def fail(status: Status, message: str) -> list[TargetResult]:
        elapsed = time.perf_counter() - started
        return [
            TargetResult(target.host, z, status, message, elapsed) for z in target.zones
        ]

    if RUN.cancelled:
        return fail(Status.INTERRUPTED, RUN.reason)
    limit = survey.timeout()
    if limit <= 0:
        return fail(Status.TIMEOUT, "run deadline reached before this target started")
    output = AgentOutput(survey.request.limits)
    argv = target.argv(survey.request.query.to_args())
    try:
        completed = target.runner.run(
            argv, stdin=target.stdin, output=output, timeout=limit
        )
    except SchemaError as err:  # the command was stopped: its output is not ours
        output.error = err
        completed = Completed(None, "")
    except TransportError as err:
        return fail(Status(err.status), str(err))
    verdicts = judge(
        output, completed, zones=len(target.zones), hops=target.hops, timeout=limit
    )
    elapsed = time.perf_counter() - started
    found = []
    for label, (status, error, snapshot) in zip(target.zones, verdicts):
        zone = label
        if snapshot is not None:
            # The names come from the controller, never from what the agent claims,
            # except the zone an agent was not put in: an illumos host's own zone
            # is named by getzoneid() there (a non-global zone reached directly).
            zone = own_zone_name(snapshot) if target.own else label
            snapshot.host, snapshot.zone = target.host, zone
        found.append(TargetResult(target.host, zone, status, error, elapsed, snapshot))
    return found


def own_zone_name(snapshot: Snapshot) -> str:
    """Name the zone an agent ran in unasked: illumos says which; elsewhere global."""
    if not snapshot.platform.startswith(ILLUMOS):
        return GLOBAL
    # Only here: controller.zones costs ~25 ms of imports a Linux run never needs.
    from controller.zones import valid_zone_name  # noqa: PLC0415

    return snapshot.zone if valid_zone_name(snapshot.zone) else GLOBAL


def survey_local(survey: Survey, name: str | None = None) -> FleetResult:
    """Survey this host: its zone in this process, its zones as the request asks."""
    name = name or _socket.gethostname()
    host = Host(
        name,
        agent=InProcessRunner(name),
        shell=LocalRunner(name),
        ships=False,
        platform=local_platform(),
        channels=survey.request.jobs,
    )
    return FleetResult(survey_host(host, survey))


def survey_host(host: Host, survey: Survey) -> list[TargetResult]:
    """Survey a host's own zone, or (with -Z/-z) each zone it has.

    Raises ZoneSelectionError when -z matches none of its zones.
    """
    own = Target(host.name, (GLOBAL,), host.agent, survey.agent_hops(host), own=True)
    if not survey.request.zones.enabled:
        return survey_target(own, survey)
    try:
        if host.platform is None:
            return survey_remote_zones(host, survey)
        if host.platform.startswith(ILLUMOS):
            zoneadm = run_text(
                host.shell, ZONEADM, survey, what="zoneadm list -p",
                failure=Status.ZONE_ENTRY_FAILED,
            )  # fmt: skip
            return survey_illumos_zones(host, survey, zoneadm)
        return survey_namespaces(host, survey)
    except TransportError as err:  # the zones could not even be listed
        return [TargetResult(host.name, "*", Status(err.status), str(err))]


def survey_remote_zones(host: Host, survey: Survey) -> list[TargetResult]:
    """Probe, list and (Linux -Z) dump the zones of a host over SSH in one command.

    One channel answers with zoneadm's listing on illumos; on Linux the agent
    lists every namespace and, unless -z picks some, dumps them all in the same
    run: round trips, not CPU, bound a survey of distant hosts (issue #10).
    """
    from controller.hops import Probe  # noqa: PLC0415 - -Z only
    from controller.hops import Ship  # noqa: PLC0415

    every = not survey.request.zones.patterns
    args = [*survey.request.query.to_args(), "--all-netns"] if every else ["--list-netns"]
    target = Target(
        host.name, (), host.agent, (Ship(survey.payload), Probe(), *host.become)
    )
    output = TextOutput("the zone probe", survey.request.limits.max_stream_bytes)
    try:
        done = host.agent.run(
            target.argv(args), stdin=target.stdin, output=output, timeout=survey.timeout()
        )
    except SchemaError as err:
        raise TransportError(str(err), status=Status.BAD_OUTPUT) from None
    data = b"".join(output.chunks)
    if data.startswith(ZONEADM_MARKER) and not done.returncode:
        text = data[len(ZONEADM_MARKER) :].decode("utf-8", "replace")
        return survey_illumos_zones(host, survey, text)
    if not every:
        return select_namespaces(host, survey, data, done)
    return judge_all_namespaces(host, survey, target, data, done)


def judge_all_namespaces(
    host: Host, survey: Survey, target: Target, data: bytes, done: Completed
) -> list[TargetResult]:
    """Name and judge the snapshots of an ``--all-netns`` run (or its fallback)."""
    from agent.netns import safe_name  # noqa: PLC0415 - -Z only

    output = AgentOutput(survey.request.limits)
    try:
        output.feed(data)
    except SchemaError as err:
        output.error = err
    verdicts = judge(output, done, zones=None, hops=target.hops, timeout=survey.timeout())
    if output.fallback is not None:  # no usable Python: the host's own zone only
        status, error, snapshot = verdicts[0]
        return [TargetResult(host.name, GLOBAL, status, error, 0.0, snapshot)]
    if not output.snapshots:  # the run failed as a whole
        status, error, _ = verdicts[0]
        return [TargetResult(host.name, "*", status, error)]
    found = []
    for (status, error, _), snapshot in zip(verdicts, output.snapshots):
        # The agent there listed them, as --list-netns would: names made safe.
        zone = safe_name(snapshot.zone)
        snapshot.host, snapshot.zone = host.name, zone
        shown = None if status.failed else snapshot
        found.append(TargetResult(host.name, zone, status, error, 0.0, shown))
    return found


def local_platform() -> str:
    """Return this host's platform: where zoneadm exists, -Z means illumos zones."""
    path = os.environ.get("PATH", os.defpath).split(os.pathsep)
    found = any(os.access(os.path.join(d, "zoneadm"), os.X_OK) for d in path if d)
    return ILLUMOS if found else sys.platform


def run_text(
    runner: Runner,
    argv: Sequence[str],
    survey: Survey,
    *,
    what: str,
    failure: Status = Status.AGENT_ERROR,
) -> str:
    """Run a plain command and return its stdout, or raise TransportError.

    ``failure`` is the status when the command cannot run or exits non-zero.
    """
    output = TextOutput(what, survey.request.limits.max_stream_bytes)
    try:
        done = runner.run(argv, stdin=b"", output=output, timeout=survey.timeout())
    except SchemaError as err:
        raise TransportError(str(err), status=Status.BAD_OUTPUT) from None
    except TransportError as err:
        if err.status == Status.AGENT_ERROR:  # could not be started
            raise TransportError(str(err), status=failure) from None
        raise
    if done.timed_out:
        msg = f"{what} did not finish in time"
        raise TransportError(msg, status=Status.TIMEOUT)
    if done.returncode:
        msg = f"{what} failed (exit {done.returncode}): {done.last_error}"
        raise TransportError(msg, status=failure)
    return output.text()


def survey_namespaces(host: Host, survey: Survey) -> list[TargetResult]:
    """Linux: list the namespaces with the agent, then dump those chosen in one run."""
    hops = survey.agent_hops(host)
    listing = Target(host.name, (), host.agent, hops)
    output = TextOutput("the agent's --list-netns", survey.request.limits.max_stream_bytes)
    try:
        done = host.agent.run(
            listing.argv(["--list-netns"]), stdin=listing.stdin, output=output,
            timeout=survey.timeout(),
        )  # fmt: skip
    except SchemaError as err:
        raise TransportError(str(err), status=Status.BAD_OUTPUT) from None
    return select_namespaces(host, survey, b"".join(output.chunks), done)


def select_namespaces(
    host: Host, survey: Survey, data: bytes, done: Completed
) -> list[TargetResult]:
    """Choose among the namespaces an agent listed (-z), then dump them in one run."""
    from controller.hops import Netns  # noqa: PLC0415 - -Z only

    hops = survey.agent_hops(host)
    if data.startswith(FALLBACK_MARKER) or (not data and done.returncode):
        # No usable Python there: only the host's own zone, by its fallback.
        return survey_target(Target(host.name, (GLOBAL,), host.agent, hops), survey)
    listing = parse_netns_listing(data)
    chosen = set(survey.request.zones.select([name for name, _ in listing]))
    selected = [(name, path) for name, path in listing if name in chosen]
    names = tuple(name for name, _ in selected)
    netns = Netns(tuple(path for _, path in selected))
    return survey_target(Target(host.name, names, host.agent, (netns, *hops)), survey)


def parse_netns_listing(data: bytes) -> list[tuple[str, str]]:
    """Validate the agent's --list-netns answer: [(name, path)], names made safe.

    ``-`` is the path of the namespace the agent runs in, named ``global``.
    """
    import msgpack  # noqa: PLC0415 - -Z only

    from agent.netns import safe_name  # noqa: PLC0415

    try:
        obj = msgpack.unpackb(data, raw=False, max_str_len=4096, max_array_len=100_000)
    except (ValueError, msgpack.UnpackException) as err:
        msg = f"bad namespace listing: {err}"
        raise TransportError(msg, status=Status.BAD_OUTPUT) from None
    items = obj.get("namespaces") if isinstance(obj, dict) else None
    if not isinstance(items, list):
        msg = "bad namespace listing"
        raise TransportError(msg, status=Status.BAD_OUTPUT)
    listing = []
    for item in items:
        if not (isinstance(item, list) and len(item) == 4 and isinstance(item[0], str)):
            msg = "bad namespace listing entry"
            raise TransportError(msg, status=Status.BAD_OUTPUT)
        if item[1] is None:
            listing.append((GLOBAL, "-"))
        elif isinstance(item[1], str):
            listing.append((safe_name(item[0]), item[1]))
    return listing


def survey_from_a_zone(host: Host, survey: Survey, name: str) -> list[TargetResult]:
    """-Z in a non-global zone: zoneadm lists only that zone, and zlogin is refused.

    The zone is surveyed in place under its own name, and the run says that the
    other zones need the global zone (a skipped "*" target, one warning line).
    """
    from controller.zones import valid_zone_name  # noqa: PLC0415

    label = name if valid_zone_name(name) else GLOBAL
    results = survey_target(
        Target(host.name, (label,), host.agent, survey.agent_hops(host)), survey
    )
    reason = (
        f"-Z and -z need the global zone: {host.name} is the non-global zone "
        f"'{escape_text(name)}', which sees only its own sockets"
    )
    logs.get(__name__).warning("%s: %s", host.name, reason)
    return [*results, TargetResult(host.name, "*", Status.SKIPPED, reason)]


def survey_illumos_zones(host: Host, survey: Survey, zoneadm: str) -> list[TargetResult]:
    """illumos: the global zone in place, the others through zlogin, as zoneadm listed."""
    from controller.hops import Ship  # noqa: PLC0415 - -Z only
    from controller.hops import Zlogin  # noqa: PLC0415
    from controller.jobs import run_jobs  # noqa: PLC0415
    from controller.zones import parse_zoneadm  # noqa: PLC0415
    from controller.zones import why_not_entered  # noqa: PLC0415

    try:
        zones = parse_zoneadm(zoneadm)
    except ParseError as err:
        raise TransportError(str(err), status=Status.BAD_OUTPUT) from None
    by_name = {zone.name: zone for zone in zones}
    if zones and GLOBAL not in by_name:
        return survey_from_a_zone(host, survey, zones[0].name)
    chosen = survey.request.zones.select([zone.name for zone in zones])

    def one(name: str) -> list[TargetResult]:
        if name == GLOBAL:
            hops = survey.agent_hops(host)
            return survey_target(Target(host.name, (GLOBAL,), host.agent, hops), survey)
        refused = why_not_entered(by_name[name])
        if refused is not None:
            return [TargetResult(host.name, name, refused[0], refused[1])]
        root = by_name[name].path.rstrip("/") + "/root"
        hops = (Ship(survey.payload), Zlogin(name, root), *host.become)
        return survey_target(Target(host.name, (name,), host.shell, hops), survey)

    def interrupted(index: int) -> list[TargetResult]:
        return [TargetResult(host.name, chosen[index], Status.INTERRUPTED, RUN.reason)]

    jobs = [partial(one, name) for name in chosen]
    found = run_jobs(jobs, host.channels, interrupted=interrupted)
    return [result for zone in found for result in zone]
