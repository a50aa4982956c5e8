"""Ansible host patterns (``--limit``), chosen as inventory/manager.py chooses them.

``web:&prod:!web1`` is split on ``,`` (or ``:`` when the whole is not one address),
then applied as Ansible does whatever the order written: every plain pattern
first (a union), then each ``&`` (an intersection), then each ``!`` (removed).
One pattern is a host or group name, a shell glob, ``~regex`` (matched from the
start, as re.match), and may end in a subscript: ``web[0]``, ``web[-1]``,
``web[0:2]`` (end included), ``web[1:]``.  A group matched by name brings all its
hosts; a glob or regex also matches host names.
"""

from __future__ import annotations

import fnmatch
import re
from typing import List
from typing import Optional
from typing import Tuple

from controller.inventory import Inventory
from controller.inventory import InventoryError
from controller.inventory import parse_address

# inventory/manager.py PATTERN_WITH_SUBSCRIPT
_SUBSCRIPT = re.compile(r"(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]\Z")
_COLON_LIST = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")


def split_host_pattern(pattern: str) -> List[str]:
    """Split a list of patterns as inventory/manager.py does.

    >>> split_host_pattern("web:!web1:&prod")
    ['web', '!web1', '&prod']
    >>> split_host_pattern("fe80::1")
    ['fe80::1']
    """
    if "," in pattern:
        words = pattern.split(",")
    else:
        try:
            parse_address(pattern)
            words = [pattern]
        except ValueError:
            words = _COLON_LIST.findall(pattern)
    return [w.strip() for w in words if w.strip()]


def limit_patterns(limit: str) -> List[str]:
    """Split a --limit; ``@FILE`` stands for the patterns in FILE, one a line.

    As manager.py subset() reads it; a missing file is an error.
    """
    words: List[str] = []
    for word in split_host_pattern(limit):
        if not word.startswith("@"):
            words.append(word)
            continue
        try:
            with open(word[1:], encoding="utf-8") as f:
                words += [line.strip() for line in f.read().split("\n")]
        except (OSError, UnicodeDecodeError) as err:
            msg = f"cannot read limit file {word[1:]}: {getattr(err, 'strerror', err)}"
            raise InventoryError(msg) from None
    return [w for w in words if w]


def order_patterns(patterns: List[str]) -> List[str]:
    """Plain patterns, then ``&``, then ``!`` (``all`` when there is no plain one)."""
    plain = [p for p in patterns if p[0] not in "!&"]
    both = [p for p in patterns if p[0] == "&"]
    excluded = [p for p in patterns if p[0] == "!"]
    return (plain or ["all"]) + both + excluded


def _split_subscript(pattern: str) -> Tuple[str, Optional[Tuple[int, Optional[int]]]]:
    if pattern.startswith("~"):
        return pattern, None
    match = _SUBSCRIPT.match(pattern)
    if match is None:
        return pattern, None
    body, index, start, _, end = match.groups()
    if index:
        return body, (int(index), None)
    return body, (int(start), int(end) if end else -1)


def _matcher(pattern: str) -> re.Pattern[str]:
    try:
        if pattern.startswith("~"):
            return re.compile(pattern[1:])
        return re.compile(fnmatch.translate(pattern))
    except re.error:
        msg = f"invalid host pattern {pattern!r}"
        raise InventoryError(msg) from None


def _enumerate(inventory: Inventory, pattern: str) -> List[str]:
    matcher = _matcher(pattern)
    groups = [g for g in inventory.groups if matcher.match(g)]
    found: List[str] = []
    for group in groups:
        found += inventory.group_hosts(group)
    if not groups or pattern[0] == "~" or any(c in pattern for c in ".?*["):
        found += [h for h in inventory.hosts if matcher.match(h)]
    return found


def match_one(inventory: Inventory, pattern: str) -> List[str]:
    """Return the hosts one pattern (``&``/``!`` aside) names, subscript applied."""
    body, subscript = _split_subscript(pattern[1:] if pattern[0] in "&!" else pattern)
    hosts = list(dict.fromkeys(_enumerate(inventory, body)))
    if not hosts or subscript is None:
        return hosts
    start, end = subscript
    if end:  # manager.py _apply_subscript(): an end of 0 selects one host too
        return hosts[start : (len(hosts) - 1 if end == -1 else end) + 1]
    try:
        return [hosts[start]]
    except IndexError:
        msg = f"no hosts match the subscripted pattern {pattern!r}"
        raise InventoryError(msg) from None


def select(inventory: Inventory, pattern: Optional[str]) -> List[str]:
    """Return the host names ``--limit pattern`` keeps, in inventory order."""
    every = inventory.group_hosts("all")
    if not pattern:
        return every
    chosen: List[str] = []
    for word in order_patterns(limit_patterns(pattern)):
        that = [word] if word in inventory.hosts else match_one(inventory, word)
        if word[0] == "!":
            chosen = [h for h in chosen if h not in set(that)]
        elif word[0] == "&":
            chosen = [h for h in chosen if h in set(that)]
        else:
            chosen += [h for h in that if h not in set(chosen)]
    kept = set(chosen)
    return [h for h in every if h in kept]
