"""What changed between two runs, keyed so that the morning mail is signal, not noise.

Pure: sockets in, changes out.  Each answered target's sockets become a set of
*identities* (README "What counts as a change"):

- a **listener** (TCP in LISTEN; UDP bound without a peer; a unix socket listening or
  bound to a path) is its protocol and local address and port (or path); what it is
  worth is the set of commands holding it, so a listener handed to another command
  is *changed* (``~``), a daemon restarted under a new pid is nothing;
- an **outgoing connection** (established, its local port not one the target listens
  on) is the command and the remote endpoint: the ephemeral local port is ignored,
  so a client that reconnects is nothing, a service talking to a new peer is a change;
- everything else is left out: connections *to* the target's listeners (its clients
  come and go; the listener stands for them), sockets closing down (TIME_WAIT, ...),
  TCP sockets bound but not listening, unnamed and connected unix sockets.

A target that did not answer this time is reported as "no answer" with its status,
never as every socket removed; it is compared again, with its last good run, once it
answers.
"""

from __future__ import annotations

from common.format import PROTO_LABELS
from common.format import format_endpoint
from common.schema import Family
from common.schema import Proto
from common.schema import Record
from common.schema import Socket
from controller.filters import is_loopback

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Dict
    from typing import FrozenSet
    from typing import List
    from typing import Optional
    from typing import Tuple

    from controller.filters import Filter

    # (kind, proto, local, remote, command): command is "" for listeners
    Key = Tuple[str, str, str, str, str]
    Identities = Dict[Key, FrozenSet[str]]  # each with the commands holding it

LISTEN = "listen"
CONNECT = "connect"
ADDED, REMOVED, CHANGED = "added", "removed", "changed"
NO_COMMAND = "?"
UNBOUND_UNIX = frozenset({None, ""})


def identities(sockets: Iterable[Socket]) -> Identities:
    """Return one target's identities, each with the commands holding it.

    Run on every socket of every target a history keeps (a million a night):
    written for speed, with the enum members and the sets of commands looked up
    once, not once a socket.
    """
    sockets = sockets if isinstance(sockets, (list, tuple)) else list(sockets)
    unix, tcp, udp = Proto.UNIX, Proto.TCP, Proto.UDP
    labels = PROTO_LABELS
    listening = {
        (s.proto, s.local_port)
        for s in sockets
        if s.state in ("LISTEN", "UNCONN") and s.proto is not unix
    }
    sets: Dict[Tuple[str, ...], FrozenSet[str]] = {}
    found: Identities = {}
    for sock in sockets:
        proto = sock.proto
        owners = sock.owners
        if len(owners) == 1:  # most sockets: no generator
            names: Tuple[str, ...] = (owners[0].command or NO_COMMAND,)
        else:
            names = tuple(o.command or NO_COMMAND for o in owners) or (NO_COMMAND,)
        commands = sets.get(names)
        if commands is None:
            commands = sets[names] = frozenset(names)
        if proto is tcp:
            listener = sock.state == "LISTEN"
        elif proto is udp:
            listener = not sock.remote_port and bool(sock.local_port)
        else:
            listener = sock.path not in UNBOUND_UNIX and sock.peer is None
        label = labels[proto, sock.family]
        if listener:
            if proto is unix:
                local = sock.path or ""
            else:
                local = format_endpoint(sock.local_address, sock.local_port, sock.family)
            key: Key = (LISTEN, label, local, "", "")
            known = found.get(key)
            found[key] = commands if known is None else known | commands
        elif (
            proto is not unix
            and sock.state == "ESTABLISHED"
            and sock.remote_port
            and (proto, sock.local_port) not in listening
        ):
            remote = format_endpoint(sock.remote_address, sock.remote_port, sock.family)
            for command in commands:
                found[(CONNECT, label, "", remote, command)] = frozenset((command,))
    return found


ALL_PROTOCOLS = frozenset(Proto)
INET_FAMILIES = frozenset({Family.INET, Family.INET6})
LABELS = {label: proto_family for proto_family, label in PROTO_LABELS.items()}


def _split(endpoint: str) -> Tuple[str, int]:
    """``addr:port`` or ``[addr]:port`` (``*`` for port 0) back into its parts."""
    address, _, port = endpoint.rpartition(":")
    return address.strip("[]"), int(port) if port.isdigit() else 0


def shown(filt: Filter, key: Key) -> bool:
    """Whether an identity is one the selection flags show (both runs alike).

    A listener is judged by its local endpoint, a connection by its remote one
    (its local port is ephemeral: not part of what it is).
    """
    kind, label, local, remote, _ = key
    proto, family = LABELS[label]
    if proto not in filt.protocols:
        return False
    if proto is Proto.UNIX:
        return filt.listening and filt.ports is None
    if family not in filt.families:
        return False
    if not (filt.listening if kind == LISTEN else filt.connected):
        return False
    address, port = _split(local if kind == LISTEN else remote)
    if filt.ports is not None and port not in filt.ports:
        return False
    return not (filt.hide_loopback and is_loopback(address))


def select_identities(
    found: Dict[Key, FrozenSet[str]], filt: Filter
) -> Dict[Key, FrozenSet[str]]:
    """Return the identities the selection flags show."""
    if (
        filt.listening and filt.connected and filt.ports is None
        and not filt.hide_loopback
        and filt.protocols == ALL_PROTOCOLS and filt.families == INET_FAMILIES
    ):  # fmt: skip
        return found  # every identity is shown
    return {key: value for key, value in found.items() if shown(filt, key)}


class Change(Record):
    """One line of the report: a listener or a connection added, removed or changed."""

    __slots__ = ("action", "before", "commands", "host", "key", "zone")

    def __init__(
        self,
        action: str,  # ADDED, REMOVED, CHANGED
        host: str,
        zone: str,
        key: Key,
        commands: FrozenSet[str],
        before: FrozenSet[str] = frozenset(),  # CHANGED: the commands it had
    ) -> None:
        self.action = action
        self.host = host
        self.zone = zone
        self.key = key
        self.commands = commands
        self.before = before

    def to_json(self) -> Dict[str, object]:
        """Return the documented JSON object of this change."""
        kind, proto, local, remote, _ = self.key
        item: Dict[str, object] = {
            "host": self.host,
            "zone": self.zone,
            "kind": kind,
            "proto": proto,
            "local": local or None,
            "remote": remote or None,
            "commands": sorted(self.commands),
        }
        if self.action == CHANGED:
            item["before"] = sorted(self.before)
        return item


def compare(
    host: str,
    zone: str,
    old: Dict[Key, FrozenSet[str]],
    new: Dict[Key, FrozenSet[str]],
) -> List[Change]:
    """Return the changes of one target, in a stable order."""
    changes = [Change(ADDED, host, zone, k, new[k]) for k in new.keys() - old.keys()]
    changes += [Change(REMOVED, host, zone, k, old[k]) for k in old.keys() - new.keys()]
    changes += [
        Change(CHANGED, host, zone, k, new[k], old[k])
        for k in new.keys() & old.keys()
        if new[k] != old[k]
    ]
    changes.sort(key=lambda c: (c.key, c.action))
    return changes


class TargetChange(Record):
    """How one target of this run compares: what it answered, against which run."""

    __slots__ = ("baseline", "error", "host", "note", "status", "zone")

    def __init__(
        self,
        host: str,
        zone: str,
        status: str,
        error: Optional[str],
        baseline: Optional[int],  # the run compared with, None when there is none
        note: str,  # compared, no answer, new, answers again
    ) -> None:
        self.host = host
        self.zone = zone
        self.status = status
        self.error = error
        self.baseline = baseline
        self.note = note

    def to_json(self) -> Dict[str, object]:
        """Return the documented JSON object of this target."""
        return {
            "host": self.host,
            "zone": self.zone,
            "status": self.status,
            "error": self.error,
            "baseline_run": self.baseline,
            "note": self.note,
        }


COMPARED, NO_ANSWER, NEW, ANSWERS_AGAIN = "compared", "no answer", "new", "answers again"


class Report(Record):
    """Every change of a run, and how each target was compared."""

    __slots__ = ("changes", "targets")

    def __init__(self, changes: List[Change], targets: List[TargetChange]) -> None:
        self.changes = changes
        self.targets = targets

    @property
    def changed(self) -> bool:
        """Whether there is anything to tell (a change, or a target not answering)."""
        return bool(self.changes) or any(t.note == NO_ANSWER for t in self.targets)

    def of(self, action: str) -> List[Change]:
        """Return the changes of one action."""
        return [c for c in self.changes if c.action == action]
