"""``sockstat --check``: this zone's listing beside the OS's own tool, differences shown.

The way any user can prove the backend right on their machine, and paste the proof
into a bug report: the platform, release and backend details first, then one line per
difference, then a summary.  Sockets come and go while two tools look, so sockstat
lists twice, before and after the OS tool: an endpoint is *missing* only if neither
of our listings has it, and *extra* only if both have it and the tool does not.

Compared: TCP and UDP endpoints (protocol, local and remote address and port; any
address is ``*`` on both sides, since tools print the wildcard differently), and the
pids holding each one when sockstat found every holder (Linux; illumos as root).
Where it could only name the process that *created* a socket (illumos without root:
an accepted connection's creator is its listener's process) while ``netstat -u``
names those that *hold* it, owner differences are printed as notes and do not fail
the check.  netstat lists a dual-stack socket under IPv4 and IPv6, sockstat once
(agent/mib2.py): a wildcard endpoint counts once on both sides.

When the listings differ, the report ends with what to send with it.
"""

from __future__ import annotations

import os
import platform
import socket
import struct
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from typing import Dict
from typing import List
from typing import Optional
from typing import Set
from typing import TextIO
from typing import Tuple

from agent import __version__
from agent.collect import collect_snapshot
from agent.query import Query
from common.errors import FleetError
from common.format import escape_text
from common.schema import HOLDERS
from common.schema import Proto
from common.schema import Snapshot
from common.schema import Socket

# (proto, local address, local port, remote address, remote port)
Key = Tuple[str, str, int, str, int]
TOOL_TIMEOUT = 60.0
EXIT_AGREE = 0
EXIT_DIFFER = 1
EXIT_CANNOT_CHECK = 3
QUERY = Query(frozenset({Proto.TCP, Proto.UDP}))
_ANY = {None, "0.0.0.0", "::"}  # noqa: S104 - the wildcard, as tools print it


class OsTool:
    """The OS's own listing: the command that produced it and the sockets parsed."""

    def __init__(self, command: str, sockets: List[Socket], owners: bool) -> None:
        self.command = command
        self.sockets = sockets
        self.owners = owners  # whether the tool names processes


def _address(address: Optional[str]) -> str:
    if address in _ANY:
        return "*"
    assert address is not None  # noqa: S101 - narrowed by _ANY
    address = address.split("%", 1)[0]
    if ":" in address:  # one spelling of each IPv6 address
        try:
            return socket.inet_ntop(
                socket.AF_INET6, socket.inet_pton(socket.AF_INET6, address)
            )
        except OSError:
            return address
    return address


def endpoint_key(sock: Socket) -> Key:
    """Return what identifies a socket across tools."""
    return (
        sock.proto.value,
        _address(sock.local_address),
        sock.local_port or 0,
        _address(sock.remote_address if sock.remote_port else None),
        sock.remote_port or 0,
    )


def _pids(sockets: Iterable[Socket]) -> Dict[Key, Set[int]]:
    pids: Dict[Key, Set[int]] = {}
    for sock in sockets:
        pids.setdefault(endpoint_key(sock), set()).update(o.pid for o in sock.owners)
    return pids


class Comparison:
    """Differences between sockstat's two listings and the OS tool's one."""

    def __init__(
        self,
        before: List[Socket],
        tool: OsTool,
        after: List[Socket],
        *,
        strict_owners: bool,
        wildcards_once: bool = False,
    ) -> None:
        ours_before = _count(before, wildcards_once)
        ours_after = _count(after, wildcards_once)
        theirs = _count(tool.sockets, wildcards_once)
        self.compared = sum(theirs.values())
        # Missing: the tool has it, neither of our listings does; extra: both of
        # ours have it, the tool does not.  Counters keep SO_REUSEPORT twins apart.
        self.missing = sorted((theirs - (ours_before | ours_after)).elements())
        self.extra = sorted(((ours_before & ours_after) - theirs).elements())
        self.owner_diffs: List[Tuple[Key, Set[int], Set[int]]] = []
        self.strict_owners = strict_owners
        if tool.owners:
            ours_pids, their_pids = _pids(before + after), _pids(tool.sockets)
            for key in sorted(set(ours_pids) & set(their_pids)):
                if not their_pids[key] and not strict_owners:
                    continue
                if ours_pids[key] != their_pids[key]:
                    self.owner_diffs.append((key, ours_pids[key], their_pids[key]))

    @property
    def agree(self) -> bool:
        """Whether the listings agree (owner notes on illumos do not count)."""
        owners = self.owner_diffs if self.strict_owners else []
        return not (self.missing or self.extra or owners)


def _count(sockets: Iterable[Socket], wildcards_once: bool) -> Counter[Key]:
    counts = Counter(endpoint_key(s) for s in sockets)
    if wildcards_once:  # 0.0.0.0 and :: both print as "*": one endpoint, not two
        for key in counts:
            if key[1] == "*" and key[3] == "*":
                counts[key] = 1
    return counts


def _show(key: Key) -> str:
    proto, laddr, lport, raddr, rport = key

    def endpoint(address: str, port: int) -> str:
        shown = f"[{address}]" if ":" in address else address
        return f"{shown}:{port or '*'}"

    return f"{proto:4} {endpoint(laddr, lport):<28} {endpoint(raddr, rport)}"


def _run_tool(argv: List[str]) -> Optional[str]:
    """Return the tool's stdout, None if it is missing or fails."""
    try:
        done = subprocess.run(argv, capture_output=True, timeout=TOOL_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.decode("utf-8", "backslashreplace")


def os_tool(system: str = sys.platform) -> OsTool:
    """List this zone's TCP and UDP sockets with the OS's tool, parsed."""
    if system.startswith("linux"):
        from controller.ss import parse_ss  # noqa: PLC0415

        text = _run_tool(["ss", "-tuanpe"])
        if text is None:
            msg = "cannot run `ss -tuanpe` (iproute2) to compare with"
            raise FleetError(msg)
        return OsTool("ss -tuanpe", parse_ss(text, source="ss -tuanpe"), owners=True)
    if system.startswith("sunos"):
        from controller.netstat import parse_netstat  # noqa: PLC0415

        for argv, owners in ((["netstat", "-anu"], True), (["netstat", "-an"], False)):
            text = _run_tool(argv)
            if text is not None:
                command = " ".join(argv)
                return OsTool(command, parse_netstat(text, source=command), owners)
        msg = "cannot run `netstat -anu` or `netstat -an` to compare with"
        raise FleetError(msg)
    msg = f"--check has no OS tool to compare with on {system!r}"
    raise FleetError(msg)


def describe_backend(system: str = sys.platform) -> str:
    """Return what a bug report needs to know about the backend on this system."""
    if system.startswith("sunos"):
        from agent.illumos import read_tables  # noqa: PLC0415

        sizes, _ = read_tables(QUERY)
        return f"MIB2 via /dev/arp, entry sizes: {sizes}"
    if os.environ.get("SOCKSTAT_PROC_NET"):
        return "/proc/net text (SOCKSTAT_PROC_NET is set)"
    return "NETLINK_SOCK_DIAG"


def _listing() -> Snapshot:
    snapshot = collect_snapshot(QUERY)
    snapshot.sockets = tuple(s for s in snapshot.sockets if s.proto is not Proto.UNIX)
    return snapshot


def _not_listed_by(tool: str, sockets: List[Socket]) -> Tuple[List[Socket], int]:
    """Drop what the tool never shows: ss's "all" leaves out bound-only TCP sockets."""
    if not tool.startswith("ss "):
        return sockets, 0
    kept = [s for s in sockets if s.state != "BOUND"]
    return kept, len(sockets) - len(kept)


def run_check(out: TextIO) -> int:
    """Compare, print the report, and return the exit code."""
    uname = os.uname()
    out.write(
        f"sockstat {__version__} --check on {escape_text(uname.nodename)}: "
        f"{uname.sysname} {uname.release} {escape_text(uname.version)} ({uname.machine}), "
        f"Python {platform.python_version()} ({8 * struct.calcsize('P')}-bit)\n"
    )
    try:
        out.write(f"backend: {describe_backend()}\n")
        first = _listing()
        tool = os_tool()
        second = _listing()
    except (FleetError, OSError) as err:
        reason = str(err) if isinstance(err, FleetError) else f"{err.strerror or err}"
        print(f"sockstat: cannot check: {escape_text(reason)}", file=sys.stderr)
        return EXIT_CANNOT_CHECK
    strict = first.owners_from == HOLDERS and second.owners_from == HOLDERS
    before, skipped = _not_listed_by(tool.command, list(first.sockets))
    after, _ = _not_listed_by(tool.command, list(second.sockets))
    result = Comparison(
        before, tool, after, strict_owners=strict,
        wildcards_once=tool.command.startswith("netstat"),
    )  # fmt: skip
    out.write(f"compared with: {tool.command}\n")
    out.write(f"owners: {_owners_label(first.owners_from)}\n")
    if skipped:
        out.write(
            f"not compared: {skipped} bound-only TCP sockets ({tool.command.split()[0]} -a "
            "does not list them)\n"
        )
    for key in result.missing:
        out.write(f"missing  {_show(key)}  (listed by {tool.command}, not by sockstat)\n")
    for key in result.extra:
        out.write(f"extra    {_show(key)}  (listed by sockstat, not by {tool.command})\n")
    label = "owners  " if strict else "note    "
    for key, ours, theirs in result.owner_diffs:
        out.write(
            f"{label} {_show(key)}  sockstat pids {_pid_list(ours)}, "
            f"{tool.command} pids {_pid_list(theirs)}\n"
        )
    verdict = "agree" if result.agree else "DIFFER"
    notes = "" if strict else f", {len(result.owner_diffs)} owner notes (creator vs holder)"
    owner_count = f", {len(result.owner_diffs)} with other owners" if strict else notes
    counts = f"{len(result.missing)} missing, {len(result.extra)} extra{owner_count}"
    out.write(
        f"summary: {result.compared} endpoints from {tool.command}, {counts}: {verdict}\n"
    )
    if not result.agree:
        out.write(what_to_send(tool.command))
    return EXIT_AGREE if result.agree else EXIT_DIFFER


def what_to_send(command: str) -> str:
    """Say what a bug report about a difference needs, beyond this report."""
    return (
        "to report this difference, send this whole output together with, taken right "
        f"after it: `{command}`, `sockstat --format json -P tcp,udp` and `uname -a`; "
        "differences that last across two runs are the ones that matter\n"
    )


def _owners_label(source: Optional[str]) -> str:
    if source == HOLDERS:
        return "every process holding each socket (compared)"
    return "the process that created each socket (differences are notes)"


def _pid_list(pids: Set[int]) -> str:
    return ",".join(map(str, sorted(pids))) or "none"
