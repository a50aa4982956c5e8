"""Run a shipped agent through a command (zlogin, ssh...) and judge what came back."""

from __future__ import annotations

import logging
import time
from typing import Callable
from typing import List
from typing import Tuple

from common.decode import DEFAULT_LIMITS
from common.decode import Limits
from common.errors import SchemaError
from common.errors import TransportError
from common.format import escape_text
from controller import results
from controller.agentio import NO_TOOL_STATUS
from controller.agentio import AgentOutput
from controller.agentio import judge
from controller.cancel import RUN
from controller.cancel import Interrupted
from controller.results import BECOME_FAILED
from controller.results import ZONE_ENTRY_FAILED
from controller.results import ZONE_GONE
from controller.results import TargetResult
from controller.run import Clock
from controller.run import RunOptions
from controller.transport import Completed
from controller.transport import run_command

log = logging.getLogger(__name__)


# Runs the agent's command: (on_stdout, timeout) -> Completed; raises TransportError
# (or SshFailure) when the command cannot be run at all.
Runner = Callable[[Callable[[bytes], None], float], Completed]


def agent_job(
    host: str, zone: str, argv: List[str], stdin: bytes, options: RunOptions, clock: Clock
) -> Callable[[], TargetResult]:
    """Return a job running the agent locally through argv (zlogin), within the deadline."""

    def runner(on_stdout: Callable[[bytes], None], limit: float) -> Completed:
        return run_command(
            argv, stdin=stdin, on_stdout=on_stdout, timeout=limit, label=f"{host}/{zone}"
        )

    def job() -> TargetResult:
        if RUN.cancelled:
            return TargetResult(host, zone, results.INTERRUPTED, RUN.reason)
        left = clock.left()
        if left <= 0:
            return TargetResult(host, zone, results.TIMEOUT, "run deadline reached")
        limit = min(options.timeout, left)
        entered = run_agent(
            host, [zone], runner, limit, entry=argv[0], limits=options.limits
        )
        return entered[0]

    return job


def entry_failure(completed: Completed, entry: str) -> Tuple[str, str]:
    """Status and message when nothing came back: the hop into the target failed."""
    reason = completed.last_error or "no output"
    text = completed.stderr_tail.lower()
    if entry in ("sudo", "pfexec") or "sudo:" in text:
        return BECOME_FAILED, f"{entry} refused (exit {completed.returncode}): {reason}"
    return results.ZONE_ENTRY_FAILED, f"{entry} exited {completed.returncode}: {reason}"


def run_agent(
    host: str,
    zones: List[str],
    runner: Runner,
    timeout: float,
    *,
    entry: str,
    limits: Limits = DEFAULT_LIMITS,
) -> List[TargetResult]:
    """Run the agent once for one or more zones (in the order it reports them).

    Decodes its stream as it arrives and judges how it ended; every zone gets a
    result, named by the controller, whatever the agent claims.
    """
    label = f"{host}/{zones[0]}" if len(zones) == 1 else host
    output = AgentOutput(limits)
    clock = time.perf_counter()

    def fail(status: str, message: str) -> List[TargetResult]:
        elapsed = time.perf_counter() - clock
        return [TargetResult(host, zone, status, message, elapsed) for zone in zones]

    try:
        completed = runner(output.feed, timeout)
    except SchemaError as err:  # the command was stopped: its output is not ours
        output.error = err
        completed = Completed(None, "")
    except Interrupted as err:
        return fail(results.INTERRUPTED, str(err))
    except TransportError as err:
        return fail(results.ZONE_ENTRY_FAILED, str(err))
    elapsed = time.perf_counter() - clock
    if output.empty and completed.returncode not in (0, None, NO_TOOL_STATUS):
        return fail(*entry_failure(completed, entry))
    status, error, snapshots = judge(
        output, completed, timeout=timeout, expected=len(zones)
    )
    if error is not None:
        log.debug("%s: %s: %s", label, status, error)
    if not snapshots:
        return fail(status, error or "no snapshot")
    found = []
    for zone, snapshot in zip(zones, snapshots):
        snapshot.host, snapshot.zone = host, zone
        if snapshot.errors:
            message = escape_text(snapshot.errors[0])
            failed = ZONE_GONE if "no longer exists" in message else ZONE_ENTRY_FAILED
            found.append(TargetResult(host, zone, failed, message, elapsed))
        else:
            found.append(TargetResult(host, zone, status, error, elapsed, snapshot))
    return found
