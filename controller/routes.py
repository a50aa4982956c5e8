"""``sockstat --list-targets``: every host as it would be reached, connecting to nothing.

What an auditor checks before a run: the address, port and user of each host and
of each jump host on the way, the ProxyCommand, the keys offered, the known_hosts
files read, the host-key policy, and which tools decided (``ansible-inventory`` or
the built-in inventory reader; ``ssh -G`` or the built-in ssh_config reader).  A
run with ``-v`` logs the same route per host; its JSON targets carry
``resolved_by``.
"""

from __future__ import annotations

import os
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence
from typing import TextIO

from common.errors import TransportError
from common.format import escape_text
from controller.hosts import ARGUMENT
from controller.hosts import HostSpec
from controller.jobs import run_jobs
from controller.targets import Resolver
from controller.targets import SshSettings
from controller.targets import with_run_options

RESOLVE_JOBS = 16  # ssh -G runs at once: each is a few ms of CPU
COLUMNS = ("TARGET", "ADDRESS", "PORT", "USER", "VIA", "KEYS", "KNOWN_HOSTS",
           "HOST_KEYS", "RESOLVED_BY")  # fmt: skip


class Route:
    """One host: how it is reached, or why it cannot be."""

    __slots__ = ("error", "settings", "spec")

    def __init__(
        self, spec: HostSpec, settings: Optional[SshSettings], error: Optional[str]
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.error = error

    @property
    def resolved_by(self) -> List[str]:
        """The tools that decided, the inventory's first."""
        deciders = [] if self.spec.source == ARGUMENT else [self.spec.source]
        if self.settings is not None:
            deciders.append(self.settings.resolved_by)
        return deciders


def resolved_by(spec: HostSpec, settings: Optional[SshSettings]) -> List[str]:
    """Return the tools that decided how a host is reached, the inventory's first."""
    return Route(spec, settings, None).resolved_by


def resolve_routes(
    specs: Sequence[HostSpec],
    resolver: Resolver,
    *,
    accept_new: bool = False,
    accept_new_file: Optional[str] = None,
) -> List[Route]:
    """Resolve every host concurrently (ssh -G lookups are cached by argument).

    Each route is shown as the run would use it: with ``--accept-new`` and the
    file where sockstat records accepted keys (sshrun.HostKeys reads it too).
    """

    def job(spec: HostSpec) -> Route:
        if spec.local:
            return Route(spec, None, spec.problem)
        try:
            settings = with_run_options(
                resolver.resolve(spec), accept_new=accept_new, known=accept_new_file
            )
            return Route(spec, settings, None)
        except TransportError as err:
            return Route(spec, None, str(err))

    jobs = [lambda spec=spec: job(spec) for spec in specs]
    return run_jobs(
        jobs, RESOLVE_JOBS, interrupted=lambda i: Route(specs[i], None, "interrupted")
    )


def hop_json(settings: SshSettings) -> Dict[str, object]:
    """Return how one hop is reached, as JSON."""
    return {
        "name": settings.name,
        "address": settings.hostname,
        "port": settings.port,
        "user": settings.user,
        "proxy_command": settings.proxy_command,
        "identity_files": settings.identity_files,
        "identities_only": settings.identities_only,
        "known_hosts": settings.known_hosts,
        "host_key_alias": settings.host_key_alias,
        "strict_host_key_checking": settings.strict,
        "connect_timeout": settings.connect_timeout,
    }


def route_json(route: Route) -> Dict[str, object]:
    """Return one host's route as JSON."""
    spec, settings = route.spec, route.settings
    body: Dict[str, object] = {"target": spec.name, "local": spec.local}
    if settings is not None:
        body.update(hop_json(settings))
        del body["name"]
        body["jumps"] = [hop_json(hop) for hop in settings.jumps]
    body["groups"] = list(spec.groups)
    body["resolved_by"] = route.resolved_by
    body["error"] = route.error
    return body


def _hop(settings: SshSettings, *, first: bool) -> str:
    """Describe a hop: where and as whom; how it is reached when not plainly."""
    text = f"{settings.user}@{settings.address}"
    if first and settings.proxy_command:  # later hops are reached through the jump
        text += f" [ProxyCommand {settings.proxy_command}]"
    if settings.accept_new:
        text += " [accept-new]"
    return text


def _via(settings: SshSettings) -> str:
    hops = [_hop(j, first=i == 0) for i, j in enumerate(settings.jumps)]
    if not settings.jumps and settings.proxy_command:
        hops.append(f"ProxyCommand {settings.proxy_command}")
    return " -> ".join(hops)


def describe_route(settings: SshSettings, spec: HostSpec) -> str:
    """One line for ``-v``: where, as whom, through what, decided by what."""
    text = f"{settings.user}@{settings.address}"
    if _via(settings):
        text += f" via {_via(settings)}"
    deciders = ", ".join(resolved_by(spec, settings))
    return escape_text(f"{text}; {settings.policy}; resolved by {deciders}")


def _present(files: List[str]) -> str:
    present = [f for f in files if os.path.exists(f)]
    absent = len(files) - len(present)
    text = ",".join(present) or "-"
    return f"{text} (+{absent} absent)" if absent else text


def route_row(route: Route) -> List[str]:
    """One table row."""
    spec, settings = route.spec, route.settings
    deciders = ",".join(route.resolved_by) or "-"
    if settings is None:
        where = "local" if spec.local and not route.error else "-"
        error = f"ERROR: {route.error}" if route.error else "-"
        return [spec.name, where, "-", "-", error, "-", "-", "-", deciders]
    via = _via(settings)
    return [
        spec.name,
        settings.hostname,
        str(settings.port),
        settings.user,
        via or "direct",
        _present(settings.identity_files),
        _present(settings.known_hosts),
        "accept-new" if settings.accept_new else "known-only",
        deciders,
    ]


def render_routes(routes: Sequence[Route], out: TextIO, *, fmt: str, header: bool) -> None:
    """Write the routes as a table or JSON (the other formats write JSON lines)."""
    if fmt in ("json", "jsonl"):
        import json  # noqa: PLC0415

        bodies = [route_json(r) for r in routes]
        if fmt == "json":
            json.dump({"targets": bodies}, out, indent=1)
            out.write("\n")
        else:
            out.writelines(json.dumps(b) + "\n" for b in bodies)
        return
    rows = [[escape_text(cell) for cell in route_row(r)] for r in routes]
    if header:
        rows.insert(0, list(COLUMNS))
    if not rows:
        return
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    fmt_row = " ".join(f"%-{w}s" for w in widths[:-1]) + " %s\n"
    out.writelines(fmt_row % tuple(row) for row in rows)
