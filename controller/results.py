"""What a run produced: a status per target, the snapshots, and the exit code."""

from __future__ import annotations

from common.schema import Record
from controller.status import Status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from common.schema import Snapshot

# Exit codes (design.md): the rest of the output is produced in every case.
EXIT_OK = 0  # every target answered
EXIT_PARTIAL = 1  # some targets failed
EXIT_USAGE = 2  # bad command line or configuration (a bad-target among them)
EXIT_NONE = 3  # no target answered
EXIT_CHANGES = 4  # --diff found changes, and every target answered
EXIT_OUTPUT = 74  # the output or the history could not be written (sysexits.h EX_IOERR)
EXIT_BUSY = 75  # another run holds the history's lock (sysexits.h EX_TEMPFAIL)


class TargetResult(Record):
    """What one target (a host, or a zone of a host) answered.

    A slotted record, not a dataclass: the dataclasses module (with the inspect
    module it imports) would be a tenth of an idle run's start-up (issue #10).
    """

    __slots__ = ("elapsed", "error", "host", "resolved_by", "snapshot", "status", "zone")

    def __init__(
        self,
        host: str,
        zone: str,
        status: Status,
        error: str | None = None,
        elapsed: float = 0.0,  # seconds, as the controller measured it
        snapshot: Snapshot | None = None,
    ) -> None:
        self.host = host
        self.zone = zone
        self.status = status
        self.error = error
        self.elapsed = elapsed
        self.snapshot = snapshot
        # The tools that decided how the host was reached (ssh -G, ansible-inventory
        # ...); empty for this host's own zones.
        self.resolved_by: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """The name used in every message about this target."""
        return f"{self.host}/{self.zone}"

    @property
    def failed(self) -> bool:
        """Whether the target should have answered and did not."""
        return self.status.failed


class FleetResult(Record):
    """Every target of a run, answered or not, in a stable order."""

    __slots__ = ("targets",)

    def __init__(self, targets: list[TargetResult] | None = None) -> None:
        self.targets = targets if targets is not None else []

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
    def failures(self) -> list[TargetResult]:
        """Targets that did not answer."""
        return [t for t in self.targets if t.failed]
