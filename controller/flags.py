"""A listing of this host from its words alone: the guess, and the parse without argparse.

Two uses of the same table of flags.  controller/launch.py asks lists_this_host()
before anything is imported, to fork the fd scan early.  controller/cli.py asks
parse_listing(), which reads the usual command lines (``sockstat``, ``-l``, ``-P tcp``,
``-Z -z web --format json``) into the options argparse would give, without importing
argparse: importing it, gettext and locale, and building the parser cost ~4 ms of a
run that lists 10,000 sockets in ~85 (issue #10).  Anything else (a TARGET, -i, help,
an abbreviation, a bad value) is left to argparse, which reads it and words its
errors; tests/test_launch.py holds every answer given here to argparse's.

Nothing heavy at import (the stdlib, common/errors.py): launch.py imports this module
before it forks.
"""

from __future__ import annotations

from common.errors import FleetError

TYPE_CHECKING = False  # typing is not imported at run time: start-up (issue #10)
if TYPE_CHECKING:
    from argparse import Namespace
    from typing import Callable
    from typing import Dict
    from typing import Iterator
    from typing import List
    from typing import Optional
    from typing import Tuple


class UsageError(FleetError):
    """A bad command line: one line on stderr, exit status 2."""


FORMATS = ("table", "json", "jsonl", "csv", "msgpack")
TIMEOUT = 30.0  # --timeout, seconds for one target
DEADLINE = 300.0  # --deadline, seconds for the whole run
LOCK_TIMEOUT = 60.0  # --lock-timeout, seconds to wait for another run's history lock

# The flags of a listing of this host (controller/parser.py build_parser()) and their
# destinations.  Every other flag means another host, another command, or no listing.
SWITCHES = {
    "4": "inet4", "6": "inet6", "a": "show_args", "c": "connected", "l": "listening",
    "L": "hide_loopback", "u": "unix", "s": "show_state", "n": "numeric",
    "H": "no_header", "Z": "all_zones", "v": "verbose", "q": "quiet",
}  # fmt: skip
VALUED = {"P": "protocols", "p": "ports", "z": "zone_patterns", "j": "jobs"}
LONG_SWITCHES = {"--check": "check", "--verbose": "verbose", "--quiet": "quiet"}
LONG_VALUED = {
    "--format": "output_format", "--jobs": "jobs", "--host-jobs": "host_jobs",
    "--timeout": "timeout", "--deadline": "deadline", "--max-sockets": "max_sockets",
    "--max-bytes": "max_bytes", "--save": "save", "--diff": "diff",
    "--baseline": "baseline", "--lock-timeout": "lock_timeout", "--output": "output",
}  # fmt: skip
COUNTED = frozenset({"verbose", "quiet"})  # argparse's "count" action: -vv is 2


def lists_this_host(argv: List[str]) -> bool:
    """Whether these arguments can only ask for a listing of this host's sockets."""
    return all(flag is not None for flag in _flags(argv))


def parse_listing(argv: List[str]) -> Optional[Namespace]:
    """Return the options of a plain listing of this host, or None for argparse to read.

    None is always a safe answer; any other is the namespace argparse's
    parse_intermixed_args() returns for the same words.
    """
    values = _defaults()
    for flag in _flags(argv):
        if flag is None:
            return None
        dest, value = flag
        if value is not None:
            if not _store(values, dest, value):
                return None
        elif dest in COUNTED:
            count = values[dest]
            assert isinstance(count, int)  # noqa: S101 - its default is 0
            values[dest] = count + 1
        else:
            values[dest] = True
    from types import SimpleNamespace  # noqa: PLC0415 - types is loaded at start-up

    return SimpleNamespace(**values)  # type: ignore[return-value]


def _flags(argv: List[str]) -> Iterator[Optional[Tuple[str, Optional[str]]]]:
    """Yield (destination, value or None) per flag, and None at a word of no listing.

    A separate word that starts with "-" is, to argparse, a flag and not a value
    (this parser has -4 and -6, so even "-5" is): None there.  So is a short flag
    with "=", which argparse reads its own ways.
    """
    words = iter(argv)
    for word in words:
        if word.startswith("--"):
            name, equals, attached = word.partition("=")
            if name in LONG_VALUED:
                value = attached if equals else next(words, None)
                if value is None or (not equals and value.startswith("-")):
                    yield None
                    return
                yield LONG_VALUED[name], value
            elif name in LONG_SWITCHES and not equals:
                yield LONG_SWITCHES[name], None
            else:
                yield None
                return
        elif word.startswith("-") and len(word) > 1 and "=" not in word:
            for index, letter in enumerate(word[1:], 2):
                if letter in VALUED:  # the rest of the word, or the next, is its value
                    value = word[index:] if index < len(word) else next(words, None)
                    if value is None or (index == len(word) and value.startswith("-")):
                        yield None
                        return
                    yield VALUED[letter], value
                    break
                if letter not in SWITCHES:
                    yield None
                    return
                yield SWITCHES[letter], None
        else:  # a TARGET, the history subcommand, or a lone "-"
            yield None
            return


def _defaults() -> Dict[str, object]:
    """Every destination of build_parser(), with its default."""
    from common.limits import DEFAULT_MAX_BYTES  # noqa: PLC0415 - not before the fork
    from common.limits import DEFAULT_MAX_SOCKETS  # noqa: PLC0415
    from controller.request import DEFAULT_HOST_JOBS  # noqa: PLC0415
    from controller.request import DEFAULT_JOBS  # noqa: PLC0415

    values: Dict[str, object] = dict.fromkeys(SWITCHES.values(), False)
    values.update(dict.fromkeys(COUNTED, 0), check=False)
    values.update(
        protocols=None, ports=None, zone_patterns=[], output_format="table",
        jobs=DEFAULT_JOBS, host_jobs=DEFAULT_HOST_JOBS, timeout=TIMEOUT,
        deadline=DEADLINE, max_sockets=DEFAULT_MAX_SOCKETS, max_bytes=DEFAULT_MAX_BYTES,
        inventory=None, limit=None, ssh_config=None, list_targets=False,
        accept_new=False, become=None, shard=None, save=None, diff=None, baseline=None,
        lock_timeout=LOCK_TIMEOUT, output=None, version=False, help=False,
        targets=[],
    )  # fmt: skip
    return values


def _store(values: Dict[str, object], dest: str, value: str) -> bool:
    """Convert and store one flag's value as argparse would; False: argparse's to read."""
    if dest == "zone_patterns":
        patterns = values[dest]
        assert isinstance(patterns, list)  # noqa: S101 - the default is a list
        patterns.append(value)
        return True
    if dest == "output_format":
        if value not in FORMATS:
            return False
        values[dest] = value
        return True
    convert = _converters().get(dest)
    try:
        values[dest] = value if convert is None else convert(value)
    except Exception:  # any refusal (ArgumentTypeError...): argparse words the error
        return False
    return True


def _converters() -> Dict[str, Callable[[str], object]]:
    from controller.options import byte_size  # noqa: PLC0415 - not before the fork
    from controller.options import count  # noqa: PLC0415
    from controller.options import port_list  # noqa: PLC0415
    from controller.options import positive  # noqa: PLC0415
    from controller.options import protocol_list  # noqa: PLC0415
    from controller.options import seconds  # noqa: PLC0415

    return {
        "protocols": protocol_list, "ports": port_list, "jobs": count,
        "host_jobs": count, "timeout": seconds, "deadline": seconds,
        "lock_timeout": seconds, "max_sockets": positive, "max_bytes": byte_size,
    }  # fmt: skip
