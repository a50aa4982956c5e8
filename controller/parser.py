"""sockstat's command line for argparse: every flag, its help, and its usage errors.

controller/cli.py reads the usual listing of this host without it
(controller/flags.py parse_listing()), and everything else with the parser made
here; ``sockstat history`` builds its own from the same pieces.
"""

from __future__ import annotations

import argparse

from common.limits import DEFAULT_MAX_BYTES
from common.limits import DEFAULT_MAX_SOCKETS
from controller.flags import DEADLINE
from controller.flags import FORMATS
from controller.flags import LOCK_TIMEOUT
from controller.flags import TIMEOUT
from controller.flags import UsageError
from controller.options import byte_size
from controller.options import count
from controller.options import port_list
from controller.options import positive
from controller.options import protocol_list
from controller.options import seconds
from controller.request import DEFAULT_HOST_JOBS
from controller.request import DEFAULT_JOBS

TYPE_CHECKING = False  # typing is not imported at run time: start-up (issue #10)
if TYPE_CHECKING:
    from typing import NoReturn
    from typing import Tuple

DESCRIPTION = """\
List open sockets with the process behind each one.

TARGET is a host to survey over SSH: host, user@host, user@host:port or an
ssh_config alias; "local" is this host.  Without targets (or -i), this host."""
EPILOG = """\
Examples:
  sockstat                 TCP and UDP sockets of this host, with their processes
  sockstat -l              only sockets without a peer (listeners, unconnected UDP)
  sockstat -c -P tcp -p 22 connected TCP sockets on port 22
  sockstat -u -a           add unix sockets; show full process arguments
  sockstat --format json   the documented JSON contract, for scripts
  sockstat -Z -l           listeners of every zone (network namespace), ZONE first
  sockstat -z 'web*' -c    connected sockets of the zones named web...
  sockstat web1 root@db1:2222 -l       listeners of two hosts over SSH
  sockstat -Z -l -i hosts.ini --limit web   every zone of the hosts in group web

History (cron):
  sockstat -i hosts.ini -Z -l --save audit.db --diff audit.db -q
                           mail only what changed since last night
  sockstat history list audit.db        the saved runs (also: show, diff, prune)

Exit status: 0 every target answered, 1 some failed, 2 usage error (or a
target refused as bad-target), 3 no target answered, 4 --diff found changes
(every target answered), 74 output or history not written, 75 another run
holds the history's lock, 130/143 interrupted (SIGINT/SIGTERM)."""


class Parser(argparse.ArgumentParser):
    """argparse, with usage errors raised (one line) instead of printed with usage."""

    def error(self, message: str) -> NoReturn:
        """Raise UsageError with argparse's message."""
        raise UsageError(message)


HELP_WIDTH = [80]  # the terminal's, asked only when help is shown


def help_formatter(prog: str) -> argparse.HelpFormatter:
    """Return the help formatter, with a width given.

    argparse makes a formatter for every add_argument() and, without a width,
    imports shutil to ask the terminal's (bz2 and lzma come with it): a cost
    every run would pay for a help text it rarely shows.
    """
    return argparse.RawDescriptionHelpFormatter(prog, width=HELP_WIDTH[0])


def build_parser() -> Parser:
    """Return the parser of sockstat's flags: the seed's, then the fleet's."""
    parser = Parser(
        prog="sockstat",
        usage="sockstat [OPTIONS] [TARGET]...",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=help_formatter,
        add_help=False,
    )
    add = parser.add_argument
    add_filter_flags(parser)
    add("-H", dest="no_header", action="store_true", help="no header line")
    add("--format", dest="output_format", choices=FORMATS, default="table",
        help="output format (default: table)")  # fmt: skip
    add("-Z", dest="all_zones", action="store_true", help="every zone; ZONE column")
    add("-z", dest="zone_patterns", action="append", default=[], metavar="ZONE",
        help="these zones (repeatable; shell globs like 'web*')")  # fmt: skip
    add("-j", "--jobs", type=count, default=DEFAULT_JOBS, metavar="N",
        help="zones of one host surveyed at once (default: %(default)s)")  # fmt: skip
    add("--host-jobs", type=count, default=DEFAULT_HOST_JOBS, metavar="N",
        help="hosts surveyed at once (default: %(default)s)")  # fmt: skip
    add("--timeout", type=seconds, default=TIMEOUT, metavar="SECONDS",
        help="limit for one target (default: 30)")  # fmt: skip
    add("--deadline", type=seconds, default=DEADLINE, metavar="SECONDS",
        help="limit for the whole run (default: 300)")  # fmt: skip
    add(
        "--max-sockets",
        type=positive,
        default=DEFAULT_MAX_SOCKETS,
        metavar="N",
        help="most sockets one shipped agent may report (default: %(default)s)",
    )
    add("--max-bytes", type=byte_size, default=DEFAULT_MAX_BYTES, metavar="SIZE",
        help="most output one shipped agent may send (K, M, G; default: 32M)")  # fmt: skip
    add("-i", dest="inventory", metavar="FILE",
        help="hosts: a plain list, or an Ansible INI or YAML inventory")  # fmt: skip
    add("--limit", metavar="PATTERN", help="only these inventory hosts or groups")
    add("-F", dest="ssh_config", metavar="FILE",
        help="ssh_config file (default: ~/.ssh/config)")  # fmt: skip
    add("--list-targets", action="store_true",
        help="show how each host would be reached (ssh -G, ansible-inventory); "
        "connect to nothing")  # fmt: skip
    add("--accept-new", action="store_true",
        help="trust unknown host keys on first use (never a changed one)")  # fmt: skip
    add("--become", choices=("sudo", "pfexec"),
        help="run the agent as root with sudo -n or pfexec (never prompts)")  # fmt: skip
    add("--shard", type=shard, metavar="K/N",
        help="only the K-th of N stable shares of the hosts (by name)")  # fmt: skip
    add("--save", metavar="DB",
        help="keep this run in a history (file, or postgresql:// URL)")  # fmt: skip
    add("--diff", metavar="DB",
        help="print only what changed since each target's last good run in DB")  # fmt: skip
    add("--baseline", metavar="RUN",
        help="with --diff: compare with this saved run (id, or age like 7d)")  # fmt: skip
    add("--lock-timeout", type=seconds, default=LOCK_TIMEOUT, metavar="SECONDS",
        help="wait this long for another run saving to DB (default: 60)")  # fmt: skip
    add("--output", metavar="FILE",
        help="write the report to FILE (atomically) instead of stdout")  # fmt: skip
    add(
        "--check",
        action="store_true",
        help="compare this zone's listing with ss or netstat (0: they agree)",
    )
    add("-v", "--verbose", action="count", default=0, help="more messages on stderr")
    add("-q", "--quiet", action="count", default=0, help="fewer messages (no warnings)")
    add("--version", action="store_true", help="show the version and exit")
    add("-h", "--help", action="store_true", help="show this help and exit")
    add("targets", nargs="*", metavar="TARGET", help=argparse.SUPPRESS)
    return parser


def add_filter_flags(parser: argparse.ArgumentParser, *, listing_only: bool = True) -> None:
    """Add the seed's selection flags (and, for listings, its column flags)."""
    add = parser.add_argument
    add("-4", dest="inet4", action="store_true", help="show IPv4 sockets")
    add("-6", dest="inet6", action="store_true", help="show IPv6 sockets")
    if listing_only:
        add("-a", dest="show_args", action="store_true",
            help="show process arguments (ARGS)")  # fmt: skip
    add("-c", dest="connected", action="store_true", help="sockets with a peer (connected)")
    add("-l", dest="listening", action="store_true", help="sockets without a peer")
    add("-L", dest="hide_loopback", action="store_true", help="hide loopback addresses")
    add("-P", dest="protocols", type=protocol_list, metavar="PROTOCOLS",
        help="comma list of tcp, udp, unix (default: tcp,udp)")  # fmt: skip
    add("-u", dest="unix", action="store_true", help="also show unix sockets")
    add("-p", dest="ports", type=port_list, metavar="PORTS",
        help="only these local or remote ports (22,80,8000-8100)")  # fmt: skip
    if listing_only:
        add("-s", dest="show_state", action="store_true", help="show the socket state")
        add("-n", dest="numeric", action="store_true", help="uids, not user names")


def shard(value: str) -> Tuple[int, int]:
    """``K/N``: the K-th (1-based) of N shares."""
    part, _, total = value.partition("/")
    if not (part.isdigit() and total.isdigit()) or not 1 <= int(part) <= int(total):
        msg = f"{value!r} is not K/N with 1 <= K <= N"
        raise argparse.ArgumentTypeError(msg)
    return int(part), int(total)
