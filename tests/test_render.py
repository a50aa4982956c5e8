"""Every output format from made-up results: columns, escaping, the JSON contract."""

from __future__ import annotations

import csv
import io
import json

import pytest

from agent.linux import list_sockets
from agent.query import ALL_PROTOCOLS
from agent.query import Query
from common.decode import decode_snapshots
from common.schema import Family
from common.schema import Owner
from common.schema import Proto
from common.schema import Snapshot
from common.schema import Socket
from controller.filters import Filter
from controller.filters import Selection
from controller.filters import select
from controller.render import TableOptions
from controller.render import _grid_lines
from controller.render import _plain_lines
from controller.render import _row_items
from controller.render import render_csv
from controller.render import render_json
from controller.render import render_jsonl
from controller.render import render_msgpack
from controller.render import render_table
from controller.render import table_header
from controller.results import FleetResult
from controller.results import TargetResult
from controller.status import Status

SSHD = Owner(812, 3, 0, "root", "sshd", "sshd: /usr/sbin/sshd -D")
EVIL = Owner(4242, 7, 1000, "ev\x1bil", "x\x1b[2J", "args\r\nsockstat: all ok")


def tcp(local: tuple[str, int], remote: tuple[str, int] | None = None, *,
        family: Family = Family.INET, owners: tuple[Owner, ...] = (SSHD,),
        state: str = "LISTEN", inode: int = 100) -> Socket:  # fmt: skip
    raddr, rport = remote or (None, None)
    return Socket(Proto.TCP, family, "stream", state, local[0], local[1], raddr, rport,
                  None, inode, 0, None, owners)  # fmt: skip


def unix(
    path: str | None, inode: int, peer: int | None, owners: tuple[Owner, ...]
) -> Socket:
    state = "ESTABLISHED" if peer else "LISTEN"
    return Socket(Proto.UNIX, Family.UNIX, "stream", state, None, None, None, None, path,
                  inode, 0, peer, owners)  # fmt: skip


def run(*targets: tuple[str, str, tuple[Socket, ...]], failed: bool = False) -> FleetResult:
    found = []
    for host, zone, sockets in targets:
        snapshot = Snapshot(host, zone, "linux", "Linux 6", "0.1", 1.0, 0.1, sockets)
        found.append(TargetResult(host, zone, Status.OK, None, 0.0123, snapshot))
    if failed:
        found.append(TargetResult("down", "global", Status.UNREACHABLE, "no route"))
    return FleetResult(found)


def shown(result: FleetResult, **switches: object) -> Selection:
    return select(result, Filter.from_switches(**switches))  # type: ignore[arg-type]


def table(result: FleetResult, opts: TableOptions | None = None, **switches: object) -> str:
    out = io.StringIO()
    render_table(shown(result, **switches), out, opts or TableOptions())
    return out.getvalue()


def test_columns_are_sized_to_fit_and_ipv6_is_bracketed() -> None:
    result = run(("h", "global", (
        tcp(("0.0.0.0", 22)),
        tcp(("::", 22), family=Family.INET6, inode=101),
        tcp(("10.0.0.1", 22), ("10.0.0.200", 51234), state="ESTABLISHED", inode=102),
    )))  # fmt: skip
    lines = table(result).splitlines()
    assert lines[0].split() == ["USER", "COMMAND", "PID", "PROTO", "LOCAL", "ADDRESS",
                                "REMOTE", "ADDRESS"]  # fmt: skip
    assert lines[1].split() == ["root", "sshd", "812", "tcp4", "0.0.0.0:22", "*.*"]
    assert lines[2].split()[3:] == ["tcp6", "[::]:22", "*.*"]
    assert lines[3].split()[3:] == ["tcp4", "10.0.0.1:22", "10.0.0.200:51234"]
    # Every column starts where its title starts.
    starts = [lines[0].index(t) for t in ("PROTO", "LOCAL ADDRESS", "REMOTE ADDRESS")]
    for line in lines[1:]:
        assert [line[s - 1] for s in starts] == [" ", " ", " "]
    assert all(line == line.rstrip() for line in lines)


def test_host_and_zone_columns_state_args_and_numeric() -> None:
    result = run(("web1", "z1", (tcp(("0.0.0.0", 80)),)), ("web2", "z2", ()))
    opts = TableOptions(args=True, state=True, numeric=True, host_column=True,
                        zone_column=True)  # fmt: skip
    header, row = table(result, opts).splitlines()
    assert header.split()[:3] == ["HOST", "ZONE", "USER"]
    assert header.split()[-2:] == ["STATE", "ARGS"]
    assert row.split()[:4] == ["web1", "z1", "0", "sshd"]
    assert row.endswith("LISTEN sshd: /usr/sbin/sshd -D")
    assert table(result, TableOptions(header=False)).count("\n") == 1


def test_unknown_owners_and_unix_peers() -> None:
    a = unix("/run/a.sock", 10, None, (SSHD,))
    b = unix(None, 11, 12, (SSHD,))
    c = unix("@abstract", 12, 11, ())
    d = unix(None, 13, 99, (Owner(9, 4, 0, "root", "x", "x"),))
    lines = table(run(("h", "global", (a, b, c, d))), protocols=frozenset({Proto.UNIX}))
    rows = [line.split() for line in lines.splitlines()[1:]]
    assert rows[0][3:] == ["unix", "/run/a.sock", "*.*"]
    assert rows[1][3:] == ["unix", "(unnamed)", "@abstract"]
    assert rows[2][:3] == ["?", "?", "?"]
    assert rows[2][4:] == ["@abstract", "[812", "3]"]
    assert rows[3][4:] == ["(unnamed)", "socket:[99]"]


def test_control_characters_are_escaped_in_the_table() -> None:
    result = run(("h\x1b", "global", (tcp(("0.0.0.0", 80), owners=(EVIL,)),)))
    text = table(result, TableOptions(args=True, host_column=True))
    assert "\x1b" not in text
    assert "\r" not in text
    assert "ev\\x1bil" in text
    assert "args\\r\\nsockstat: all ok" in text
    assert text.count("\n") == 2


def test_no_rows_is_just_the_header_and_nothing_without_it() -> None:
    assert table(run(("h", "global", ()))).count("\n") == 1
    assert table(run(("h", "global", ())), TableOptions(header=False)) == ""


def mixed_result() -> FleetResult:
    """Every shape of row: families, protocols, unknown and shared owners, escapes."""
    other = Owner(9, 4, None, None, "worker", "worker --long-option")
    return run(
        ("h", "global", (
            tcp(("0.0.0.0", 22)),
            tcp(("::", 22), family=Family.INET6, inode=101),
            tcp(("10.0.0.1", 22), ("10.0.0.200", 51234), state="ESTABLISHED", inode=102,
                owners=(SSHD, other)),
            tcp(("127.0.0.1", 0), inode=103, owners=()),
            tcp(("fe80::1%eth0", 8080), ("fe80::2", 1), family=Family.INET6, inode=104,
                owners=(EVIL,)),
            unix("/run/a.sock", 10, None, (SSHD,)),
            unix(None, 11, 12, (other,)),
            unix("@abstr\x1bact", 12, 11, ()),
        )),
        ("h", "other", (tcp(("0.0.0.0", 80), owners=(other, SSHD)),)),
    )  # fmt: skip


@pytest.mark.parametrize("header", [True, False])
@pytest.mark.parametrize("numeric", [True, False])
@pytest.mark.parametrize(
    "protocols", [None, frozenset({Proto.UNIX}), frozenset({Proto.UDP})]
)
def test_the_plain_tables_fast_path_writes_what_the_grid_writes(
    header: bool, numeric: bool, protocols: frozenset[Proto] | None
) -> None:
    opts = TableOptions(header=header, numeric=numeric)
    for result in (mixed_result(), run(("h", "global", (tcp(("::1", 9), owners=()),)))):
        selection = shown(result, protocols=protocols, unix=True)
        assert _plain_lines(selection, opts) == _grid_lines(selection, opts)


def grid_by_the_book(selection: Selection, opts: TableOptions) -> list[str]:
    """The grid as first written: every row made, each column's width from all rows."""
    rows: list[tuple[str, ...]] = [
        (*front, cell[0], cell[1], cell[2], proto, local, remote,
         *((state,) if opts.state else ()), cell[3])
        for front, cell, proto, local, remote, state in _row_items(selection, opts)[0]
    ]  # fmt: skip
    header = table_header(opts) + (() if opts.args else ("",))
    if opts.header:
        rows.insert(0, header)
    if not rows:
        return []
    widths = [max(map(len, column)) for column in zip(*rows)]
    if opts.args:
        fmt = " ".join(f"%-{w}s" for w in widths[:-1]) + " %s\n"
    else:
        fmt = " ".join(f"%-{w}s" for w in widths[:-2]) + " %s%s\n"
    return [fmt % row for row in rows]


@pytest.mark.parametrize("state", [True, False])
@pytest.mark.parametrize("args", [True, False])
@pytest.mark.parametrize("columns", [(True, True), (False, True), (True, False)])
@pytest.mark.parametrize("header", [True, False])
def test_the_grids_widths_are_those_of_its_widest_cells(
    state: bool, args: bool, columns: tuple[bool, bool], header: bool
) -> None:
    opts = TableOptions(header=header, args=args, state=state, host_column=columns[0],
                        zone_column=columns[1])  # fmt: skip
    for result in (mixed_result(), run(("h", "global", ())), run(("h\x1bx", "z", ()))):
        selection = shown(result, unix=True)
        assert _grid_lines(selection, opts) == grid_by_the_book(selection, opts)


def test_the_plain_tables_fast_path_on_this_machines_sockets() -> None:
    """Real rows: whatever this host has open, in every protocol."""
    sockets, _ = list_sockets(Query(ALL_PROTOCOLS), lambda _: None)
    snapshot = Snapshot("h", "global", "linux", "Linux", "0.1", 1.0, 0.1, tuple(sockets))
    result = FleetResult([TargetResult("h", "global", Status.OK, None, 0.1, snapshot)])
    selection = shown(result, unix=True)
    opts = TableOptions()
    lines = _plain_lines(selection, opts)
    assert len(lines) > 1
    assert lines == _grid_lines(selection, opts)


def test_json_contract_targets_and_counts() -> None:
    result = run(("h", "global", (tcp(("0.0.0.0", 22)), tcp(("0.0.0.0", 53)))),
                 failed=True)  # fmt: skip
    out = io.StringIO()
    render_json(shown(result, ports=frozenset({22})), out)
    doc = json.loads(out.getvalue())
    assert [t["status"] for t in doc["targets"]] == ["ok", "unreachable"]
    assert [t["sockets"] for t in doc["targets"]] == [1, 0]
    assert doc["targets"][1]["error"] == "no route"
    assert doc["targets"][0]["elapsed_ms"] == 12.3
    (sock,) = doc["sockets"]
    assert sock["proto"] == "tcp4"
    assert sock["local_port"] == 22
    assert sock["owners"] == [
        {
            "pid": 812,
            "fd": 3,
            "uid": 0,
            "user": "root",
            "command": "sshd",
            "args": "sshd: /usr/sbin/sshd -D",
        }
    ]


def test_json_keeps_the_real_text_escaped_by_json() -> None:
    out = io.StringIO()
    render_json(shown(run(("h", "global", (tcp(("0.0.0.0", 1), owners=(EVIL,)),)))), out)
    assert "\x1b" not in out.getvalue()
    doc = json.loads(out.getvalue())
    assert doc["sockets"][0]["owners"][0]["user"] == "ev\x1bil"


def test_jsonl_is_one_socket_per_line() -> None:
    out = io.StringIO()
    render_jsonl(shown(run(("h", "global", (tcp(("0.0.0.0", 1)), tcp(("0.0.0.0", 2)))))),
                 out)  # fmt: skip
    lines = out.getvalue().splitlines()
    assert [json.loads(line)["local_port"] for line in lines] == [1, 2]


def test_csv_one_row_per_owner_and_empty_cells() -> None:
    shared = tcp(("0.0.0.0", 80), owners=(SSHD, Owner(813, 3, 0, "root", "sshd", "x")))
    orphan = tcp(("10.0.0.1", 1), ("10.0.0.2", 2), owners=(), state="TIME_WAIT")
    out = io.StringIO()
    render_csv(shown(run(("h", "global", (shared, orphan)))), out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["pid"] for r in rows] == ["812", "813", ""]
    assert rows[2]["state"] == "TIME_WAIT"
    assert rows[2]["user"] == ""
    out = io.StringIO()
    render_csv(shown(run(("h", "global", (shared,)))), out, header=False)
    assert out.getvalue().startswith("h,global,tcp4,LISTEN,0.0.0.0,80,")


def test_msgpack_is_each_answered_targets_stream_filtered() -> None:
    result = run(("a", "z1", (tcp(("0.0.0.0", 22)), tcp(("0.0.0.0", 53)))),
                 ("b", "z2", ()), failed=True)  # fmt: skip
    out = io.BytesIO()
    render_msgpack(shown(result, ports=frozenset({22})), out)
    snapshots = decode_snapshots(out.getvalue())
    assert [(s.host, s.zone, len(s.sockets)) for s in snapshots] == [
        ("a", "z1", 1),
        ("b", "z2", 0),
    ]
