"""The error types of sockstat; every OS or transport error is turned into one of these."""

from __future__ import annotations

from collections.abc import Sequence


class FleetError(Exception):
    """Root of every error sockstat reports to the user as one line."""


class TransportError(FleetError):
    """Reaching a target or running a command there failed; ``status`` says how.

    The one error every transport (local process, SSH, ProxyCommand, hop) raises;
    ``status`` is one of the controller's Status values (controller/status.py),
    kept as its string here because common/ never imports the controller.
    """

    def __init__(
        self,
        message: str,
        *,
        status: str,
        target: str = "",
        argv: Sequence[str] | None = None,
        returncode: int | None = None,
        stderr_tail: str = "",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.target = target
        self.argv = list(argv) if argv is not None else None
        self.returncode = returncode
        self.stderr_tail = stderr_tail


class ConfigError(FleetError):
    """A configuration file the user named (ssh_config...) cannot be used."""


class ParseError(FleetError, ValueError):
    """A table or text the OS produced could not be parsed."""

    def __init__(self, message: str, *, source: str = "", lineno: int | None = None):
        super().__init__(message)
        self.source = source
        self.lineno = lineno


class SchemaError(FleetError, ValueError):
    """An agent stream does not follow the snapshot schema."""


class LimitError(SchemaError):
    """An agent stream exceeds a bound on what one target may cost (``limit`` names it)."""

    def __init__(self, message: str, *, limit: str) -> None:
        super().__init__(message)
        self.limit = limit  # "sockets" or "bytes"


class UnsupportedPlatform(FleetError):
    """The agent has no backend for this operating system."""
