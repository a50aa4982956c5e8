"""Take one snapshot of this zone with the backend for this OS."""

from __future__ import annotations

import os
import socket
import sys
import time
from typing import Callable
from typing import List

from agent import __version__
from agent.query import Query
from common.errors import UnsupportedPlatform
from common.schema import Snapshot
from common.schema import Socket

Backend = Callable[[Query, Callable[[str], None]], List[Socket]]


def select_backend(platform: str = sys.platform) -> Backend:
    """Return the list_sockets() of the backend for this platform."""
    if platform.startswith("linux"):
        from agent import linux  # noqa: PLC0415 - only the backend for this OS

        return linux.list_sockets
    msg = f"platform {platform!r} is not supported"
    raise UnsupportedPlatform(msg)


def collect_snapshot(query: Query, *, zone: str = "global") -> Snapshot:
    """List this zone's sockets; ``zone`` is only what the agent believes it is."""
    started = time.time()
    clock = time.perf_counter()
    warnings: List[str] = []
    sockets = select_backend()(query, warnings.append)
    uname = os.uname()
    return Snapshot(
        host=socket.gethostname(),
        zone=zone,
        platform=sys.platform,
        kernel=f"{uname.sysname} {uname.release}",
        agent_version=__version__,
        time=started,
        elapsed=time.perf_counter() - clock,
        sockets=tuple(sockets),
        warnings=tuple(warnings),
    )
