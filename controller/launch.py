"""The ``sockstat`` command: start a local listing's fd scan, then run the CLI.

A local listing's longest step is the /proc/*/fd scan, and it needs nothing of the
CLI: on Linux, when the command line can only be a listing of this host, the scan's
helper is forked first (agent/fdhelper.py start_early()) and runs on the other core
while the CLI imports its modules and parses its flags (~25 ms).  Guessing wrong
costs a forked scan nobody takes, never a different answer: collect_namespaces()
takes the helper when there is one, and the helper is ended otherwise.

Only the stdlib and controller/flags.py's table here, nothing more before the guess:
every import would delay it.
"""

from __future__ import annotations

import os
import sys

EXIT_INTERRUPTED = 130  # 128 + SIGINT, controller/cancel.py Cancellation.exit_code

TYPE_CHECKING = False  # typing is not imported at run time: start-up (issue #10)
if TYPE_CHECKING:
    from typing import NoReturn


def main() -> None:
    """Run sockstat (the console script's entry point)."""
    early = False
    try:
        # Inside the try, as every import: Ctrl-C anywhere from here is a quiet stop.
        from controller.flags import lists_this_host  # noqa: PLC0415

        early = sys.platform.startswith("linux") and lists_this_host(sys.argv[1:])
        if early:
            _start_early_scan()
        from controller.cli import main as run  # noqa: PLC0415

        run()
        status: str | int | None = 0
    except SystemExit as done:
        status = done.code
    except KeyboardInterrupt:
        # Ctrl-C while the CLI imports, before its own handlers: the same quiet
        # stop (128 + SIGINT, as after them) instead of a traceback.
        status = EXIT_INTERRUPTED
    finally:
        if early:
            from agent import fdhelper  # noqa: PLC0415 - imported by then, or not at all

            fdhelper.discard_early()  # if nothing took it: our own child, ended
    leave(status)


def _start_early_scan() -> None:
    """Fork the fd scan's helper before the CLI's imports; a cancelled run ends it."""
    from agent import fdhelper  # noqa: PLC0415 - before the CLI's imports

    fdhelper.start_early()
    from controller.cancel import RUN  # noqa: PLC0415 - after the fork

    RUN.register(fdhelper.discard_early)


def leave(status: str | int | None) -> NoReturn:
    """Exit once what is buffered is written, without the interpreter's teardown.

    The CLI has returned: every file, store and connection is closed, every worker
    thread joined.  What is left for the teardown is freeing each Socket and Owner
    one by one (~5 ms at 10,000 sockets) and the imported modules, memory the
    kernel takes back at once.  A status that is not a number (a message), or an
    output that cannot be flushed, exits the usual way, which reports it.
    """
    if isinstance(status, str):
        sys.exit(status)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(status)
    os._exit(status or 0)
