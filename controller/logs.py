"""sockstat's messages on stderr: one escaped line each, logging loaded when needed.

Most runs print nothing on stderr, and importing logging (with traceback, string
and threading) was a tenth of an idle run's start-up (issue #10): it is imported
when the first message is written, or at once with -v, or by a run that uses a
library that logs (paramiko).
"""

from __future__ import annotations

import sys

from common.format import escape_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging

_levels: list[int] = [30]  # logging.WARNING, until configure() says otherwise
_ready: list[bool] = [False]


def configure(verbose: int, quiet: int, *, now: bool = False) -> None:
    """Record the level -v/-q ask for; set logging up at once if ``now`` or -v."""
    _levels[0] = max(10, min(30 + 10 * (quiet - verbose), 50))  # DEBUG..CRITICAL
    if now or verbose:
        _setup()


def get(name: str) -> logging.Logger:
    """Return the named logger, setting logging up on first use."""
    _setup()
    import logging  # noqa: PLC0415 - loaded by _setup() already

    return logging.getLogger(name)


def debug_enabled() -> bool:
    """Whether DEBUG lines are shown (never true before logging is set up)."""
    return _ready[0] and _levels[0] <= 10


def warnings_enabled() -> bool:
    """Whether WARNING lines are shown (-q hides them), without importing logging."""
    return _levels[0] <= 30


def _setup() -> None:
    if _ready[0]:
        return
    import logging  # noqa: PLC0415 - see the module's docstring

    class SafeFormatter(logging.Formatter):
        """One line per record, every control character escaped.

        Messages quote what zones and hosts said (warnings, stderr lines, names):
        an escape sequence, a carriage return or a newline with a fake
        ``sockstat:`` line after it must reach the terminal as visible text.
        """

        def format(self, record: logging.LogRecord) -> str:
            line = "sockstat: " + escape_text(record.getMessage())
            if record.exc_info:  # only logged at DEBUG (-vv), for bug reports
                trace = self.formatException(record.exc_info)
                line += "".join(
                    f"\nsockstat:   {escape_text(t)}" for t in trace.splitlines()
                )
            return line

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SafeFormatter())
    logging.basicConfig(level=_levels[0], handlers=[handler])
    # paramiko logs whole tracebacks (and the server's banner text) for failures
    # sockstat already reports as a host status in one line.
    logging.getLogger("paramiko").setLevel(logging.CRITICAL + 1)
    _ready[0] = True
