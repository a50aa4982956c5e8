"""Jobs with bounded concurrency, a shared deadline, and a cancellation that stops them."""

from __future__ import annotations

import time

from controller.cancel import GRACE
from controller.cancel import RUN

TYPE_CHECKING = False  # typing is not imported at run time: start-up (issue #10)
if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Sequence
    from typing import TypeVar

    T = TypeVar("T")


class Clock:
    """The run's deadline, shared by every target."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds until the run's deadline."""
        return self.end - time.monotonic()


def run_jobs(
    jobs: Sequence[Callable[[], T]],
    workers: int,
    *,
    interrupted: Callable[[int], T],
    finished: Callable[[], None] | None = None,
) -> list[T]:
    """Run jobs with bounded concurrency; results in the jobs' order.

    Once the run is cancelled (controller/cancel.py), jobs not started never
    start, running ones get a short grace to wind down, and every job without a
    result by then is ``interrupted(index)``.  ``finished`` is called per job.
    """
    if len(jobs) == 1 and finished is None:  # no thread for the common case
        return [jobs[0]()]
    from concurrent.futures import FIRST_COMPLETED  # noqa: PLC0415 - only with threads
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415
    from concurrent.futures import wait  # noqa: PLC0415

    pool = ThreadPoolExecutor(max(1, workers))

    def run(job: Callable[[], T]) -> T:
        try:
            return job()
        finally:
            if finished is not None and not RUN.cancelled:
                finished()

    futures = [pool.submit(run, job) for job in jobs]
    try:
        pending = set(futures)
        while pending and not RUN.cancelled:
            _, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
        if pending:
            wait(pending, timeout=GRACE)
    finally:
        # Threads still blocked (a DNS lookup, a handshake) are not waited for.
        pool.shutdown(wait=not RUN.cancelled, cancel_futures=True)
    return [
        f.result() if f.done() and not f.cancelled() else interrupted(i)
        for i, f in enumerate(futures)
    ]
