"""What the user asked for, built once by the command line and read by every layer.

Slotted records, not dataclasses: the dataclasses module (with the inspect module it
imports) was a tenth of an idle run's start-up (issue #10).
"""

from __future__ import annotations

import os

from agent.query import Query
from common.errors import FleetError
from common.limits import DEFAULT_LIMITS
from common.limits import Limits
from common.schema import Record

TYPE_CHECKING = False  # typing is not imported at run time: start-up (issue #10)
if TYPE_CHECKING:
    from collections.abc import Sequence

    from controller.hosts import HostSpec

DEFAULT_ACCEPT_NEW_FILE = "~/.ssh/known_hosts.sockstat"
# Zones are bound by CPU (each runs an agent on the host's cores); hosts by round
# trips, which cost the controller almost nothing while it waits: 50 hosts 200 ms
# away took 12.8 s eight at a time and 3-4 s all at once (bench/RESULTS.md).
DEFAULT_JOBS = 8
DEFAULT_HOST_JOBS = 64


class ZoneSelectionError(FleetError):
    """-z named no existing zone."""


def select_zones(names: Sequence[str], patterns: Sequence[str] | None) -> list[str]:
    """Return the names matched by shell-style patterns (all when None), in order.

    Raises ZoneSelectionError naming the zones that exist when a pattern matches none.
    """
    if patterns is None:
        return list(names)
    import fnmatch  # noqa: PLC0415 - -z only

    chosen = set()
    for pattern in patterns:
        matched = fnmatch.filter(names, pattern)
        if not matched:
            known = ", ".join(names) or "none"
            msg = f"no zone matches {pattern!r}; zones here: {known}"
            raise ZoneSelectionError(msg)
        chosen.update(matched)
    return [name for name in names if name in chosen]


class ZoneSelection(Record):
    """-Z (every zone) and -z PATTERN: which zones of each host to survey."""

    __slots__ = ("every", "patterns")

    def __init__(self, every: bool = False, patterns: tuple[str, ...] = ()) -> None:
        self.every = every  # -Z
        self.patterns = patterns  # -z, shell-style globs

    @property
    def enabled(self) -> bool:
        """Whether zones are surveyed one by one (else only the host's own zone)."""
        return self.every or bool(self.patterns)

    def select(self, names: Sequence[str]) -> list[str]:
        """Return the names chosen, in their order (ZoneSelectionError if none match)."""
        return select_zones(names, list(self.patterns) if self.patterns else None)


class SshOptions(Record):
    """How to reach hosts: ssh_config, host-key policy, privilege escalation."""

    __slots__ = ("accept_new", "accept_new_file", "become", "config_path")

    def __init__(
        self,
        config_path: str | None = None,
        accept_new: bool = False,
        accept_new_file: str | None = None,
        become: str | None = None,  # "sudo" or "pfexec"
    ) -> None:
        self.config_path = config_path
        self.accept_new = accept_new
        self.accept_new_file = accept_new_file or os.path.expanduser(
            DEFAULT_ACCEPT_NEW_FILE
        )
        self.become = become


class SurveyRequest(Record):
    """One run: what to collect, where, how many at once, and within what limits."""

    __slots__ = (
        "deadline",
        "host_jobs",
        "hosts",
        "jobs",
        "limits",
        "query",
        "ssh",
        "timeout",
        "zones",
    )

    def __init__(
        self,
        query: Query | None = None,
        zones: ZoneSelection | None = None,
        hosts: tuple[HostSpec, ...] | None = None,  # None: this host only
        jobs: int = DEFAULT_JOBS,  # zones surveyed at once on one host
        host_jobs: int = DEFAULT_HOST_JOBS,  # hosts surveyed at once
        timeout: float = 30.0,  # seconds for one target
        deadline: float = 300.0,  # seconds for the whole run
        limits: Limits = DEFAULT_LIMITS,
        ssh: SshOptions | None = None,
    ) -> None:
        self.query = query or Query()
        self.zones = zones or ZoneSelection()
        self.hosts = hosts
        self.jobs = jobs
        self.host_jobs = host_jobs
        self.timeout = timeout
        self.deadline = deadline
        self.limits = limits
        self.ssh = ssh or SshOptions()
