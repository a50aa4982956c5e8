"""Render the shown sockets as the seed's table, JSON, JSON lines, CSV or msgpack.

Collection never prints; this module never collects, and never filters: it takes
the rows controller/filters.py selected.  Every string that came from a zone
(user, command, args, unix path) is escaped before it reaches a table or CSV;
JSON escapes control characters itself.
"""

from __future__ import annotations

from common.format import NO_PEER
from common.format import PROTO_LABELS
from common.format import UNKNOWN
from common.format import escape_text
from common.format import format_endpoint
from common.format import proto_label
from common.schema import Family
from common.schema import Owner
from common.schema import Proto
from common.schema import Record
from common.schema import Snapshot
from common.schema import Socket

TYPE_CHECKING = False  # typing is not imported at run time: start-up (issue #10)
if TYPE_CHECKING:
    from typing import IO
    from typing import Dict
    from typing import List
    from typing import Optional
    from typing import Set
    from typing import TextIO
    from typing import Tuple

    from controller.filters import Selection
    from controller.results import TargetResult

    Cells = Tuple[str, str, str, str]  # USER, COMMAND, PID, ARGS of one process
    # HOST/ZONE cells, owner cells, PROTO, LOCAL, REMOTE, STATE
    Row = Tuple[Tuple[str, ...], Cells, str, str, str, str]


class TableOptions(Record):
    """The seed's table switches."""

    __slots__ = ("args", "header", "host_column", "numeric", "state", "zone_column")

    def __init__(
        self,
        *,
        header: bool = True,  # -H turns it off
        args: bool = False,  # -a
        state: bool = False,  # -s
        numeric: bool = False,  # -n: uids, not user names
        host_column: bool = False,
        zone_column: bool = False,
    ) -> None:
        self.header = header
        self.args = args
        self.state = state
        self.numeric = numeric
        self.host_column = host_column
        self.zone_column = zone_column


class _Escaper:
    """Escape untrusted text once per distinct value (processes repeat a lot)."""

    def __init__(self) -> None:
        self._seen: Dict[str, str] = {}

    def __call__(self, text: Optional[str]) -> str:
        if text is None:
            return UNKNOWN
        try:
            return self._seen[text]
        except KeyError:
            safe = self._seen[text] = escape_text(text)
            return safe


class UnixPeers:
    """Describe a unix socket's peer: its path, else the [PID FD] holding it."""

    def __init__(self) -> None:
        self._indexes: Dict[int, Dict[int, Socket]] = {}

    def describe(self, snapshot: Snapshot, sock: Socket) -> str:
        """Return the REMOTE ADDRESS text of a unix socket of this snapshot."""
        if not sock.peer:
            return NO_PEER
        index = self._indexes.get(id(snapshot))
        if index is None:
            index = self._indexes[id(snapshot)] = {
                s.inode: s for s in snapshot.sockets if s.proto is Proto.UNIX and s.inode
            }
        peer = index.get(sock.peer)
        if peer is None:
            return f"socket:[{sock.peer}]"
        if peer.path:
            return peer.path
        if peer.owners:
            return f"[{peer.owners[0].pid} {peer.owners[0].fd}]"
        return f"socket:[{sock.peer}]"


def _addresses(
    snapshot: Snapshot, sock: Socket, peers: UnixPeers, escape: _Escaper
) -> Tuple[str, str]:
    if sock.proto is Proto.UNIX:
        local = escape(sock.path) if sock.path else "(unnamed)"
        return local, escape(peers.describe(snapshot, sock))
    local = format_endpoint(sock.local_address, sock.local_port, sock.family)
    if not sock.remote_port:
        return local, NO_PEER
    return local, format_endpoint(sock.remote_address, sock.remote_port, sock.family)


def _owner_cells(
    owner: Optional[Owner], opts: TableOptions, escape: _Escaper
) -> Tuple[str, str, str, str]:
    """Return the (USER, COMMAND, PID, ARGS) cells of one owner."""
    if owner is None:
        return UNKNOWN, UNKNOWN, UNKNOWN, ""
    if opts.numeric or owner.user is None:
        user = UNKNOWN if owner.uid is None else str(owner.uid)
    else:
        user = escape(owner.user)
    args = escape(owner.args) if opts.args else ""
    return user, escape(owner.command), str(owner.pid), args


def table_header(opts: TableOptions) -> Tuple[str, ...]:
    """Return the column titles for these options."""
    head: Tuple[str, ...] = ()
    if opts.host_column:
        head += ("HOST",)
    if opts.zone_column:
        head += ("ZONE",)
    head += ("USER", "COMMAND", "PID", "PROTO", "LOCAL ADDRESS", "REMOTE ADDRESS")
    if opts.state:
        head += ("STATE",)
    if opts.args:
        head += ("ARGS",)
    return head


def render_table(shown: Selection, out: TextIO, opts: TableOptions) -> int:
    """Write the seed's table with columns sized to fit; return the number of rows."""
    if opts.host_column or opts.zone_column or opts.state or opts.args:
        lines = _grid_lines(shown, opts)
    else:
        lines = _plain_lines(shown, opts)
    write = out.write
    for start in range(0, len(lines), 4096):
        write("".join(lines[start : start + 4096]))
    return len(lines) - (1 if opts.header and lines else 0)


def _grid_lines(shown: Selection, opts: TableOptions) -> List[str]:
    """Every table's lines: cells in a grid, each column as wide as its widest cell.

    Formatted straight from _row_items' list: a million rows are not made twice.
    """
    items, used, protos, widest = _row_items(shown, opts)
    header = table_header(opts)
    if not opts.args:
        header += ("",)  # rows always end with the ARGS cell, empty without -a
    if not items and not opts.header:
        return []
    widths = _widths(items, used, protos, widest, opts, header)
    # The last column is not padded; without -a it is empty, and so is its blank.
    if opts.args:
        fmt = " ".join(f"%-{w}s" for w in widths[:-1]) + " %s\n"
    else:
        fmt = " ".join(f"%-{w}s" for w in widths[:-2]) + " %s%s\n"
    lines = [fmt % header] if opts.header else []
    if opts.state:
        lines += [
            fmt % (*front, cell[0], cell[1], cell[2], proto, local, remote, state, cell[3])
            for front, cell, proto, local, remote, state in items
        ]
    else:
        lines += [
            fmt % (*front, cell[0], cell[1], cell[2], proto, local, remote, cell[3])
            for front, cell, proto, local, remote, _ in items
        ]
    return lines


def _plain_lines(shown: Selection, opts: TableOptions) -> List[str]:
    """Return the usual table's lines (one zone, no -s or -a) as _grid_lines would.

    Faster for its shape: the cells before LOCAL ADDRESS are one process's, so each
    (process, protocol) is padded once (10,000 rows: 9 ms instead of 12).
    tests/test_render.py holds the two to the same text.
    """
    items, used, protos, widest = _row_items(shown, opts)
    header = (*table_header(opts), "")
    if not items and not opts.header:
        return []
    w0, w1, w2, w3, w4 = _widths(items, used, protos, widest, opts, header)[:5]
    # What _grid_lines' format makes of a row, cut in two: the owner and protocol
    # cells, then the addresses (the last column unpadded; ARGS empty without -a).
    head = f"%-{w0}s %-{w1}s %-{w2}s %-{w3}s "
    tail = f"%s%-{w4}s %s\n"
    lines = [tail % (head % header[:4], header[4], header[5])] if opts.header else []
    add = lines.append
    prefixes: Dict[Tuple[Cells, str], str] = {}
    for _, cell, proto, local, remote, _ in items:
        prefix = prefixes.get((cell, proto))
        if prefix is None:
            prefix = prefixes[cell, proto] = head % (cell[0], cell[1], cell[2], proto)
        add(tail % (prefix, local, remote))
    return lines


def _widths(
    items: List[Row],
    used: Set[Cells],
    protos: Set[str],
    widest: int,
    opts: TableOptions,
    header: Tuple[str, ...],
) -> List[int]:
    """Each column's width: its widest cell or title, 0 for a column never padded.

    From the distinct cells where there are few (hosts and zones, processes,
    protocols) and one pass over the rows where there are many.  The last column
    is never padded, and REMOTE ADDRESS only with a column after it (-s, -a).
    """
    fronts = {item[0] for item in items} if opts.host_column or opts.zone_column else ()
    widths = [
        max((len(front[i]) for front in fronts), default=0)
        for i in range(opts.host_column + opts.zone_column)
    ]
    widths += [max((len(cell[i]) for cell in used), default=0) for i in range(3)]
    widths += [max(map(len, protos), default=0), widest]
    padded = opts.state or opts.args
    widths.append(max((len(item[4]) for item in items), default=0) if padded else 0)
    if opts.state:
        widths.append(max((len(item[5]) for item in items), default=0))
    widths.append(0)
    if opts.header:
        widths = [max(width, len(title)) for width, title in zip(widths, header)]
    return widths


def _row_items(
    shown: Selection, opts: TableOptions
) -> Tuple[List[Row], Set[Cells], Set[str], int]:
    """Return the table's rows as (front, owner cells, protocol, local, remote, state).

    One per (socket, owner), ``?`` cells for unknown owners; ``front`` is the HOST
    and ZONE cells the options ask for.  With them, for the widths: the distinct
    owner cells and protocols, and the length of the longest local address.  The
    hot path of a 60,000-row table: one loop, IPv4 endpoints formatted inline,
    owner cells made once per process.
    """
    escape = _Escaper()
    peers = UnixPeers()
    unknown = _owner_cells(None, opts, escape)
    items: List[Row] = []
    append = items.append
    used: Set[Cells] = set()
    protos: Set[str] = set()
    widest = 0
    inet = Family.INET
    for target, sockets in shown.by_target():
        snapshot = target.snapshot
        if snapshot is None:  # pragma: no cover - only answered targets have rows
            continue
        front: Tuple[str, ...] = ()
        if opts.host_column:
            front += (escape(target.host),)
        if opts.zone_column:
            front += (escape(target.zone),)
        cells: Dict[int, Cells] = {}  # per pid, within one target
        for sock in sockets:
            if sock.family is inet:
                port = sock.local_port
                local = (
                    f"{sock.local_address}:{port}" if port else f"{sock.local_address}:*"
                )
                port = sock.remote_port
                remote = f"{sock.remote_address}:{port}" if port else NO_PEER
            else:
                local, remote = _addresses(snapshot, sock, peers, escape)
            if len(local) > widest:  # noqa: PLR1730 - max() would be a call per row
                widest = len(local)
            proto = PROTO_LABELS[sock.proto, sock.family]
            protos.add(proto)
            for owner in sock.owners or (None,):
                if owner is None:
                    cell = unknown
                    used.add(unknown)
                else:
                    found = cells.get(owner.pid)
                    if found is None:
                        found = cells[owner.pid] = _owner_cells(owner, opts, escape)
                        used.add(found)
                    cell = found
                append((front, cell, proto, local, remote, sock.state))
    return items, used, protos, widest


def _owner_json(owner: Owner) -> Dict[str, object]:
    return {
        "pid": owner.pid,
        "fd": owner.fd,
        "uid": owner.uid,
        "user": owner.user,
        "command": owner.command,
        "args": owner.args,
    }


def socket_json(target: TargetResult, sock: Socket) -> Dict[str, object]:
    """Return the JSON object of one socket (the documented contract)."""
    return {
        "host": target.host,
        "zone": target.zone,
        "proto": proto_label(sock),
        "family": sock.family.value,
        "type": sock.sock_type,
        "state": sock.state,
        "local_address": sock.local_address,
        "local_port": sock.local_port,
        "remote_address": sock.remote_address,
        "remote_port": sock.remote_port,
        "path": sock.path,
        "inode": sock.inode,
        "peer": sock.peer,
        "uid": sock.uid,
        "owners": [_owner_json(o) for o in sock.owners],
    }


def target_json(target: TargetResult, shown: int) -> Dict[str, object]:
    """Return the JSON object of one target's status."""
    snapshot = target.snapshot
    return {
        "host": target.host,
        "zone": target.zone,
        "status": target.status.value,
        "error": target.error,
        "sockets": shown,
        "elapsed_ms": round(target.elapsed * 1000, 1),
        "warnings": list(snapshot.warnings) if snapshot else [],
        "resolved_by": list(target.resolved_by),
        # "holders": every process holding each socket; "creator": the one that
        # created it (illumos without root); null: no owners were listed.
        "owners_from": snapshot.owners_from if snapshot else None,
    }


def render_json(shown: Selection, out: TextIO) -> None:
    """Write one object: ``{"targets": [...], "sockets": [...]}``."""
    import json  # noqa: PLC0415 - imported by the formats that use it

    counts = shown.counts()
    sockets = [socket_json(target, sock) for target, sock in shown.rows]
    targets = [target_json(t, counts.get(id(t), 0)) for t in shown.targets]
    json.dump({"targets": targets, "sockets": sockets}, out, indent=1)
    out.write("\n")


def render_jsonl(shown: Selection, out: TextIO) -> None:
    """Write one socket object per line."""
    import json  # noqa: PLC0415

    dumps = json.JSONEncoder(separators=(",", ":")).encode
    for target, sock in shown.rows:
        out.write(dumps(socket_json(target, sock)))
        out.write("\n")


CSV_COLUMNS = (
    "host",
    "zone",
    "proto",
    "state",
    "local_address",
    "local_port",
    "remote_address",
    "remote_port",
    "path",
    "inode",
    "uid",
    "pid",
    "fd",
    "user",
    "command",
    "args",
)


# Spreadsheet programs run a cell that starts with one of these as a formula
# (OWASP "CSV Injection"); such text cells get a leading apostrophe.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(text: str) -> str:
    """Return text a spreadsheet will show, never evaluate.

    >>> csv_cell("=HYPERLINK(1)")
    "'=HYPERLINK(1)"
    """
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def render_csv(shown: Selection, out: TextIO, *, header: bool = True) -> None:
    """Write one CSV row per (socket, owner); empty cells for unknown values."""
    import csv  # noqa: PLC0415

    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(CSV_COLUMNS)
    escape = _Escaper()

    def text(value: Optional[str]) -> str:
        return "" if value is None else csv_cell(escape(value))

    for target, sock in shown.rows:
        base = [
            text(target.host),
            text(target.zone),
            proto_label(sock),
            sock.state,
            text(sock.local_address),
            "" if sock.local_port is None else sock.local_port,
            text(sock.remote_address),
            "" if sock.remote_port is None else sock.remote_port,
            text(sock.path),
            "" if sock.inode is None else sock.inode,
            "" if sock.uid is None else sock.uid,
        ]
        for owner in sock.owners or (None,):
            if owner is None:
                writer.writerow([*base, "", "", "", "", ""])
            else:
                writer.writerow(
                    [*base, owner.pid, "" if owner.fd is None else owner.fd,
                     text(owner.user), text(owner.command), text(owner.args)]
                )  # fmt: skip


def render_msgpack(shown: Selection, out: IO[bytes]) -> None:
    """Write each answered target's snapshot as a framed stream, with the shown sockets."""
    from common.wire import encode_snapshot  # noqa: PLC0415 - --format msgpack only

    for target, sockets in shown.by_target(answered=True):
        snapshot = target.snapshot
        if snapshot is None:  # pragma: no cover - by_target(answered=True) has one
            continue
        filtered = Snapshot(
            host=target.host,
            zone=target.zone,
            platform=snapshot.platform,
            kernel=snapshot.kernel,
            agent_version=snapshot.agent_version,
            time=snapshot.time,
            elapsed=snapshot.elapsed,
            sockets=tuple(sockets),
            warnings=snapshot.warnings,
            errors=snapshot.errors,
        )
        for chunk in encode_snapshot(filtered):
            out.write(chunk)
    out.flush()
