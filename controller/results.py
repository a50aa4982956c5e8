"""What a run produced: a status per target, the snapshots, and the exit code."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import List
from typing import Optional

from common.schema import Snapshot
from controller.status import Status

# Exit codes (design.md): the rest of the output is produced in every case.
EXIT_OK = 0  # every target answered
EXIT_PARTIAL = 1  # some targets failed
EXIT_USAGE = 2  # bad command line or configuration (a bad-target among them)
EXIT_NONE = 3  # no target answered
EXIT_OUTPUT = 74  # the output could not be written (sysexits.h EX_IOERR)


@dataclass
class TargetResult:
    """What one target (a host, or a zone of a host) answered."""

    host: str
    zone: str
    status: Status
    error: Optional[str] = None
    elapsed: float = 0.0  # seconds, as the controller measured it
    snapshot: Optional[Snapshot] = None

    @property
    def label(self) -> str:
        """The name used in every message about this target."""
        return f"{self.host}/{self.zone}"

    @property
    def failed(self) -> bool:
        """Whether the target should have answered and did not."""
        return self.status.failed


@dataclass
class FleetResult:
    """Every target of a run, answered or not, in a stable order."""

    targets: List[TargetResult] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 if no target failed, 3 if every surveyed target failed, 1 otherwise.

        2 (usage) when a target was refused for its name, user or port: the other
        targets are still surveyed and reported.
        """
        if any(t.status is Status.BAD_TARGET for t in self.targets):
            return EXIT_USAGE
        failed = sum(1 for t in self.targets if t.failed)
        if not failed:
            return EXIT_OK
        tried = sum(1 for t in self.targets if t.status is not Status.SKIPPED)
        return EXIT_NONE if failed == tried else EXIT_PARTIAL

    @property
    def failures(self) -> List[TargetResult]:
        """Targets that did not answer."""
        return [t for t in self.targets if t.failed]
