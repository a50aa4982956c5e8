"""Which host names, users and ports may reach an ssh command line, as OpenSSH decides.

OpenSSH refuses a host name or user with shell metacharacters before it can reach a
``%h``/``%r`` token (ssh_valid_hostname() and ssh_valid_ruser() in readconf.c,
applied to the command line, expanded values and ProxyJump hops); sockstat applies
the same rules to every name from arguments, inventories, ssh_config and jumps.
"""

from __future__ import annotations

from common.errors import TransportError
from common.format import escape_text
from controller.status import Status

# readconf.c: ssh_valid_hostname() rejects these, whitespace and control characters.
HOSTNAME_FORBIDDEN = frozenset("'`\"$\\;&<>|(){},")
# readconf.c: ssh_valid_ruser() rejects these and control characters; whitespace
# only when a "-" follows it, and a backslash only in the last position.
USER_FORBIDDEN = frozenset("'`\";&<>|(){}")
MAX_PORT = 65535


class BadTargetError(TransportError):
    """A host's name, user or port cannot be used (a usage error for that host)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=Status.BAD_TARGET)


def _control(char: str) -> bool:
    return char < " " or char == "\x7f"


def valid_hostname(name: str) -> bool:
    """Whether OpenSSH would accept this host name (readconf.c ssh_valid_hostname)."""
    if not name or name.startswith("-"):
        return False
    return not any(c in HOSTNAME_FORBIDDEN or c.isspace() or _control(c) for c in name)


def valid_user(user: str) -> bool:
    """Whether OpenSSH would accept this remote user (readconf.c ssh_valid_ruser)."""
    if not user or user.startswith("-") or user.endswith("\\"):
        return False
    for index, char in enumerate(user):
        if _control(char) or char in USER_FORBIDDEN:
            return False
        if char.isspace() and user[index + 1 : index + 2] == "-":
            return False
    return True


def check_hostname(name: str, *, what: str = "host name") -> str:
    """Return the name, or raise BadTargetError saying why OpenSSH would refuse it."""
    if not valid_hostname(name):
        msg = (
            f"invalid {what} {escape_text(name)!r}: OpenSSH refuses names that start "
            "with '-' or hold spaces, quotes or any of $ ` \\ ; & < > | ( ) { } ,"
        )
        raise BadTargetError(msg)
    return name


def check_user(user: str) -> str:
    """Return the user, or raise BadTargetError saying why OpenSSH would refuse it."""
    if not valid_user(user):
        msg = (
            f"invalid user {escape_text(user)!r}: OpenSSH refuses users that start "
            "with '-' or hold quotes or any of ` ; & < > | ( ) { }"
        )
        raise BadTargetError(msg)
    return user


def check_port(port: object, *, source: str = "port") -> int:
    """Return a port number 1-65535, or raise BadTargetError naming the bad value."""
    text = str(port).strip()
    if not text.isdigit() or not 0 < int(text) <= MAX_PORT:
        msg = f"invalid {source} {escape_text(text)!r}: expected a number 1-{MAX_PORT}"
        raise BadTargetError(msg)
    return int(text)
