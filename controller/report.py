"""Render what changed (controller/changes.py): a marked table, JSON, or JSON lines.

The table is the listing's, with a first column saying ``+`` (added), ``-`` (removed)
or ``~`` (a listener now held by another command: ``was`` names the old one), and one
line per target that did not answer.  JSON is ``{"added": [...], "removed": [...],
"changed": [...], "targets": [...]}``; JSON lines carry an ``"action"`` field on every
line, in the spirit of osquery's differential logs.  Text from zones is escaped.
"""

from __future__ import annotations

from common.format import escape_text
from controller.changes import ADDED
from controller.changes import CHANGED
from controller.changes import NO_ANSWER
from controller.changes import REMOVED

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List
    from typing import TextIO
    from typing import Tuple

    from controller.changes import Change
    from controller.changes import Report

MARKS = {ADDED: "+", REMOVED: "-", CHANGED: "~"}


def _row(change: Change) -> Tuple[str, ...]:
    _, proto, local, remote, _ = change.key
    commands = ",".join(sorted(change.commands))
    if change.action == CHANGED:
        commands += f" (was {','.join(sorted(change.before))})"
    return (
        MARKS[change.action], escape_text(change.host), escape_text(change.zone),
        escape_text(commands), proto, escape_text(local or "*.*"),
        escape_text(remote or "*.*"),
    )  # fmt: skip


def render_report_table(report: Report, out: TextIO, *, header: bool = True) -> None:
    """Write the marked table, then one line per target that did not answer."""
    rows: List[Tuple[str, ...]] = [_row(c) for c in report.changes]
    if header and rows:
        rows.insert(0, ("", "HOST", "ZONE", "COMMAND", "PROTO", "LOCAL ADDRESS",
                        "REMOTE ADDRESS"))  # fmt: skip
    if rows:
        widths = [max(map(len, column)) for column in zip(*rows)]
        fmt = " ".join(f"%-{w}s" for w in widths[:-1]) + " %s\n"
        out.write("".join(fmt % row for row in rows))
    for target in report.targets:
        if target.note == NO_ANSWER:
            out.write(
                f"! {escape_text(target.host)}/{escape_text(target.zone)}: no answer "
                f"({target.status}: {escape_text(target.error or '')})\n"
            )


def render_report_json(report: Report, out: TextIO) -> None:
    """Write one object: added, removed, changed and targets."""
    import json  # noqa: PLC0415

    doc = {
        "added": [c.to_json() for c in report.of(ADDED)],
        "removed": [c.to_json() for c in report.of(REMOVED)],
        "changed": [c.to_json() for c in report.of(CHANGED)],
        "targets": [t.to_json() for t in report.targets],
    }
    json.dump(doc, out, indent=2)
    out.write("\n")


def render_report_jsonl(report: Report, out: TextIO) -> None:
    """Write one line per change (action added/removed/changed) and per target."""
    import json  # noqa: PLC0415

    for change in report.changes:
        out.write(json.dumps({"action": change.action, **change.to_json()}) + "\n")
    for target in report.targets:
        out.write(json.dumps({"action": "target", **target.to_json()}) + "\n")
