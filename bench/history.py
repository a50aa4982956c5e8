"""Save and diff a run of 1,000,000 sockets, on SQLite and PostgreSQL (issue #13.7).

Synthetic snapshots (HOSTS x ZONES targets, SOCKETS sockets in all) go through the
controller's own path: each target's agent stream is decoded (common/decode.py: the
merge), the listing is rendered as the default table to /dev/null, and the run is
saved (controller/store.py).  A second run, with 0.1% of the listeners moved to
another port, is then diffed against the history (controller/history.py report_for)
and saved in turn.  Each step runs in a
fresh process, so its peak RSS is its own.

    python3 -m bench.history [--sockets 1000000] [--hosts 100] [--zones 10]

PostgreSQL is started by tests/pg.py (as nobody, on a Unix socket): run as root.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common.decode import decode_snapshot
from common.limits import Limits
from common.schema import Family
from common.schema import Owner
from common.schema import Proto
from common.schema import Snapshot
from common.schema import Socket
from common.wire import encode_snapshot
from controller import render
from controller.filters import Filter
from controller.filters import select
from controller.history import report_for
from controller.results import FleetResult
from controller.results import TargetResult
from controller.status import Status
from controller.store import open_store

ROOT = Path(__file__).resolve().parent.parent


def synthetic(hosts: int, zones: int, sockets: int, changed: bool) -> list[bytes]:
    """One agent stream per target; ``changed``: every 100th listener moves."""

    per = sockets // (hosts * zones)
    streams = []
    for h in range(hosts):
        for z in range(zones):
            found = []
            for i in range(per):
                pid = 1000 + i % 50
                owner = Owner(pid, 3 + i, 0, "svc", f"svc{pid}", f"/usr/bin/svc{pid} -x")
                if i % 10 == 0:  # a listener
                    port = 1024 + i + (1 if changed and i % 1000 == 0 else 0)
                    sock = Socket(
                        Proto.TCP,
                        Family.INET,
                        "stream",
                        "LISTEN",
                        "0.0.0.0",  # noqa: S104
                        port,
                        None,
                        None,
                        None,
                        10_000 + i,
                        0,
                        None,
                        (owner,),
                    )
                else:  # a client of another host's service, from an ephemeral port
                    remote = f"10.1.{h % 250}.{i % 250}"
                    sock = Socket(
                        Proto.TCP,
                        Family.INET,
                        "stream",
                        "ESTABLISHED",
                        "10.0.0.1",
                        30_000 + i % 30_000,
                        remote,
                        443 + i % 7,
                        None,
                        10_000 + i,
                        0,
                        None,
                        (owner,),
                    )
                found.append(sock)
            snapshot = Snapshot(
                f"host{h}",
                f"zone{z}",
                "linux",
                "Linux 6",
                "0.1",
                time.time(),
                sockets=tuple(found),
                owners_from="holders",
            )
            streams.append(b"".join(encode_snapshot(snapshot)))
    return streams


def merged(streams: list[bytes]) -> FleetResult:

    limits = Limits(max_sockets=10_000_000, max_stream_bytes=1 << 32)
    targets = []
    for stream in streams:
        snapshot = decode_snapshot(stream, limits)
        targets.append(
            TargetResult(snapshot.host, snapshot.zone, Status.OK, None, 0.1, snapshot)
        )
    return FleetResult(targets)


def step_save(args: argparse.Namespace) -> dict[str, float]:

    streams = synthetic(args.hosts, args.zones, args.sockets, args.changed)
    clock = time.perf_counter()
    result = merged(streams)
    merge = time.perf_counter() - clock
    with open(os.devnull, "w") as out:  # the default output: the seed's table
        table = render.TableOptions(host_column=True, zone_column=True)
        render.render_table(select(result, Filter.from_switches()), out, table)
    rendered = time.perf_counter() - clock - merge
    store = open_store(args.db)
    store.save(result, started=time.time(), command="bench", shard=None)
    store.close()
    saved = time.perf_counter() - clock - merge - rendered
    return {
        "merge": merge,
        "render": rendered,
        "save": saved,
        "total": time.perf_counter() - clock,
    }


def step_diff(args: argparse.Namespace) -> dict[str, float]:

    streams = synthetic(args.hosts, args.zones, args.sockets, True)
    result = merged(streams)
    store = open_store(args.db)
    clock = time.perf_counter()
    everything = Filter(frozenset(Proto), frozenset(Family))
    report = report_for(store, result, everything)
    elapsed = time.perf_counter() - clock
    store.close()
    return {"diff": elapsed, "changes": float(len(report.changes))}


def child(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("step")
    parser.add_argument("db")
    parser.add_argument("--sockets", type=int)
    parser.add_argument("--hosts", type=int)
    parser.add_argument("--zones", type=int)
    parser.add_argument("--changed", action="store_true")
    args = parser.parse_args(argv)
    # As sockstat itself runs (controller/cli.py main): without the cyclic collector,
    # which would rescan every record already decoded (a third of the time here).
    gc.disable()
    figures = step_save(args) if args.step == "save" else step_diff(args)
    figures["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(figures))


def run_step(step: str, db: str, args: argparse.Namespace, *extra: str) -> dict[str, float]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.history",
            "--child",
            step,
            db,
            "--sockets",
            str(args.sockets),
            "--hosts",
            str(args.hosts),
            "--zones",
            str(args.zones),
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(done.stdout.splitlines()[-1]))


def size_of(db: str) -> float:
    if db.startswith("postgresql://"):
        import psycopg  # noqa: PLC0415 - PostgreSQL runs only

        with psycopg.connect(db) as conn:
            row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        return float(row[0]) / (1 << 20)
    return os.path.getsize(db) / (1 << 20)


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sockets", type=int, default=1_000_000)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--zones", type=int, default=10)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    directory = tempfile.mkdtemp(prefix="sockstat-bench-")
    databases = {"SQLite": os.path.join(directory, "history.db")}
    server = None
    if not args.no_postgres:
        from tests.pg import Postgres  # noqa: PLC0415 - starts a server, needs root

        server = Postgres()
        databases["PostgreSQL"] = server.database("bench")
    try:
        print(f"{args.sockets} sockets, {args.hosts} hosts x {args.zones} zones")
        for name, db in databases.items():
            first = run_step("save", db, args)
            diff = run_step("diff", db, args)
            second = run_step("save", db, args, "--changed")
            size = size_of(db) / 2 * 1_000_000 / args.sockets  # two runs saved
            print(
                f"{name}: merge {first['merge']:.2f} s + render {first['render']:.2f} s"
                f" + save {first['save']:.2f} s = {first['total']:.2f} s, peak "
                f"{first['peak_rss_mib']:.0f} MiB (second run {second['total']:.2f} s); "
                f"diff {diff['diff']:.2f} s ({diff['changes']:.0f} changes), peak "
                f"{diff['peak_rss_mib']:.0f} MiB; {size:.0f} MiB per million sockets"
            )
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
