"""What the user asked for, built once by the command line and read by every layer."""

from __future__ import annotations

import os
from dataclasses import dataclass
from dataclasses import field
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple

from agent.query import Query
from common.decode import DEFAULT_LIMITS
from common.decode import Limits
from controller.inventory import HostSpec
from controller.zones import select_zones

DEFAULT_ACCEPT_NEW_FILE = "~/.ssh/known_hosts.sockstat"


@dataclass(frozen=True)
class ZoneSelection:
    """-Z (every zone) and -z PATTERN: which zones of each host to survey."""

    every: bool = False  # -Z
    patterns: Tuple[str, ...] = ()  # -z, shell-style globs

    @property
    def enabled(self) -> bool:
        """Whether zones are surveyed one by one (else only the host's own zone)."""
        return self.every or bool(self.patterns)

    def select(self, names: Sequence[str]) -> List[str]:
        """Return the names chosen, in their order (ZoneSelectionError if none match)."""
        return select_zones(names, list(self.patterns) if self.patterns else None)


@dataclass(frozen=True)
class SshOptions:
    """How to reach hosts: ssh_config, host-key policy, privilege escalation."""

    config_path: Optional[str] = None
    accept_new: bool = False
    accept_new_file: str = field(
        default_factory=lambda: os.path.expanduser(DEFAULT_ACCEPT_NEW_FILE)
    )
    become: Optional[str] = None  # "sudo" or "pfexec"


@dataclass(frozen=True)
class SurveyRequest:
    """One run: what to collect, where, how many at once, and within what limits."""

    query: Query = field(default_factory=Query)
    zones: ZoneSelection = field(default_factory=ZoneSelection)
    hosts: Optional[Tuple[HostSpec, ...]] = None  # None: this host only
    jobs: int = 8  # zones surveyed at once on one host
    host_jobs: int = 8  # hosts surveyed at once
    timeout: float = 30.0  # seconds for one target
    deadline: float = 300.0  # seconds for the whole run
    limits: Limits = field(default_factory=lambda: DEFAULT_LIMITS)
    ssh: SshOptions = field(default_factory=SshOptions)
