"""History: every run saved in SQLite (a file) or PostgreSQL (a ``postgresql://`` URL).

One schema and one code path, two dialects: SQL is written once with ``?``
placeholders (psycopg's are ``%s``), tables are created and migrated by numbered
steps recorded in ``schema_version``, and a run is saved in one transaction, so a
run killed at any moment leaves the database as it was before it.

A target's sockets are kept as the agent's own stream (common/wire.py: msgpack,
versioned, each process described once), read back through the same validating
decoder; beside them, its *identities* (controller/changes.py), packed with
msgpack too, which are all a diff reads: a million sockets are saved in a few
seconds and compared without being decoded again.

Two runs never interleave: a run that saves holds a lock for its whole length
(SQLite: an flock on ``DB.lock`` beside the file; PostgreSQL: an advisory lock per
shard, so shards of one fleet save side by side), and a second one waits a bounded
time for it, then gives up with StoreBusy.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket as socketlib
import time

from common.errors import FleetError
from common.limits import Limits
from common.schema import Snapshot
from common.schema import Socket
from controller.changes import identities
from controller.results import FleetResult
from controller.results import TargetResult
from controller.status import Status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from collections.abc import Sequence
    from typing import Any
    from typing import Dict
    from typing import FrozenSet
    from typing import List
    from typing import Optional
    from typing import Tuple

    from controller.changes import Identities

SCHEMA_VERSION = 1
# What a saved stream may hold: sockstat wrote it, but its size was the run's.
STORED = Limits(max_stream_bytes=1 << 40, max_sockets=1 << 40, max_messages=1 << 20)
# Step N brings a database from version N - 1 to N; {id} is the dialect's
# auto-numbered key, {float} its double, {blob} its byte string.
MIGRATIONS: Tuple[Tuple[str, ...], ...] = (
    (
        """CREATE TABLE runs (
            id {id},
            started {float} NOT NULL,
            command TEXT NOT NULL,
            controller TEXT NOT NULL,
            shard TEXT
        )""",
        """CREATE TABLE targets (
            run_id BIGINT NOT NULL,
            host TEXT NOT NULL,
            zone TEXT NOT NULL,
            status TEXT NOT NULL,
            error TEXT,
            elapsed {float} NOT NULL,
            platform TEXT,
            owners_from TEXT,
            sockets INTEGER NOT NULL,
            PRIMARY KEY (run_id, host, zone)
        )""",
        "CREATE INDEX targets_by_name ON targets (host, zone, status, run_id)",
        """CREATE TABLE target_data (
            run_id BIGINT NOT NULL,
            host TEXT NOT NULL,
            zone TEXT NOT NULL,
            stream {blob} NOT NULL,
            identities {blob} NOT NULL,
            PRIMARY KEY (run_id, host, zone)
        )""",
    ),
)
DATA_COLUMNS = "run_id, host, zone, stream, identities"
TARGET_COLUMNS = (
    "run_id, host, zone, status, error, elapsed, platform, owners_from, sockets"
)
# PostgreSQL's types of those columns, in their order, for a binary COPY.
COPY_TYPES = {
    "targets": ("int8", "text", "text", "text", "text", "float8", "text", "text", "int4"),
    "target_data": ("int8", "text", "text", "bytea", "bytea"),
}


class StoreError(FleetError):
    """The history database cannot be opened, read or written: one line, which DB."""


class StoreBusy(StoreError):
    """Another run holds the database's lock and did not let go in time."""


class RunInfo:
    """A saved run, as ``history list`` shows it."""

    __slots__ = ("command", "controller", "failed", "id", "shard", "sockets", "started",
                 "targets")  # fmt: skip

    def __init__(self, row: Sequence[Any]) -> None:
        (self.id, self.started, self.command, self.controller, self.shard,
         self.targets, self.failed, self.sockets) = row  # fmt: skip


class Store:
    """One history database; the dialect's differences are the attributes below."""

    placeholder = "?"
    id_type = "INTEGER PRIMARY KEY AUTOINCREMENT"
    float_type = "REAL"
    blob_type = "BLOB"
    has_versions = "SELECT count(*) FROM sqlite_master WHERE name = 'schema_version'"

    def __init__(self, location: str, connection: Any) -> None:
        self.location = location
        self.db = connection

    # -- the dialect ---------------------------------------------------------
    def sql(self, text: str) -> str:
        """Return SQL with this dialect's placeholders."""
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)

    def execute(self, text: str, params: Sequence[object] = ()) -> Any:
        """Run one statement; return the cursor."""
        cursor = self.db.cursor()
        cursor.execute(self.sql(text), tuple(params))
        return cursor

    def begin(self) -> None:
        """Start the transaction of a write."""
        self.execute("BEGIN")

    def commit(self) -> None:
        """End the transaction: the run is saved whole."""
        self.execute("COMMIT")

    def rollback(self) -> None:
        """Undo the transaction: the database is as it was before it."""
        self.execute("ROLLBACK")

    def bulk(self, table: str, columns: str, rows: List[Tuple[object, ...]]) -> None:
        """Insert many rows."""
        marks = ", ".join("?" * (columns.count(",") + 1))
        # Table and columns are this module's constants, never input.
        insert = f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608
        self.db.cursor().executemany(self.sql(insert), rows)

    def new_run_id(self, started: float, command: str, shard: Optional[str]) -> int:
        """Insert the run's row and return its id."""
        cursor = self.execute(
            "INSERT INTO runs (started, command, controller, shard) VALUES (?, ?, ?, ?)",
            (started, command, socketlib.gethostname(), shard),
        )
        return int(cursor.lastrowid)

    def lock(self, shard: Optional[str], timeout: float) -> None:
        """Hold the run lock until close(), waiting at most ``timeout`` seconds."""
        raise NotImplementedError

    def close(self) -> None:
        """Close the connection (and let go of the lock)."""
        self.db.close()

    # -- schema --------------------------------------------------------------
    def version(self) -> int:
        """Return the schema version (0: no tables yet), without writing."""
        if not self.execute(self.has_versions).fetchone()[0]:
            return 0
        row = self.execute("SELECT max(version) FROM schema_version").fetchone()
        return int(row[0] or 0)

    def migrate(self) -> None:
        """Create the tables, or bring an older schema up to this version.

        A database already at this version is only read: a read-only history can
        still be diffed against.
        """
        current = self.version()
        _check_version(self.location, current)
        if current == SCHEMA_VERSION:
            return
        self.begin()
        try:
            self._serialize_migrations()
            self.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
            row = self.execute("SELECT max(version) FROM schema_version").fetchone()
            current = row[0] or 0
            _check_version(self.location, current)
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[version - 1]:
                    self.execute(
                        statement.format(
                            id=self.id_type, float=self.float_type, blob=self.blob_type
                        )
                    )
                self.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
            self.commit()
        except BaseException:
            self.rollback()
            raise

    def _serialize_migrations(self) -> None:
        """Keep two controllers from creating the tables at once (PostgreSQL)."""

    # -- writing -------------------------------------------------------------
    def save(
        self,
        result: FleetResult,
        *,
        started: float,
        command: str,
        shard: Optional[str],
        known: Optional[Dict[int, Identities]] = None,
    ) -> int:
        """Save a run in one transaction; return its id.

        ``known``: identities already worked out (by a diff), by ``id(target)``.
        """
        targets, data = _rows(result, known or {})
        self.begin()
        try:
            run_id = self.new_run_id(started, command, shard)
            self.bulk("targets", TARGET_COLUMNS, [(run_id, *row) for row in targets])
            self.bulk("target_data", DATA_COLUMNS, [(run_id, *row) for row in data])
            self.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                self.rollback()
            raise
        return run_id

    def prune(self, before: float) -> int:
        """Delete the runs started before ``before``; return how many."""
        self.begin()
        try:
            ids = [r[0] for r in self.execute("SELECT id FROM runs WHERE started < ?",
                                              (before,)).fetchall()]  # fmt: skip
            for table in ("target_data", "targets"):
                self.execute(
                    f"DELETE FROM {table} WHERE run_id IN "  # noqa: S608
                    "(SELECT id FROM runs WHERE started < ?)",
                    (before,),
                )
            self.execute("DELETE FROM runs WHERE started < ?", (before,))
            self.commit()
        except BaseException:
            self.rollback()
            raise
        return len(ids)

    # -- reading -------------------------------------------------------------
    def runs(self, since: Optional[float] = None) -> List[RunInfo]:
        """Return the saved runs, oldest first, with their target and socket counts."""
        rows = self.execute(
            "SELECT r.id, r.started, r.command, r.controller, r.shard, count(t.host), "
            "sum(CASE WHEN t.status IN ('ok', 'fallback', 'skipped') THEN 0 ELSE 1 END), "
            "sum(t.sockets) FROM runs r LEFT JOIN targets t ON t.run_id = r.id "
            "WHERE r.started >= ? GROUP BY r.id, r.started, r.command, r.controller, "
            "r.shard ORDER BY r.id",
            (since or 0.0,),
        ).fetchall()
        return [RunInfo(row) for row in rows]

    def run_at(self, age: float, now: float) -> Optional[int]:
        """Return the newest run started at least ``age`` seconds before ``now``."""
        row = self.execute(
            "SELECT max(id) FROM runs WHERE started <= ?", (now - age,)
        ).fetchone()
        return None if row[0] is None else int(row[0])

    def newest_runs(self, count: int) -> List[int]:
        """Return the ids of the newest ``count`` runs, newest first."""
        rows = self.execute("SELECT id FROM runs ORDER BY id DESC LIMIT ?", (count,))
        return [int(r[0]) for r in rows.fetchall()]

    def has_run(self, run_id: int) -> bool:
        """Whether a run of this id is saved."""
        row = self.execute("SELECT count(*) FROM runs WHERE id = ?", (run_id,)).fetchone()
        return bool(row[0])

    def last_good(
        self, host: str, zone: str, before: Optional[int] = None
    ) -> Optional[int]:
        """Return the newest run (before ``before``) in which this target answered."""
        row = self.execute(
            "SELECT max(run_id) FROM targets WHERE host = ? AND zone = ? "
            "AND status IN ('ok', 'fallback') AND run_id < ?",
            (host, zone, before if before is not None else 1 << 62),
        ).fetchone()
        return None if row[0] is None else int(row[0])

    def last_status(
        self, host: str, zone: str, before: Optional[int] = None
    ) -> Optional[str]:
        """Return this target's status in the newest run (before run ``before``)."""
        row = self.execute(
            "SELECT status FROM targets WHERE host = ? AND zone = ? AND run_id = "
            "(SELECT max(run_id) FROM targets WHERE host = ? AND zone = ? AND run_id < ?)",
            (host, zone, host, zone, before if before is not None else 1 << 62),
        ).fetchone()
        return None if row is None else str(row[0])

    def target_sockets(self, run_id: int, host: str, zone: str) -> List[Socket]:
        """Return the sockets one target had in one run, with their owners."""
        snapshot = self.snapshot(run_id, host, zone)
        return [] if snapshot is None else list(snapshot.sockets)

    def snapshot(self, run_id: int, host: str, zone: str) -> Optional[Snapshot]:
        """Return one target's saved snapshot, None if it had none."""
        from common.decode import decode_snapshot  # noqa: PLC0415

        row = self.execute(
            "SELECT stream FROM target_data WHERE run_id = ? AND host = ? AND zone = ?",
            (run_id, host, zone),
        ).fetchone()
        if row is None:
            return None
        return decode_snapshot(bytes(row[0]), STORED)

    def identities(self, run_id: int, host: str, zone: str) -> Identities:
        """Return one target's saved identities (controller/changes.py)."""
        import msgpack  # noqa: PLC0415 - the controller's dependency

        row = self.execute(
            "SELECT identities FROM target_data WHERE run_id = ? AND host = ? AND zone = ?",
            (run_id, host, zone),
        ).fetchone()
        if row is None:
            return {}
        sets: Dict[Tuple[str, ...], FrozenSet[str]] = {}  # few distinct sets
        found: Identities = {}
        for kind, proto, local, remote, command, *commands in msgpack.unpackb(
            bytes(row[0]), raw=False
        ):
            names = tuple(commands)
            known = sets.get(names)
            if known is None:
                known = sets[names] = frozenset(names)
            found[(kind, proto, local, remote, command)] = known
        return found

    def load(self, run_id: int) -> FleetResult:
        """Return a saved run as the survey returned it: targets with their snapshots."""
        started = self.execute(
            "SELECT started FROM runs WHERE id = ?", (run_id,)
        ).fetchone()
        if started is None:
            msg = f"{self.location}: no run {run_id}"
            raise StoreError(msg)
        targets = []
        for host, zone, status, error, elapsed in self.execute(
            "SELECT host, zone, status, error, elapsed FROM targets WHERE run_id = ? "
            "ORDER BY host, zone",
            (run_id,),
        ).fetchall():
            snapshot = self.snapshot(run_id, host, zone)
            if snapshot is not None:
                snapshot.host, snapshot.zone = host, zone
            targets.append(TargetResult(host, zone, Status(status), error, elapsed,
                                        snapshot))  # fmt: skip
        return FleetResult(targets)


class SqliteStore(Store):
    """A history file: SQLite, created when missing."""

    def __init__(self, path: str) -> None:
        import sqlite3  # noqa: PLC0415 - history runs only

        try:
            connection = sqlite3.connect(path, timeout=30.0, isolation_level=None)
        except sqlite3.Error as err:
            msg = f"cannot open history {path}: {err}"
            raise StoreError(msg) from None
        super().__init__(path, connection)
        self._lock_fd: Optional[int] = None
        # A killed writer leaves a journal the next open rolls back (atomic commit).
        self.execute("PRAGMA synchronous = NORMAL")

    def begin(self) -> None:
        """Start a write transaction, taking SQLite's write lock at once."""
        self.execute("BEGIN IMMEDIATE")

    def lock(self, shard: Optional[str], timeout: float) -> None:
        """Take an flock on the database file itself, opened read-only.

        SQLite locks with fcntl(), which is independent of flock() on Linux; a
        lock held by a process ends with it, however it ends.
        """
        path = self.location
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as err:
            msg = f"cannot open {path} to lock it: {err.strerror or err}"
            raise StoreError(msg) from None
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    msg = (
                        f"{path}: another sockstat run still holds this history after "
                        f"{timeout:g} s (--lock-timeout)"
                    )
                    raise StoreBusy(msg) from None
                time.sleep(0.1)
                continue
            self._lock_fd = fd
            return

    def close(self) -> None:
        """Close the database, then let go of the lock."""
        super().close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


class PostgresStore(Store):
    """A history shared by several controllers: PostgreSQL, through psycopg 3."""

    placeholder = "%s"
    id_type = "BIGSERIAL PRIMARY KEY"
    float_type = "DOUBLE PRECISION"
    blob_type = "BYTEA"
    has_versions = "SELECT to_regclass('schema_version') IS NOT NULL"
    LOCK_CLASS = 0x50C5  # pg_advisory_lock's first key: sockstat's locks

    def __init__(self, url: str) -> None:
        try:
            import psycopg  # noqa: PLC0415
        except ImportError:
            msg = "a postgresql:// history needs psycopg: pip install sockstat[postgresql]"
            raise StoreError(msg) from None
        try:
            connection = psycopg.connect(url, connect_timeout=10, autocommit=True)
        except psycopg.Error as err:
            msg = f"cannot connect to the history database: {_first_line(err)}"
            raise StoreError(msg) from None
        super().__init__(_redacted(url), connection)
        self._lock_db: Any = None
        self._url = url

    def new_run_id(self, started: float, command: str, shard: Optional[str]) -> int:
        """Insert the run's row and return its id (RETURNING: no lastrowid here)."""
        cursor = self.execute(
            "INSERT INTO runs (started, command, controller, shard) VALUES (?, ?, ?, ?) "
            "RETURNING id",
            (started, command, socketlib.gethostname(), shard),
        )
        return int(cursor.fetchone()[0])

    def bulk(self, table: str, columns: str, rows: List[Tuple[object, ...]]) -> None:
        """COPY the rows in, binary: the text format sends every stream as hex.

        Ten times INSERT's speed at a million sockets, and three times a text COPY's.
        """
        statement = f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)"
        with self.db.cursor().copy(statement) as copy:
            copy.set_types(list(COPY_TYPES[table]))
            for row in rows:
                copy.write_row(row)

    def begin(self) -> None:
        """Start the transaction; streams compressed with lz4 where the server can.

        The server compresses each stream as it stores it (TOAST): pglz, the
        default, costs a save more than the COPY itself; lz4 (PostgreSQL 14 and
        later, built --with-lz4) is several times faster.  Elsewhere pglz stays.
        """
        import psycopg  # noqa: PLC0415

        # Before BEGIN, in autocommit: a refusal aborts nothing.
        with contextlib.suppress(psycopg.Error):
            self.execute("SET default_toast_compression = 'lz4'")
        super().begin()

    def _serialize_migrations(self) -> None:
        self.execute("SELECT pg_advisory_xact_lock(?, 0)", (self.LOCK_CLASS,))

    def lock(self, shard: Optional[str], timeout: float) -> None:
        """Take an advisory lock per shard, on a connection of its own."""
        import psycopg  # noqa: PLC0415

        key = _shard_key(shard)
        self._lock_db = psycopg.connect(self._url, connect_timeout=10, autocommit=True)
        deadline = time.monotonic() + timeout
        while True:
            row = self._lock_db.execute(
                "SELECT pg_try_advisory_lock(%s, %s)", (self.LOCK_CLASS, key)
            ).fetchone()
            if row[0]:
                return
            if time.monotonic() >= deadline:
                self._lock_db.close()
                msg = (
                    f"{self.location}: another sockstat run of shard {shard or 'all'} "
                    f"still holds the lock after {timeout:g} s (--lock-timeout)"
                )
                raise StoreBusy(msg)
            time.sleep(0.1)

    def close(self) -> None:
        """Close both connections: the server lets go of the advisory lock."""
        super().close()
        if self._lock_db is not None:
            self._lock_db.close()


def open_store(location: str) -> Store:
    """Open (creating and migrating) the history at a path or a postgresql:// URL."""
    store: Store
    if location.startswith(("postgresql://", "postgres://")):
        store = PostgresStore(location)
    else:
        store = SqliteStore(location)
    try:
        with translated_errors(store.location, "open"):
            store.migrate()
    except BaseException:
        store.close()
        raise
    return store


@contextlib.contextmanager
def translated_errors(location: str, doing: str) -> Iterator[None]:
    """Turn the drivers' and the OS's errors into one StoreError line."""
    import sqlite3  # noqa: PLC0415

    errors: Tuple[type[BaseException], ...] = (sqlite3.Error, OSError)
    try:
        import psycopg  # noqa: PLC0415

        errors += (psycopg.Error,)
    except ImportError:
        pass
    try:
        yield
    except StoreError:
        raise
    except errors as err:
        msg = f"cannot {doing} history {location}: {_first_line(err)}"
        raise StoreError(msg) from None


def _check_version(location: str, version: int) -> None:
    if version > SCHEMA_VERSION:
        msg = (
            f"{location}: history schema version {version} is newer than this "
            f"sockstat's ({SCHEMA_VERSION}); upgrade sockstat"
        )
        raise StoreError(msg)


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def redacted_command(argv: Sequence[str]) -> str:
    """Return the command line to save: database URLs without their passwords."""
    import shlex  # noqa: PLC0415

    words = [
        _redacted(w) if w.startswith(("postgresql://", "postgres://")) else w for w in argv
    ]
    return shlex.join(words)


def _redacted(url: str) -> str:
    """Return the URL without its password, for messages."""
    scheme, sep, rest = url.partition("://")
    credentials, at, place = rest.rpartition("@")
    if not at:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}@{place}"


def _shard_key(shard: Optional[str]) -> int:
    import zlib  # noqa: PLC0415

    return zlib.crc32((shard or "all").encode()) & 0x7FFFFFFF


def _rows(
    result: FleetResult, known: Dict[int, Identities]
) -> Tuple[List[Tuple[object, ...]], List[Tuple[object, ...]]]:
    import msgpack  # noqa: PLC0415 - the controller's dependency

    from common.wire import encode_snapshot  # noqa: PLC0415

    pack = msgpack.Packer(use_bin_type=True).pack
    targets: List[Tuple[object, ...]] = []
    data: List[Tuple[object, ...]] = []
    for target in result.targets:
        snapshot = target.snapshot
        host, zone = target.host, target.zone
        targets.append((
            host, zone, target.status.value, target.error, target.elapsed,
            snapshot.platform if snapshot is not None else None,
            snapshot.owners_from if snapshot is not None else None,
            len(snapshot.sockets) if snapshot is not None else 0,
        ))  # fmt: skip
        if snapshot is None:
            continue
        keys = known.get(id(target))
        if keys is None:
            keys = identities(snapshot.sockets)
        # [kind, proto, local, remote, command, *commands] per identity, as msgpack.
        found = pack([[*key, *sorted(commands)] for key, commands in keys.items()])
        data.append((host, zone, b"".join(encode_snapshot(snapshot)), found))
    return targets, data
