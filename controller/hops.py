"""Hops: each wraps the argv of the layer inside it, as mitogen's ``via`` chains do.

A target's argv is folded from the agent outwards: ``[AGENT, args...]``, then
``Netns`` adds the agent's namespace arguments, ``Ship`` turns it into the
zero-install boot command, ``Zlogin`` enters a zone (upstream's zlogin and
SmartOS's alike), ``Become`` runs it as root.
A hop that enters something (a zone, another user) says so on stderr once it has
(a ``sockstat-entered:LABEL`` line), so a failure is put on the hop that refused,
never guessed from what its error message says.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import FrozenSet
from typing import List
from typing import Optional
from typing import Protocol
from typing import Sequence
from typing import Tuple

from controller.payload import Payload
from controller.status import Status
from controller.transport import AGENT
from controller.transport import ENTERED
from controller.zones import valid_zone_name

BECOME = {"sudo": ("sudo", "-n", "--"), "pfexec": ("pfexec",)}


class Hop(Protocol):
    """One layer between the runner and the agent."""

    @property
    def label(self) -> str:
        """How the hop is named in messages and in its stderr marker."""

    @property
    def entry_status(self) -> Optional[Status]:
        """The status of a target whose command this hop refused to enter, if any."""

    def wrap(self, argv: Sequence[str]) -> List[str]:
        """Return the argv that runs ``argv`` through this hop."""


def fold(hops: Sequence[Hop], argv: Sequence[str]) -> List[str]:
    """Apply hops, innermost first, to the agent's argv."""
    folded = list(argv)
    for hop in hops:
        folded = hop.wrap(folded)
    return folded


def refusing_hop(hops: Sequence[Hop], entered: FrozenSet[str]) -> Optional[Hop]:
    """Return the outermost entering hop that never said it entered, if any."""
    for hop in reversed(hops):
        if hop.entry_status is not None and hop.label not in entered:
            return hop
    return None


def _announce(label: str) -> str:
    return f"echo {ENTERED}{label} >&2"


def _require_agent(argv: Sequence[str], hop: str) -> Tuple[str, ...]:
    if not argv or argv[0] != AGENT:
        msg = f"{hop} wraps the agent's own argv, not {list(argv)[:2]!r}"
        raise ValueError(msg)
    return tuple(argv[1:])


@dataclass(frozen=True)
class Netns:
    """The agent's own arguments for several Linux network namespaces (one run)."""

    paths: Tuple[str, ...]
    label: str = "netns"
    entry_status: Optional[Status] = None  # the agent reports each namespace itself

    def wrap(self, argv: Sequence[str]) -> List[str]:
        """Append ``--netns PATH`` per namespace to the agent's argv."""
        args = _require_agent(argv, "Netns")
        return [AGENT, *args, *(arg for path in self.paths for arg in ("--netns", path))]


@dataclass(frozen=True)
class Ship:
    """The zero-install agent: a boot command that reads the payload from stdin."""

    payload: Payload
    label: str = "ship"
    entry_status: Optional[Status] = None  # no Python is the agent output's status

    def wrap(self, argv: Sequence[str]) -> List[str]:
        """Return the boot command for the agent's arguments."""
        return self.payload.argv(_require_agent(argv, "Ship"))


# Runs in the global zone: zlogin is handed one string where the zone has su, the
# words themselves where it has none (see Zlogin).
ZLOGIN_SCRIPT = (
    "zone=$1 root=$2 joined=$3; shift 3; "
    'if [ -e "$root/usr/bin/su" ] || [ -e "$root/bin/su" ]; then '
    'exec zlogin -Q "$zone" "$joined"; fi; '
    'exec zlogin -Q "$zone" "$@"'
)


@dataclass(frozen=True)
class Zlogin:
    """The hop into an illumos zone.

    zlogin(1) runs a command in two ways (usr/src/cmd/zlogin/zlogin.c prep_args()):
    upstream illumos joins its words with blanks, unquoted, and gives the string to
    ``su root -c``, so the zone's shell parses it; SmartOS (illumos-joyent) does the
    same where the zone has ``/usr/bin/su`` or ``/bin/su`` (quoting words that hold
    blanks when there are several), but in a zone without su it execs the words
    directly, and one joined string would be taken for a program's name.  So the
    global zone looks in the zone's root: with su, zlogin gets one string, which
    both parse the same; without, it gets the words, ``/bin/sh -c SCRIPT sh ARGV``.
    Verified by reading prep_args() in both trees and with tests/stubs/zlogin, which
    plays both.
    """

    zone: str
    root: str  # the zone's root file system in the global zone: ZONEPATH/root
    entry_status: Optional[Status] = Status.ZONE_ENTRY_FAILED

    def __post_init__(self) -> None:
        if not valid_zone_name(self.zone):
            msg = f"invalid zone name {self.zone!r}"
            raise ValueError(msg)

    @property
    def label(self) -> str:
        """``zone:NAME``."""
        return f"zone:{self.zone}"

    def wrap(self, argv: Sequence[str]) -> List[str]:
        """Return the global zone's command that runs ``argv`` in the zone."""
        joined = f"{_announce(self.label)}; exec {shlex.join(argv)}"
        words = ["/bin/sh", "-c", f'{_announce(self.label)}; exec "$@"', "sh", *argv]
        return ["/bin/sh", "-c", ZLOGIN_SCRIPT, "sh", self.zone, self.root, joined, *words]


@dataclass(frozen=True)
class Become:
    """Run as root with ``sudo -n`` (never prompts) or ``pfexec``."""

    method: str
    entry_status: Optional[Status] = Status.BECOME_FAILED

    def __post_init__(self) -> None:
        if self.method not in BECOME:
            msg = f"unknown become method {self.method!r}; expected sudo or pfexec"
            raise ValueError(msg)

    @property
    def label(self) -> str:
        """``sudo`` or ``pfexec``."""
        return self.method

    def wrap(self, argv: Sequence[str]) -> List[str]:
        """Return the prefixed argv, announcing itself once it runs as root."""
        script = f'{_announce(self.label)}; exec "$@"'
        return [*BECOME[self.method], "/bin/sh", "-c", script, "sh", *argv]


@dataclass(frozen=True)
class Probe:
    """On illumos, answer with zoneadm's listing instead of running what it wraps.

    Asking a remote host what it runs, then for its zones, then for its sockets
    would take three commands' round trips; this is one (controller/survey.py).
    """

    label: str = "probe"
    entry_status: Optional[Status] = None

    def wrap(self, argv: Sequence[str]) -> List[str]:
        """Return argv, behind a test of ``uname -s``."""
        script = (
            'if [ "$(uname -s)" = SunOS ]; then echo "#sockstat-zoneadm"; '
            'PATH="$PATH:/usr/sbin" exec zoneadm list -p; fi; exec "$@"'
        )
        return ["/bin/sh", "-c", script, "sh", *argv]
