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

from common.format import format_endpoint
from common.format import proto_label
from common.schema import Proto
from common.schema import Record
from common.schema import Socket

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Dict
    from typing import FrozenSet
    from typing import List
    from typing import Optional
    from typing import Tuple

    # (kind, proto, local, remote, command): command is "" for listeners
    Key = Tuple[str, str, str, str, str]

LISTEN = "listen"
CONNECT = "connect"
ADDED, REMOVED, CHANGED = "added", "removed", "changed"
NO_COMMAND = "?"
UNBOUND_UNIX = frozenset({None, ""})


def _commands(sock: Socket) -> FrozenSet[str]:
    return frozenset(o.command or NO_COMMAND for o in sock.owners) or frozenset(
        {NO_COMMAND}
    )


def _is_listener(sock: Socket) -> bool:
    if sock.proto is Proto.TCP:
        return sock.state == "LISTEN"
    if sock.proto is Proto.UDP:
        return not sock.remote_port and bool(sock.local_port)
    return sock.path not in UNBOUND_UNIX and sock.peer is None and not sock.remote_port


def identities(sockets: Iterable[Socket]) -> Dict[Key, FrozenSet[str]]:
    """Return one target's identities, each with the commands holding it."""
    sockets = list(sockets)
    found: Dict[Key, FrozenSet[str]] = {}
    listening = {
        (s.proto, s.local_port)
        for s in sockets
        if s.proto is not Proto.UNIX and s.state in ("LISTEN", "UNCONN")
    }
    for sock in sockets:
        proto = proto_label(sock)
        if _is_listener(sock):
            if sock.proto is Proto.UNIX:
                local = sock.path or ""
            else:
                local = format_endpoint(sock.local_address, sock.local_port, sock.family)
            key: Key = (LISTEN, proto, local, "", "")
            found[key] = found.get(key, frozenset()) | _commands(sock)
        elif (
            sock.proto is not Proto.UNIX
            and sock.state == "ESTABLISHED"
            and sock.remote_port
            and (sock.proto, sock.local_port) not in listening
        ):
            remote = format_endpoint(sock.remote_address, sock.remote_port, sock.family)
            for command in _commands(sock):
                found[(CONNECT, proto, "", remote, command)] = frozenset({command})
    return found


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
