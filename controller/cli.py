"""The ``sockstat`` command line."""

from __future__ import annotations

import gc
import logging
import os
import sys
from typing import Callable
from typing import FrozenSet
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple

import click

from common.decode import DEFAULT_MAX_BYTES
from common.decode import DEFAULT_MAX_SOCKETS
from common.decode import Limits
from common.errors import ConfigError
from common.format import escape_text
from common.schema import Proto
from controller import render
from controller.cancel import RUN
from controller.cancel import install_handlers
from controller.filters import Filter
from controller.filters import select
from controller.inventory import HostSpec
from controller.inventory import InventoryError
from controller.inventory import limit_hosts
from controller.inventory import load_inventory
from controller.inventory import parse_target
from controller.options import ByteSize
from controller.options import PortList
from controller.options import ProtocolList
from controller.options import Seconds
from controller.request import SshOptions
from controller.request import SurveyRequest
from controller.request import ZoneSelection
from controller.results import EXIT_OK
from controller.results import EXIT_OUTPUT
from controller.results import EXIT_USAGE
from controller.results import FleetResult
from controller.survey import Survey
from controller.survey import survey_local
from controller.zones import ZoneSelectionError

log = logging.getLogger(__name__)

EPILOG = """\b
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

\b
Exit status: 0 every target answered, 1 some failed, 2 usage error (or a
target refused as bad-target), 3 no target answered, 74 output not written,
130/143 interrupted (SIGINT/SIGTERM).
"""


def select_hosts(
    targets: Sequence[str], inventory: Optional[str], limit: Optional[str]
) -> Optional[List[HostSpec]]:
    """Return the hosts named on the command line and in -i, or None for this host."""
    if not targets and inventory is None:
        if limit:
            msg = "--limit needs an inventory (-i)"
            raise click.BadParameter(msg, param_hint="'--limit'")
        return None
    try:
        specs = [parse_target(t) for t in targets]
        if inventory is not None:
            specs += limit_hosts(load_inventory(inventory), limit)
    except InventoryError as err:
        hint = "'-i'" if inventory else "TARGET"
        raise click.BadParameter(str(err), param_hint=hint) from None
    if not specs:
        msg = f"no host matches {limit!r}"
        raise click.BadParameter(msg, param_hint="'--limit'")
    return specs


class SafeFormatter(logging.Formatter):
    """One line per record, every control character escaped.

    Messages quote what zones and hosts said (warnings, stderr lines, names): an
    escape sequence, a carriage return or a newline with a fake ``sockstat:`` line
    after it must reach the terminal as visible text, never as control.
    """

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as one escaped line (a traceback as escaped lines)."""
        line = "sockstat: " + escape_text(record.getMessage())
        if record.exc_info:  # only logged at DEBUG (-vv), for bug reports
            trace = self.formatException(record.exc_info)
            line += "".join(f"\nsockstat:   {escape_text(t)}" for t in trace.splitlines())
        return line


def configure_logging(verbose: int, quiet: int) -> None:
    """Send log records to stderr at the level -v/-q ask for, escaped."""
    level = logging.WARNING + 10 * (quiet - verbose)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SafeFormatter())
    logging.basicConfig(
        level=max(logging.DEBUG, min(level, logging.CRITICAL)), handlers=[handler]
    )
    # paramiko logs whole tracebacks (and the server's banner text) for failures
    # sockstat already reports as a host status in one line.
    logging.getLogger("paramiko").setLevel(logging.CRITICAL + 1)


def report_targets(result: FleetResult) -> None:
    """Log agent warnings and one line per failed target on stderr."""
    for target in result.targets:
        if target.snapshot is not None and not target.failed:
            for warning in target.snapshot.warnings:
                log.warning("%s: %s", target.label, warning)
    for target in result.failures:
        log.error("%s: %s: %s", target.label, target.status, target.error)


@click.command(
    "sockstat",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EPILOG,
)
@click.option("-4", "inet4", is_flag=True, help="Show IPv4 sockets.")
@click.option("-6", "inet6", is_flag=True, help="Show IPv6 sockets.")
@click.option(
    "-a", "show_args", is_flag=True, help="Show the full process arguments (ARGS)."
)
@click.option("-c", "connected", is_flag=True, help="Show sockets with a peer (connected).")
@click.option(
    "-l", "listening", is_flag=True, help="Show sockets without a peer (listening)."
)
@click.option("-H", "no_header", is_flag=True, help="Do not print the header line.")
@click.option(
    "-L", "hide_loopback", is_flag=True, help="Hide sockets on loopback addresses."
)
@click.option(
    "-P",
    "protocols",
    type=ProtocolList(),
    metavar="PROTOCOLS",
    help="Comma list of tcp, udp, unix (default: tcp,udp).",
)
@click.option("-u", "unix", is_flag=True, help="Also show unix sockets.")
@click.option(
    "-p",
    "ports",
    type=PortList(),
    metavar="PORTS",
    help="Only these local or remote ports.",
)
@click.option("-s", "show_state", is_flag=True, help="Show the socket state (STATE).")
@click.option("-n", "numeric", is_flag=True, help="Show uids, not user names.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(render.FORMATS),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option(
    "-Z", "all_zones", is_flag=True, help="Survey every running zone; ZONE column."
)
@click.option(
    "-z",
    "zone_patterns",
    multiple=True,
    metavar="ZONE",
    help="Survey these zones (repeatable; shell-style globs like 'web*').",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 256),
    default=8,
    show_default=True,
    help="Targets surveyed at once.",
)
@click.option(
    "--timeout",
    type=Seconds(),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="Limit for one target.",
)
@click.option(
    "--deadline",
    type=Seconds(),
    default=300.0,
    show_default=True,
    metavar="SECONDS",
    help="Limit for the whole run.",
)
@click.option(
    "--max-sockets",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_SOCKETS,
    show_default=True,
    metavar="N",
    help="Most sockets one shipped agent may report; more is bad-output.",
)
@click.option(
    "--max-bytes",
    type=ByteSize(),
    default=DEFAULT_MAX_BYTES,
    show_default="32M",
    metavar="SIZE",
    help="Most output one shipped agent may send (K, M, G suffixes).",
)
@click.option(
    "-i",
    "inventory",
    metavar="FILE",
    help="Hosts to survey: a plain list, or an Ansible INI or YAML inventory.",
)
@click.option("--limit", metavar="PATTERN", help="Only these inventory hosts or groups.")
@click.option(
    "-F", "ssh_config", metavar="FILE", help="ssh_config file (default ~/.ssh/config)."
)
@click.option(
    "--accept-new",
    is_flag=True,
    help="Trust unknown host keys on first use (recorded in ~/.ssh/known_hosts.sockstat); "
    "a changed key is still refused.",
)
@click.option(
    "--become",
    type=click.Choice(["sudo", "pfexec"]),
    help="Run the agent as root with sudo -n or pfexec (never prompts).",
)
@click.option(
    "--check",
    is_flag=True,
    help="Compare this zone's listing with the OS's own tool (ss, netstat) and "
    "show the differences; exit 0 when they agree.",
)
@click.option("-v", "--verbose", count=True, help="More messages on stderr.")
@click.argument("targets", nargs=-1, metavar="[TARGET]...")
@click.option("-q", "--quiet", count=True, help="Fewer messages on stderr (no warnings).")
@click.version_option(package_name="sockstat", message="%(prog)s %(version)s")
def sockstat_command(
    inet4: bool,
    inet6: bool,
    show_args: bool,
    connected: bool,
    listening: bool,
    no_header: bool,
    hide_loopback: bool,
    protocols: Optional[FrozenSet[Proto]],
    unix: bool,
    ports: Optional[FrozenSet[int]],
    show_state: bool,
    numeric: bool,
    output_format: str,
    all_zones: bool,
    zone_patterns: Tuple[str, ...],
    jobs: int,
    timeout: float,
    deadline: float,
    max_sockets: int,
    max_bytes: int,
    inventory: Optional[str],
    limit: Optional[str],
    ssh_config: Optional[str],
    accept_new: bool,
    become: Optional[str],
    check: bool,
    verbose: int,
    quiet: int,
    targets: Tuple[str, ...],
) -> int:
    """List open sockets with the process behind each one.

    TARGET is a host to survey over SSH: host, user@host, user@host:port or an
    ssh_config alias; "local" is this host.  Without targets (or -i), this host.
    """
    configure_logging(verbose, quiet)
    if check:
        if targets or inventory or all_zones or zone_patterns:
            msg = "--check compares this host's own zone only: no TARGET, -i, -Z or -z"
            raise click.UsageError(msg)
        from controller.check import run_check  # noqa: PLC0415

        return run_check(sys.stdout)
    if output_format == "msgpack" and sys.stdout.isatty():
        msg = "refusing to write binary msgpack to a terminal; redirect stdout to a file"
        raise click.UsageError(msg)
    filt = Filter.from_switches(
        protocols=protocols, unix=unix, inet4=inet4, inet6=inet6, listening=listening,
        connected=connected, hide_loopback=hide_loopback, ports=ports,
    )  # fmt: skip
    specs = select_hosts(targets, inventory, limit)
    request = SurveyRequest(
        query=filt.query,
        zones=ZoneSelection(every=all_zones, patterns=zone_patterns),
        hosts=None if specs is None else tuple(specs),
        jobs=jobs,
        host_jobs=jobs,
        timeout=timeout,
        deadline=deadline,
        limits=Limits(max_sockets=max_sockets, max_stream_bytes=max_bytes),
        ssh=SshOptions(config_path=ssh_config, accept_new=accept_new, become=become),
    )
    install_handlers()
    result = run_survey(request)
    report_targets(result)
    shown = select(result, filt)
    zone_column = request.zones.enabled
    host_column = specs is not None and len({t.host for t in result.targets}) > 1
    stdout = sys.stdout

    def write() -> None:
        if output_format == "table":
            opts = render.TableOptions(
                header=not no_header,
                args=show_args,
                state=show_state,
                numeric=numeric,
                zone_column=zone_column,
                host_column=host_column,
            )
            render.render_table(shown, stdout, opts)
        elif output_format == "json":
            render.render_json(shown, stdout)
        elif output_format == "jsonl":
            render.render_jsonl(shown, stdout)
        elif output_format == "csv":
            render.render_csv(shown, stdout, header=not no_header)
        else:
            render.render_msgpack(shown, stdout.buffer)
        stdout.flush()

    failed = write_output(write)
    if RUN.cancelled:
        return RUN.exit_code
    return result.exit_code if failed is None else failed


def run_survey(request: SurveyRequest) -> FleetResult:
    """Survey this host or the hosts asked for; configuration errors are usage errors."""
    survey = Survey(request)
    try:
        if request.hosts is None:
            return survey_local(survey)
        from controller.fleet import survey_hosts  # noqa: PLC0415 - SSH only when used

        return survey_hosts(list(request.hosts), survey)
    except ZoneSelectionError as err:
        raise click.BadParameter(str(err), param_hint="'-z'") from None
    except ConfigError as err:
        raise click.BadParameter(str(err), param_hint="'-F'") from None


def write_output(write: Callable[[], None]) -> Optional[int]:
    """Run ``write``; return None, or the exit status when stdout failed.

    A reader that left (``sockstat | head``) is not an error: silent, status 0.
    Any other failure (a full disk) is one line and EXIT_OUTPUT.  Either way
    stdout is pointed at /dev/null, so the interpreter's last flush of what is
    still buffered cannot fail again with a traceback.
    """
    try:
        write()
    except BrokenPipeError:
        _stdout_to_devnull()
        return EXIT_OK
    except OSError as err:
        _stdout_to_devnull()
        log.error("cannot write the output: %s", err.strerror or err)  # noqa: TRY400 - one line
        return EXIT_OUTPUT
    return None


def _stdout_to_devnull() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: Optional[list[str]] = None) -> None:
    """Run sockstat; usage errors are one line on stderr and exit status 2."""
    # A short-lived process building many small objects: the cyclic collector
    # would only rescan them (about a tenth of the run at 60,000 sockets).
    gc.disable()
    try:
        code: object = sockstat_command.main(
            argv, prog_name="sockstat", standalone_mode=False
        )
        if RUN.cancelled:
            # Workers blocked in a DNS lookup or a handshake are not waited for:
            # what was collected is printed; exit within about a second.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code if isinstance(code, int) else RUN.exit_code)
    except click.UsageError as err:
        # The message may quote zone names a zoneadm listed: escaped, one line.
        click.echo(f"sockstat: {escape_text(err.format_message())}", err=True)
        sys.exit(EXIT_USAGE)
    except click.Abort:
        click.echo("sockstat: aborted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        # `sockstat | head`: the reader left; not an error worth a traceback.
        sys.stderr.close()
        sys.exit(0)
    sys.exit(code if isinstance(code, int) else 0)
