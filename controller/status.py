"""How a target ended: one vocabulary, the README's words as values."""

from __future__ import annotations

from enum import Enum


class Status(str, Enum):
    """A target's status; the value is what JSON, CSV and stderr show."""

    OK = "ok"
    FALLBACK = "fallback"  # answered by the zone's own ss/netstat: fewer columns
    SKIPPED = "skipped"  # not surveyed on purpose (a hardware VM, a zone not running)
    AGENT_ERROR = "agent-error"  # the agent failed or exited non-zero
    BAD_OUTPUT = "bad-output"  # what came back is not a valid snapshot stream
    TIMEOUT = "timeout"
    NO_PYTHON = "no-python"  # and no ss/netstat either
    ZONE_ENTRY_FAILED = "zone-entry-failed"  # zlogin refused, setns failed
    ZONE_GONE = "zone-gone"  # the namespace vanished between listing and entering
    UNREACHABLE = "unreachable"
    DNS = "dns"
    AUTH = "auth"
    HOSTKEY_UNKNOWN = "hostkey-unknown"
    HOSTKEY_CHANGED = "hostkey-changed"
    HOSTKEY_REVOKED = "hostkey-revoked"  # marked @revoked in known_hosts
    BECOME_FAILED = "become-failed"  # sudo -n / pfexec refused
    BAD_TARGET = "bad-target"  # a name, user, port or ProxyCommand OpenSSH would refuse
    INTERRUPTED = "interrupted"  # SIGINT/SIGTERM came before this target answered

    def __str__(self) -> str:
        return self.value

    @property
    def failed(self) -> bool:
        """Whether a target with this status should have answered and did not."""
        return self not in ANSWERED


ANSWERED = frozenset({Status.OK, Status.FALLBACK, Status.SKIPPED})
