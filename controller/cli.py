"""The ``sockstat`` command line.

argparse (the stdlib's, controller/parser.py), not click: an idle ``sockstat`` must
start about as fast as ``ss``, and importing click took longer than sockstat's whole
collection on a small host (issue #10, bench/RESULTS.md).  A plain listing of this host
skips even argparse (controller/flags.py).  Everything the common case does not need
(SSH, inventories, JSON, CSV) is imported only by the runs that use it.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import time

from common.errors import ConfigError
from common.errors import FleetError
from common.format import escape_text
from common.limits import Limits
from controller import logs
from controller.cancel import RUN
from controller.cancel import install_handlers
from controller.filters import Filter
from controller.filters import select
from controller.flags import UsageError
from controller.flags import parse_listing
from controller.request import SshOptions
from controller.request import SurveyRequest
from controller.request import ZoneSelection
from controller.request import ZoneSelectionError
from controller.results import EXIT_BUSY
from controller.results import EXIT_CHANGES
from controller.results import EXIT_OK
from controller.results import EXIT_OUTPUT
from controller.results import EXIT_USAGE
from controller.results import FleetResult

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Callable
    from typing import Dict
    from typing import List
    from typing import Optional
    from typing import Sequence
    from typing import Tuple

    from controller.changes import Identities
    from controller.filters import Selection
    from controller.hosts import HostSpec
    from controller.store import Store


def version() -> str:
    """Return the installed sockstat's version."""
    from importlib.metadata import PackageNotFoundError  # noqa: PLC0415 - --version only
    from importlib.metadata import version as installed  # noqa: PLC0415

    try:
        return installed("sockstat")
    except PackageNotFoundError:
        return "unknown"


# The last survey, held to the end of the process: freed when run() returned, its
# sockets and owners would be freed one by one (~2.5 ms at 10,000 sockets), the
# work the sockstat command skips at exit (controller/launch.py leave()).
KEPT: List[FleetResult] = []


def filter_from(opts: argparse.Namespace) -> Filter:
    """Return the Filter the selection flags describe."""
    return Filter.from_switches(
        protocols=opts.protocols, unix=opts.unix, inet4=opts.inet4, inet6=opts.inet6,
        listening=opts.listening, connected=opts.connected,
        hide_loopback=opts.hide_loopback, ports=opts.ports,
    )  # fmt: skip


def in_shard(name: str, which: Tuple[int, int]) -> bool:
    """Whether a host falls in shard K of N: stable across runs and controllers."""
    import hashlib  # noqa: PLC0415 - --shard only

    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % which[1] == which[0] - 1


def select_hosts(
    targets: Sequence[str], inventory: Optional[str], limit: Optional[str]
) -> Optional[List[HostSpec]]:
    """Return the hosts named on the command line and in -i, or None for this host."""
    if not targets and inventory is None:
        if limit:
            msg = "--limit needs an inventory (-i)"
            raise UsageError(msg)
        return None
    from controller.hosts import load_inventory_hosts  # noqa: PLC0415 - hosts only
    from controller.hosts import parse_target  # noqa: PLC0415
    from controller.inventory import InventoryError  # noqa: PLC0415

    try:
        specs = [parse_target(t) for t in targets]
        if inventory is not None:
            specs += load_inventory_hosts(inventory, limit)
    except InventoryError as err:
        hint = "-i" if inventory else "TARGET"
        msg = f"argument {hint}: {err}"
        raise UsageError(msg) from None
    if not specs:
        if limit:
            msg = f"argument --limit: no host matches {limit!r}"
        else:
            msg = f"argument -i: no hosts in {inventory}"
        raise UsageError(msg)
    return specs


def check_ssh_config(path: str) -> None:
    """-F FILE must be a readable text file: one usage error, not one per host."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        msg = f"cannot read ssh_config {path}: {err.strerror or err}"
        raise UsageError(msg) from None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        msg = f"{path}: not a valid ssh_config (byte {err.start} is not UTF-8)"
        raise UsageError(msg) from None


def list_targets(specs: Optional[List[HostSpec]], opts: argparse.Namespace) -> int:
    """--list-targets: print every host's route; 2 if one cannot be reached as given."""
    from controller.routes import render_routes  # noqa: PLC0415
    from controller.routes import resolve_routes  # noqa: PLC0415
    from controller.targets import Resolver  # noqa: PLC0415

    if specs is None:
        msg = "--list-targets needs TARGET or -i"
        raise UsageError(msg)
    if opts.output_format not in ("table", "json", "jsonl"):
        msg = "--list-targets writes a table, json or jsonl"
        raise UsageError(msg)
    from controller.request import SshOptions  # noqa: PLC0415

    ssh = SshOptions(config_path=opts.ssh_config, accept_new=opts.accept_new)
    routes = resolve_routes(
        specs, Resolver(opts.ssh_config), accept_new=ssh.accept_new,
        accept_new_file=ssh.accept_new_file,
    )  # fmt: skip
    for route in routes:
        if route.error:
            logs.get(__name__).error("%s: bad-target: %s", route.spec.name, route.error)

    def write() -> None:
        render_routes(routes, sys.stdout, fmt=opts.output_format, header=not opts.no_header)
        sys.stdout.flush()

    failed = write_output(write)
    if failed is not None:
        return failed
    return EXIT_USAGE if any(r.error for r in routes) else EXIT_OK


def report_targets(result: FleetResult) -> None:
    """Log agent warnings and one line per failed target on stderr."""
    for target in result.targets if logs.warnings_enabled() else ():
        if target.snapshot is not None and not target.failed:
            for warning in target.snapshot.warnings:
                logs.get(__name__).warning("%s: %s", target.label, warning)
    for target in result.failures:
        logs.get(__name__).error("%s: %s: %s", target.label, target.status, target.error)


def read_options(argv: Sequence[str]) -> argparse.Namespace:
    """Read the command line: a plain listing of this host without argparse.

    The rest goes through argparse, which also prints the help for --help.
    """
    opts = parse_listing(list(argv))
    if opts is not None:
        return opts
    from controller.parser import HELP_WIDTH  # noqa: PLC0415 - not for a plain listing
    from controller.parser import build_parser  # noqa: PLC0415

    parser = build_parser()
    opts = parser.parse_intermixed_args(argv)
    if opts.help:
        import shutil  # noqa: PLC0415 - see help_formatter()

        HELP_WIDTH[0] = shutil.get_terminal_size().columns
        parser.print_help()
    return opts


def run(argv: Sequence[str]) -> int:
    """Parse the command line, survey, write the output; return the exit status."""
    if argv[:1] == ["history"]:  # a host named history: history:22, user@history
        from controller.history import run_history  # noqa: PLC0415

        return run_history(argv[1:])
    opts = read_options(argv)
    if opts.help:
        return EXIT_OK
    if opts.version:
        print(f"sockstat {version()}")
        return EXIT_OK
    # SSH, --check and -v runs set logging up now (paramiko logs); the rest only
    # when a message comes (controller/logs.py).
    logs.configure(opts.verbose, opts.quiet, now=bool(opts.targets or opts.inventory))
    if opts.check:
        if opts.targets or opts.inventory or opts.all_zones or opts.zone_patterns:
            msg = "--check compares this host's own zone only: no TARGET, -i, -Z or -z"
            raise UsageError(msg)
        from controller.check import run_check  # noqa: PLC0415

        return run_check(sys.stdout)
    if opts.output_format == "msgpack" and sys.stdout.isatty():
        msg = "refusing to write binary msgpack to a terminal; redirect stdout to a file"
        raise UsageError(msg)
    filt = filter_from(opts)
    check_history_flags(opts)
    specs = select_hosts(opts.targets, opts.inventory, opts.limit)
    if opts.shard is not None:
        if specs is None:
            msg = "--shard needs TARGET or -i"
            raise UsageError(msg)
        specs = [spec for spec in specs if in_shard(spec.name, opts.shard)]
    if opts.ssh_config is not None and opts.ssh_config != "none":  # ssh -F none
        check_ssh_config(opts.ssh_config)
    if opts.list_targets:
        return list_targets(specs, opts)
    request = SurveyRequest(
        query=filt.query,
        zones=ZoneSelection(every=opts.all_zones, patterns=tuple(opts.zone_patterns)),
        hosts=None if specs is None else tuple(specs),
        jobs=opts.jobs,
        host_jobs=opts.host_jobs,
        timeout=opts.timeout,
        deadline=opts.deadline,
        limits=Limits(max_sockets=opts.max_sockets, max_stream_bytes=opts.max_bytes),
        ssh=SshOptions(
            config_path=opts.ssh_config, accept_new=opts.accept_new, become=opts.become
        ),
    )
    history = open_history(opts)
    try:
        install_handlers()
        started = time.time()
        result = run_survey(request)
        KEPT[:] = [result]
        report_targets(result)
        if history is not None and opts.diff is not None:
            return report_changes(history, result, filt, opts, started, argv)
        shown = select(result, filt)
        host_column = specs is not None and len({t.host for t in result.targets}) > 1
        failed = write_output(
            lambda: render_listing(
                shown, opts, zone_column=request.zones.enabled, host_column=host_column
            ),
            opts.output,
        )
        if RUN.cancelled:
            return RUN.exit_code
        code = result.exit_code if failed is None else failed
        return save_run(history, result, opts, started, argv, code)
    finally:
        if history is not None:
            history.close()


def render_listing(
    shown: Selection, opts: argparse.Namespace, *, zone_column: bool, host_column: bool
) -> None:
    """Write the listing in the chosen format to stdout."""
    from controller import render  # noqa: PLC0415 - after the survey, off its clock

    stdout = sys.stdout
    if opts.output_format == "table":
        table = render.TableOptions(
            header=not opts.no_header,
            args=opts.show_args,
            state=opts.show_state,
            numeric=opts.numeric,
            zone_column=zone_column,
            host_column=host_column,
        )
        render.render_table(shown, stdout, table)
    elif opts.output_format == "json":
        render.render_json(shown, stdout)
    elif opts.output_format == "jsonl":
        render.render_jsonl(shown, stdout)
    elif opts.output_format == "csv":
        render.render_csv(shown, stdout, header=not opts.no_header)
    else:
        render.render_msgpack(shown, stdout.buffer)
    stdout.flush()


def check_history_flags(opts: argparse.Namespace) -> None:
    """Refuse history flags that do not go together, before anything is surveyed."""
    if opts.baseline is not None and opts.diff is None:
        msg = "--baseline needs --diff DB"
        raise UsageError(msg)
    if opts.diff is not None and opts.output_format not in ("table", "json", "jsonl"):
        msg = "--diff writes a table, json or jsonl"
        raise UsageError(msg)
    if opts.save and opts.diff and opts.save != opts.diff:
        msg = "--save and --diff name different DBs"
        raise UsageError(msg)


def open_history(opts: argparse.Namespace) -> Optional[Store]:
    """Open the history --save or --diff names; a run that saves takes its lock."""
    location = opts.save or opts.diff
    if location is None:
        return None
    from controller.store import StoreError  # noqa: PLC0415 - history runs only
    from controller.store import open_store  # noqa: PLC0415

    try:
        store = open_store(location)
    except StoreError as err:
        raise UsageError(str(err)) from None
    if opts.save:
        try:
            store.lock(_shard_name(opts), opts.lock_timeout)
        except StoreError as err:
            store.close()
            logs.get(__name__).error("%s", err)
            raise HistoryBusy(str(err)) from None
    return store


class HistoryBusy(FleetError):
    """Another run holds the history's lock: exit EXIT_BUSY, nothing surveyed."""


def _shard_name(opts: argparse.Namespace) -> Optional[str]:
    return None if opts.shard is None else f"{opts.shard[0]}/{opts.shard[1]}"


def report_changes(
    history: Store,
    result: FleetResult,
    filt: Filter,
    opts: argparse.Namespace,
    started: float,
    argv: Sequence[str],
) -> int:
    """--diff: print what changed (nothing with -q when nothing did), then --save."""
    from controller.history import NoSuchRun  # noqa: PLC0415
    from controller.history import report_for  # noqa: PLC0415
    from controller.history import resolve_run  # noqa: PLC0415
    from controller.history import write_report  # noqa: PLC0415
    from controller.store import StoreError  # noqa: PLC0415
    from controller.store import translated_errors  # noqa: PLC0415

    known: Dict[int, Identities] = {}
    try:
        with translated_errors(history.location, "read"):
            baseline = None
            if opts.baseline is not None:
                baseline = resolve_run(history, opts.baseline, time.time())
            report = report_for(history, result, filt, baseline=baseline, known=known)
    except (NoSuchRun, ValueError) as err:
        msg = f"argument --baseline: {err}"
        raise UsageError(msg) from None
    except StoreError as err:
        logs.get(__name__).error("%s", err)
        return EXIT_OUTPUT
    failed = None
    if report.changed or not opts.quiet:
        failed = write_output(
            lambda: write_report(report, opts.output_format, header=not opts.no_header),
            opts.output,
        )
    if RUN.cancelled:
        return RUN.exit_code
    code = result.exit_code if failed is None else failed
    if code == EXIT_OK and report.changes:
        code = EXIT_CHANGES
    return save_run(history, result, opts, started, argv, code, known)


def save_run(
    history: Optional[Store],
    result: FleetResult,
    opts: argparse.Namespace,
    started: float,
    argv: Sequence[str],
    code: int,
    known: Optional[Dict[int, Identities]] = None,
) -> int:
    """--save: keep the run; a failure is one line and EXIT_OUTPUT (the report stands)."""
    if history is None or not opts.save or RUN.cancelled:
        return code
    from controller.store import StoreError  # noqa: PLC0415
    from controller.store import redacted_command  # noqa: PLC0415
    from controller.store import translated_errors  # noqa: PLC0415

    try:
        with translated_errors(history.location, "save the run to"):
            command = redacted_command(["sockstat", *argv])
            history.save(result, started=started, command=command,
                         shard=_shard_name(opts), known=known)  # fmt: skip
    except StoreError as err:
        logs.get(__name__).error("%s", err)
        return EXIT_OUTPUT
    return code


def run_survey(request: SurveyRequest) -> FleetResult:
    """Survey this host or the hosts asked for; configuration errors are usage errors."""
    from controller.survey import Survey  # noqa: PLC0415 - after the usage checks

    survey = Survey(request)
    try:
        if request.hosts is None:
            from controller.survey import survey_local  # noqa: PLC0415

            return survey_local(survey)
        from controller.fleet import survey_hosts  # noqa: PLC0415 - SSH only when used

        return survey_hosts(list(request.hosts), survey)
    except ZoneSelectionError as err:
        msg = f"argument -z: {err}"
        raise UsageError(msg) from None
    except ConfigError as err:
        msg = f"argument -F: {err}"
        raise UsageError(msg) from None


def write_output(write: Callable[[], None], path: Optional[str] = None) -> Optional[int]:
    """Run ``write``; return None, or the exit status when stdout failed.

    A reader that left (``sockstat | head``) is not an error: silent, status 0.
    Any other failure (a full disk) is one line and EXIT_OUTPUT.  Either way
    stdout is pointed at /dev/null, so the interpreter's last flush of what is
    still buffered cannot fail again with a traceback.  With ``path`` (--output),
    the output goes to a file beside it, renamed over it once whole.
    """
    if path is not None:
        return _write_file(write, path)
    try:
        write()
    except BrokenPipeError:
        _stdout_to_devnull()
        return EXIT_OK
    except OSError as err:
        _stdout_to_devnull()
        message = err.strerror or str(err)
        logs.get(__name__).error("cannot write the output: %s", message)
        return EXIT_OUTPUT
    return None


def _write_file(write: Callable[[], None], path: str) -> Optional[int]:
    """Write to PATH atomically: a reader sees the old file or the whole new one."""
    import tempfile  # noqa: PLC0415 - --output only

    directory = os.path.dirname(os.path.abspath(path))
    saved = sys.stdout
    temp = None
    try:
        fd, temp = tempfile.mkstemp(prefix=".sockstat-", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            sys.stdout = out
            write()
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
        temp = None
    except OSError as err:
        logs.get(__name__).error("cannot write %s: %s", path, err.strerror or err)
        return EXIT_OUTPUT
    finally:
        sys.stdout = saved
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)
    return None


def _stdout_to_devnull() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: Optional[List[str]] = None) -> None:
    """Run sockstat; usage errors are one line on stderr and exit status 2."""
    # A short-lived process building many small objects: the cyclic collector
    # would only rescan them (about a tenth of the run at 60,000 sockets).
    gc.disable()
    try:
        code = run(sys.argv[1:] if argv is None else argv)
    except UsageError as err:
        # The message may quote zone names a zoneadm listed: escaped, one line.
        print(f"sockstat: {escape_text(str(err))}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    except HistoryBusy:
        sys.exit(EXIT_BUSY)
    if RUN.cancelled:
        # Workers blocked in a DNS lookup or a handshake are not waited for:
        # what was collected is printed; exit within about a second.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
