"""Run a shipped agent through a command (zlogin, ssh...) and judge what came back."""

from __future__ import annotations

import logging
import time
from typing import Callable
from typing import List

from common.errors import SchemaError
from common.errors import TransportError
from common.format import escape_text
from controller import results
from controller.agentio import NO_TOOL_STATUS
from controller.agentio import AgentOutput
from controller.agentio import judge
from controller.results import TargetResult
from controller.run import Clock
from controller.transport import Completed
from controller.transport import run_command

log = logging.getLogger(__name__)


def agent_job(
    host: str, zone: str, argv: List[str], stdin: bytes, timeout: float, clock: Clock
) -> Callable[[], TargetResult]:
    """Return a job running the agent for one target within the run's deadline."""

    def job() -> TargetResult:
        left = clock.left()
        if left <= 0:
            return TargetResult(host, zone, results.TIMEOUT, "run deadline reached")
        return run_agent(host, zone, argv, stdin, min(timeout, left))

    return job


def run_agent(
    host: str, zone: str, argv: List[str], stdin: bytes, timeout: float
) -> TargetResult:
    """Run the agent through argv, decode what it says, and judge how it ended."""
    label = f"{host}/{zone}"
    output = AgentOutput()
    clock = time.perf_counter()
    try:
        completed = run_command(
            argv, stdin=stdin, on_stdout=output.feed, timeout=timeout, label=label
        )
    except SchemaError as err:  # the command was killed: its output is not ours
        output.error = err
        completed = Completed(None, "")
    except TransportError as err:
        elapsed = time.perf_counter() - clock
        return TargetResult(host, zone, results.ZONE_ENTRY_FAILED, str(err), elapsed)
    elapsed = time.perf_counter() - clock
    if output.empty and completed.returncode not in (0, None, NO_TOOL_STATUS):
        # Nothing came from inside: entering the zone failed (zlogin's own error).
        tail = completed.stderr_tail.splitlines()
        reason = escape_text(tail[-1]) if tail else "no output"
        message = f"{argv[0]} exited {completed.returncode}: {reason}"
        return TargetResult(host, zone, results.ZONE_ENTRY_FAILED, message, elapsed)
    status, error, snapshots = judge(output, completed, timeout=timeout)
    snapshot = snapshots[0] if snapshots else None
    if snapshot is not None:
        snapshot.host, snapshot.zone = host, zone
    if error is not None:
        log.debug("%s: %s: %s", label, status, error)
    return TargetResult(host, zone, status, error, elapsed, snapshot)
