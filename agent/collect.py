"""Take snapshots of this zone, or of the network namespaces asked for.

The one place where snapshots are made, whoever asks: ``python3 -m agent``, the
shipped agent in a zone or on a host, or the controller running the agent in its
own process.
"""

from __future__ import annotations

import _socket  # not socket.py: see agent/netlink.py
import os
import sys
import time
from collections.abc import Callable
from collections.abc import Sequence

from agent import __version__
from agent.query import Query
from common.errors import UnsupportedPlatform
from common.schema import AGENT_FAILED
from common.schema import HOLDERS
from common.schema import ZONE_ENTRY_FAILED
from common.schema import ZONE_GONE
from common.schema import Snapshot
from common.schema import Socket

# A backend lists the sockets and says where their owners come from (OWNER_SOURCES).
Backend = Callable[[Query, Callable[[str], None]], tuple[list[Socket], str]]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from agent.netns import Namespace


def select_backend(platform: str = sys.platform) -> Backend:
    """Return the list_sockets() of the backend for this platform."""
    if platform.startswith("linux"):
        from agent import linux  # noqa: PLC0415 - only the backend for this OS

        return linux.list_sockets
    if platform.startswith("sunos"):
        from agent import illumos  # noqa: PLC0415

        return illumos.list_sockets
    msg = f"platform {platform!r} is not supported"
    raise UnsupportedPlatform(msg)


def make_snapshot(
    zone: str,
    started: float,
    elapsed: float,
    sockets: Sequence[Socket] = (),
    warnings: Sequence[str] = (),
    error: str | None = None,
    failure: str | None = None,
    owners_from: str | None = None,
) -> Snapshot:
    """Return a snapshot of this host, described as the agent sees it.

    ``failure`` (a common.schema FAILURES code) says why ``error`` happened.
    """
    uname = os.uname()
    return Snapshot(
        host=_socket.gethostname(),
        zone=zone,
        platform=sys.platform,
        kernel=f"{uname.sysname} {uname.release}",
        agent_version=__version__,
        time=started,
        elapsed=elapsed,
        sockets=tuple(sockets),
        warnings=tuple(warnings),
        errors=() if error is None else (error,),
        failure=None if error is None else failure or AGENT_FAILED,
        owners_from=owners_from if error is None else None,
    )


def failed_snapshot(reason: str) -> Snapshot:
    """Return the snapshot of an agent that could not collect at all."""
    return make_snapshot("", time.time(), 0.0, error=reason, failure=AGENT_FAILED)


def collect_snapshot(query: Query, *, zone: str | None = None) -> Snapshot:
    """List this zone's sockets; ``zone`` is only what the agent believes it is."""
    if zone is None:
        zone = "global"
        if sys.platform.startswith("sunos"):
            from agent.illumos import current_zone  # noqa: PLC0415

            zone = current_zone()
    started = time.time()
    clock = time.perf_counter()
    warnings: list[str] = []
    sockets, owners_from = select_backend()(query, warnings.append)
    return make_snapshot(
        zone, started, time.perf_counter() - clock, sockets, warnings,
        owners_from=owners_from,
    )  # fmt: skip


def collect_netns_snapshots(query: Query, paths: Sequence[str]) -> list[Snapshot]:
    """Take one snapshot per Linux network namespace path, in the order given.

    ``-`` stands for the namespace the agent runs in.  A namespace that cannot be
    read yields a snapshot carrying the error and its FAILURES code.
    """
    from agent.netns import Namespace  # noqa: PLC0415 - Linux only

    namespaces = [
        Namespace(path, None if path == "-" else path, 0, _pid_of(path)) for path in paths
    ]
    return _namespace_snapshots(query, namespaces)


def collect_all_netns_snapshots(query: Query) -> list[Snapshot]:
    """Take one snapshot per network namespace this agent can see, named as listed.

    One run lists and dumps them all: for a remote host, one SSH round trip less
    than listing first (the controller still checks every name it is given).
    """
    from agent.netns import list_namespaces  # noqa: PLC0415 - Linux only

    return _namespace_snapshots(query, list_namespaces())


def _namespace_snapshots(query: Query, namespaces: Sequence[Namespace]) -> list[Snapshot]:
    from agent.linux import collect_namespaces  # noqa: PLC0415 - Linux only

    started = time.time()
    clock = time.perf_counter()
    results = collect_namespaces(query, namespaces)
    elapsed = time.perf_counter() - clock
    snapshots = []
    for r in results:
        failure = ZONE_GONE if r.gone else ZONE_ENTRY_FAILED
        snapshot = make_snapshot(
            r.namespace.name, started, elapsed, r.sockets, r.warnings, r.error, failure,
            HOLDERS,
        )  # fmt: skip
        snapshots.append(snapshot)
    return snapshots


def _pid_of(path: str) -> int | None:
    # /proc/<pid>/ns/net names its process: its /proc/<pid>/net is the fallback.
    parts = path.split("/")
    if len(parts) == 5 and parts[1] == "proc" and parts[2].isdigit():
        return int(parts[2])
    return None
