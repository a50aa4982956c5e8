"""Saved runs compared: ``--diff`` against the history, and ``sockstat history ...``.

``sockstat history list DB``, ``show DB [RUN]``, ``diff DB [OLD [NEW]]`` and
``prune DB --older-than AGE`` read and tend what ``--save DB`` wrote
(controller/store.py).  RUN, OLD and NEW are run ids, or ages (``7d``, ``12h``):
the newest run at least that old.  What counts as a change is controller/changes.py's.
"""

from __future__ import annotations

import sys
import time
from functools import partial

from controller.changes import ANSWERS_AGAIN
from controller.changes import COMPARED
from controller.changes import NEW
from controller.changes import NO_ANSWER
from controller.changes import Report
from controller.changes import TargetChange
from controller.changes import compare
from controller.changes import identities
from controller.changes import select_identities
from controller.status import Status
from controller.store import Store
from controller.store import StoreError
from controller.store import open_store
from controller.store import translated_errors

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from collections.abc import Sequence
    from typing import Dict
    from typing import List
    from typing import Optional
    from typing import Tuple

    from controller.changes import Identities
    from controller.filters import Filter
    from controller.results import FleetResult
    from controller.store import RunInfo

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
SKIPPED = "skipped"


def parse_age(text: str) -> float:
    """``7d``, ``12h``, ``30m``, ``90s``, ``2w``: seconds.

    >>> parse_age("7d")
    604800.0
    """
    number, unit = text[:-1], text[-1:]
    if unit not in UNITS or not number.isdigit():
        msg = f"{text!r} is not an age like 7d, 12h, 30m"
        raise ValueError(msg)
    return float(int(number) * UNITS[unit])


def report_for(
    store: Store,
    result: FleetResult,
    filt: Filter,
    *,
    baseline: Optional[int] = None,
    run_id: Optional[int] = None,
    known: Optional[Dict[int, Identities]] = None,
) -> Report:
    """Compare each target of ``result`` with its last good run (or ``baseline``).

    ``run_id`` is the run ``result`` was loaded from, when it is a saved one: only
    earlier runs are compared with.  The identities of this run's targets are left
    in ``known`` (by ``id(target)``), for --save to reuse.
    """
    known = {} if known is None else known
    changes = []
    targets = []
    for target in result.targets:
        host, zone = target.host, target.zone
        if target.status is Status.SKIPPED:
            targets.append(TargetChange(host, zone, target.status.value, target.error,
                                        None, SKIPPED))  # fmt: skip
            continue
        if target.failed or target.snapshot is None:
            targets.append(TargetChange(host, zone, target.status.value, target.error,
                                        None, NO_ANSWER))  # fmt: skip
            continue
        limit = baseline + 1 if baseline is not None else run_id
        base = store.last_good(host, zone, before=limit)
        every = known[id(target)] = identities(target.snapshot.sockets)
        new = select_identities(every, filt)
        if base is None:
            note = NEW
            old = {}
        else:
            last = store.last_status(host, zone, before=limit)
            note = ANSWERS_AGAIN if last is not None and last_failed(last) else COMPARED
            old = select_identities(store.identities(base, host, zone), filt)
        changes += compare(host, zone, old, new)
        targets.append(TargetChange(host, zone, target.status.value, target.error,
                                    base, note))  # fmt: skip
    return Report(changes, targets)


def last_failed(status: str) -> bool:
    """Whether a saved status is a target that did not answer."""
    try:
        return Status(status).failed
    except ValueError:  # a status a newer sockstat saved
        return True


class NoSuchRun(StoreError):
    """A run asked for by id or age is not in the history: a usage error."""


def resolve_run(store: Store, text: str, now: float) -> int:
    """Return the run a run id, or an age (the newest run at least that old), names."""
    if text.isdigit():
        run_id = int(text)
        if not store.has_run(run_id):
            msg = f"{store.location}: no run {run_id}"
            raise NoSuchRun(msg)
        return run_id
    found = store.run_at(parse_age(text), now)
    if found is None:
        msg = f"{store.location}: no run is {text} old"
        raise NoSuchRun(msg)
    return found


def build_parser() -> argparse.ArgumentParser:
    """Return the ``sockstat history`` parser (usage errors raise, as the main one's)."""
    from controller.flags import FORMATS  # noqa: PLC0415
    from controller.parser import Parser  # noqa: PLC0415
    from controller.parser import add_filter_flags  # noqa: PLC0415
    from controller.parser import help_formatter  # noqa: PLC0415

    parser = Parser(prog="sockstat history", formatter_class=help_formatter,
                    description="Read and prune the runs --save DB kept.")  # fmt: skip
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    subs = {
        name: actions.add_parser(name, help=text)
        for name, text in (
            ("list", "the saved runs"),
            ("show", "one saved run, as sockstat shows a run"),
            ("diff", "what changed between two saved runs"),
            ("prune", "delete old runs"),
        )
    }
    for sub in subs.values():
        sub.add_argument("db", metavar="DB", help="history file or postgresql:// URL")
        sub.add_argument("--format", dest="output_format", choices=FORMATS,
                         default="table", help="default: table")  # fmt: skip
        sub.add_argument("-H", dest="no_header", action="store_true", help="no header")
    subs["list"].add_argument("--since", metavar="AGE",
                              help="only runs newer than AGE (7d)")  # fmt: skip
    subs["show"].add_argument("run", nargs="?", metavar="RUN",
                              help="id or age (default: the newest)")  # fmt: skip
    add_filter_flags(subs["show"])
    subs["diff"].add_argument("old", nargs="?", metavar="OLD",
                              help="id or age (default: the run before NEW)")  # fmt: skip
    subs["diff"].add_argument("new", nargs="?", metavar="NEW",
                              help="id or age (default: the newest)")  # fmt: skip
    add_filter_flags(subs["diff"], listing_only=False)
    subs["prune"].add_argument("--older-than", required=True, metavar="AGE",
                               help="delete runs older than AGE (30d)")  # fmt: skip
    return parser


def run_history(argv: Sequence[str]) -> int:
    """``sockstat history ACTION DB ...``: return the exit status."""
    from controller.cli import write_output  # noqa: PLC0415
    from controller.flags import UsageError  # noqa: PLC0415
    from controller.results import EXIT_CHANGES  # noqa: PLC0415
    from controller.results import EXIT_OK  # noqa: PLC0415
    from controller.results import EXIT_OUTPUT  # noqa: PLC0415

    opts = build_parser().parse_args(argv)
    if opts.action in ("list", "prune") and opts.output_format not in FORMATS_LIST:
        msg = f"history {opts.action} writes a table, json or jsonl"
        raise UsageError(msg)
    try:
        store = open_store(opts.db)
    except StoreError as err:
        raise UsageError(str(err)) from None
    try:
        with translated_errors(store.location, "read"):
            write, changed = _action(store, opts)
        failed = write_output(write)
    except NoSuchRun as err:
        raise UsageError(str(err)) from None
    except StoreError as err:
        from controller import logs  # noqa: PLC0415

        logs.get(__name__).error("%s", err)
        return EXIT_OUTPUT
    except ValueError as err:
        raise UsageError(str(err)) from None
    finally:
        store.close()
    if failed is not None:
        return failed
    return EXIT_CHANGES if changed else EXIT_OK


FORMATS_LIST = ("table", "json", "jsonl")


def _action(store: Store, opts: argparse.Namespace) -> Tuple[Callable[[], None], bool]:
    """Do what the action asks; return how to write its output, and if it found changes.

    ``diff`` exits 4 on changes, as ``--diff`` does.
    """
    now = time.time()
    if opts.action == "prune":
        removed = store.prune(now - parse_age(opts.older_than))
        return lambda: print(f"pruned {removed} runs older than {opts.older_than}"), False
    if opts.action == "list":
        since = now - parse_age(opts.since) if opts.since else None
        runs = store.runs(since)
        return lambda: _write_runs(runs, opts), False
    from controller.cli import filter_from  # noqa: PLC0415

    filt = filter_from(opts)
    newest = store.newest_runs(2)
    if not newest:
        msg = f"{store.location}: no saved runs"
        raise NoSuchRun(msg)
    if opts.action == "show":
        run_id = resolve_run(store, opts.run, now) if opts.run else newest[0]
        return lambda: _write_run(store, run_id, filt, opts), False
    new_id = resolve_run(store, opts.new, now) if opts.new else newest[0]
    if opts.old:
        old_id = resolve_run(store, opts.old, now)
    else:
        previous = [r.id for r in store.runs() if r.id < new_id]
        if not previous:
            msg = f"{store.location}: run {new_id} has no earlier run to compare with"
            raise NoSuchRun(msg)
        old_id = previous[-1]
    report = report_for(store, store.load(new_id), filt, baseline=old_id, run_id=new_id)
    write = partial(write_report, report, opts.output_format, header=not opts.no_header)
    return write, bool(report.changes)


def write_report(report: Report, fmt: str, *, header: bool = True) -> None:
    """Write a report of changes in a format (csv and msgpack are refused earlier)."""
    from controller import report as render  # noqa: PLC0415

    out = sys.stdout
    if fmt == "json":
        render.render_report_json(report, out)
    elif fmt == "jsonl":
        render.render_report_jsonl(report, out)
    else:
        render.render_report_table(report, out, header=header)
    out.flush()


def _write_runs(runs: List[RunInfo], opts: argparse.Namespace) -> None:
    import json  # noqa: PLC0415

    from common.format import escape_text  # noqa: PLC0415

    out = sys.stdout
    docs = [
        {"id": r.id, "started": r.started, "controller": r.controller, "shard": r.shard,
         "command": r.command, "targets": r.targets, "failed": r.failed or 0,
         "sockets": r.sockets or 0}
        for r in runs
    ]  # fmt: skip
    if opts.output_format == "json":
        json.dump(docs, out, indent=2)
        out.write("\n")
    elif opts.output_format == "jsonl":
        out.writelines(json.dumps(d) + "\n" for d in docs)
    else:
        rows = [("RUN", "STARTED", "CONTROLLER", "TARGETS", "FAILED", "SOCKETS", "COMMAND")]
        rows = rows[: 0 if opts.no_header else 1]
        for d in docs:
            started = time.strftime(
                "%Y-%m-%d %H:%M:%S", time.localtime(float(d["started"]))
            )
            rows.append((str(d["id"]), started, escape_text(str(d["controller"])),
                         str(d["targets"]), str(d["failed"]), str(d["sockets"]),
                         escape_text(str(d["command"]))))  # fmt: skip
        if rows:
            widths = [max(map(len, column)) for column in zip(*rows)]
            fmt = " ".join(f"%-{w}s" for w in widths[:-1]) + " %s\n"
            out.write("".join(fmt % row for row in rows))
    out.flush()


def _write_run(store: Store, run_id: int, filt: Filter, opts: argparse.Namespace) -> None:
    from controller.cli import render_listing  # noqa: PLC0415
    from controller.filters import select  # noqa: PLC0415

    result = store.load(run_id)
    shown = select(result, filt)
    zones = any(t.zone != "global" for t in result.targets)
    hosts = len({t.host for t in result.targets}) > 1
    render_listing(shown, opts, zone_column=zones, host_column=hosts)
