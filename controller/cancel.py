"""Stopping a run on SIGINT or SIGTERM: start nothing new, end what runs, keep what came.

The signal handler (main thread) marks the run cancelled and calls every registered
closer: local agents' process groups are killed, SSH transports and ProxyCommands
closed.  Workers see the mark, or the error their closed pipe or socket raises, and
end their target as ``interrupted``; what had already answered is still printed.
"""

from __future__ import annotations

import contextlib
import itertools
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from common.errors import TransportError
from controller.status import Status

TYPE_CHECKING = False  # typing is not imported at run time: start-up (issue #10)
if TYPE_CHECKING:
    from typing import Callable
    from typing import Dict
    from typing import Optional

# How long the main thread waits for workers to wind down once cancelled; targets
# still running after that are reported as interrupted anyway.
GRACE = 0.8
SIGNAL_NAMES = {int(signal.SIGINT): "SIGINT", int(signal.SIGTERM): "SIGTERM"}


class Interrupted(TransportError):
    """The run was cancelled by a signal while this target was being surveyed."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=Status.INTERRUPTED)


class Cancellation:
    """One run's cancelled mark and the closers that end what is still running."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: Optional[int] = None
        self._closers: Dict[int, Callable[[], None]] = {}
        self._ids = itertools.count()

    @property
    def cancelled(self) -> bool:
        """Whether a signal asked the run to stop."""
        return self.event.is_set()

    @property
    def reason(self) -> str:
        """The message of an interrupted target."""
        name = SIGNAL_NAMES.get(self.signum or 0, "a signal")
        return f"interrupted by {name} before this target answered"

    @property
    def exit_code(self) -> int:
        """128 + the signal's number, as shells report it (130, 143)."""
        return 128 + int(self.signum or signal.SIGINT)

    def check(self) -> None:
        """Raise Interrupted once the run is cancelled."""
        if self.event.is_set():
            raise Interrupted(self.reason)

    def register(self, closer: Callable[[], None]) -> int:
        """Call ``closer`` when the run is cancelled (at once if it already is)."""
        key = next(self._ids)
        self._closers[key] = closer
        if self.event.is_set():
            closer()
        return key

    def unregister(self, key: int) -> None:
        """Forget a closer: what it closes has ended by itself."""
        self._closers.pop(key, None)

    @contextlib.contextmanager
    def closing(self, closer: Callable[[], None]) -> Iterator[None]:
        """Register ``closer`` while the block runs."""
        key = self.register(closer)
        try:
            yield
        finally:
            self.unregister(key)

    def cancel(self, signum: int) -> None:
        """Mark the run cancelled and close everything registered (idempotent)."""
        if self.signum is None:
            self.signum = signum
        self.event.set()
        for closer in list(self._closers.values()):
            with contextlib.suppress(Exception):  # one failed close must not stop the rest
                closer()


RUN = Cancellation()  # a process runs one survey: its signal handlers cancel this


def install_handlers(run: Cancellation = RUN) -> None:
    """Cancel ``run`` on SIGINT and SIGTERM; a second signal exits at once."""

    def handle(signum: int, frame: Optional[FrameType]) -> None:
        if run.cancelled:
            raise SystemExit(run.exit_code)  # asked twice: stop waiting for workers
        run.cancel(signum)

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
