"""known_hosts files as OpenSSH reads them: markers, hashed names, patterns, ports.

The format is sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT": an optional marker
(``@cert-authority`` or ``@revoked``), comma-separated host patterns (``*``, ``?``,
``!`` negation, ``[host]:port``, or one ``|1|salt|hash`` hashed name), the key type,
the base64 key, a comment.  paramiko's HostKeys cannot read the markers (one such
line fails every lookup), so the files are parsed here.  Host certificates cannot
be verified with paramiko: ``@cert-authority`` lines are kept aside and reported
once, never trusted and never fatal.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import hmac
import logging
from dataclasses import dataclass
from dataclasses import field
from typing import List
from typing import Optional
from typing import Set
from typing import Tuple

from common.format import escape_text

log = logging.getLogger(__name__)

CERT_AUTHORITY = "@cert-authority"
REVOKED = "@revoked"
HASH_MAGIC = "|1|"  # hostfile.h HASH_MAGIC: HMAC-SHA1 of the name, keyed by a salt


@dataclass(frozen=True)
class KnownKey:
    """One key line: its marker (None, CERT_AUTHORITY or REVOKED), patterns and key."""

    marker: Optional[str]
    patterns: str
    key_type: str
    blob: bytes
    where: str  # "file:line", for messages


@dataclass
class KnownHosts:
    """Every key line of some known_hosts files."""

    keys: List[KnownKey] = field(default_factory=list)
    unreadable: List[str] = field(default_factory=list)  # "file: reason"

    def lookup(self, host: str, port: int) -> HostEntry:
        """Return the keys recorded for this host, its CAs, and every revoked key."""
        name = host_key_name(host, port)
        entry = HostEntry(name)
        for known in self.keys:
            if known.marker == REVOKED:  # revoked for any host the line names
                if match_host_patterns(known.patterns, name):
                    entry.revoked.add(known.blob)
            elif match_host_patterns(known.patterns, name):
                if known.marker == CERT_AUTHORITY:
                    entry.authorities.append(known)
                else:
                    entry.keys.append((known.key_type, known.blob))
        return entry


@dataclass
class HostEntry:
    """What known_hosts says about one ``host`` or ``[host]:port``."""

    name: str
    keys: List[Tuple[str, bytes]] = field(default_factory=list)
    authorities: List[KnownKey] = field(default_factory=list)
    revoked: Set[bytes] = field(default_factory=set)

    @property
    def key_types(self) -> List[str]:
        """The recorded key types, in file order, without repeats."""
        return list(dict.fromkeys(kind for kind, _ in self.keys))


def host_key_name(host: str, port: int) -> str:
    """Return how known_hosts names a host: ``host``, or ``[host]:port`` off port 22."""
    return host if port == 22 else f"[{host}]:{port}"


def _match_one(pattern: str, name: str) -> bool:
    if pattern.startswith(HASH_MAGIC):
        parts = pattern[len(HASH_MAGIC) :].split("|")
        if len(parts) != 2:
            return False
        try:
            salt, digest = (base64.b64decode(p, validate=True) for p in parts)
        except (binascii.Error, ValueError):
            return False
        mine = hmac.new(salt, name.encode(), hashlib.sha1).digest()
        return hmac.compare_digest(mine, digest)
    # match.c match_pattern(): "*" and "?" only, case-insensitive for host names.
    return fnmatch.fnmatchcase(name.lower(), pattern.lower().replace("[", "[[]"))


def match_host_patterns(patterns: str, name: str) -> bool:
    """Whether a comma list of host patterns matches (match.c match_hostname()).

    A matching negated pattern (``!pat``) rejects the name whatever else matches.

    >>> match_host_patterns("*.example.com,!bad.example.com", "web.example.com")
    True
    >>> match_host_patterns("*.example.com,!bad.example.com", "bad.example.com")
    False
    """
    matched = False
    for pattern in patterns.split(","):
        negated = pattern.startswith("!")
        if _match_one(pattern[1:] if negated else pattern, name):
            if negated:
                return False
            matched = True
    return matched


def parse_known_hosts(text: str, *, source: str) -> Tuple[List[KnownKey], List[str]]:
    """Parse one known_hosts text; return its key lines and warnings for bad lines.

    A line that cannot be read is skipped with a warning naming it, as OpenSSH
    skips it: it must never make every other host fail.
    """
    keys: List[KnownKey] = []
    warnings: List[str] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        marker = None
        if fields[0].startswith("@"):
            marker = fields.pop(0)
            if marker not in (CERT_AUTHORITY, REVOKED):
                bad = escape_text(marker)
                warnings.append(f"{source}:{lineno}: unknown marker {bad!r}")
                continue
        where = f"{source}:{lineno}"
        if len(fields) < 3:
            warnings.append(f"{where}: not a known_hosts line")
            continue
        patterns, key_type, data = fields[:3]
        try:
            blob = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            warnings.append(f"{where}: bad base64 key")
            continue
        keys.append(KnownKey(marker, patterns, key_type, blob, where))
    return keys, warnings


def load_known_hosts(paths: List[str]) -> KnownHosts:
    """Read the files that exist; name the ones that cannot be read."""
    known = KnownHosts()
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except FileNotFoundError:
            continue
        except OSError as err:
            known.unreadable.append(f"{path}: {err.strerror or err}")
            continue
        keys, warnings = parse_known_hosts(text, source=path)
        known.keys += keys
        for warning in warnings:
            log.warning("known_hosts: %s (line skipped)", warning)
        for authority in (k for k in keys if k.marker == CERT_AUTHORITY):
            log.warning(
                "known_hosts: %s: @cert-authority line not used: sockstat cannot verify "
                "host certificates (hosts it vouches for need their own key line)",
                authority.where,
            )
    return known
