"""Read what an agent (or its no-Python fallback) wrote, and judge how it ended."""

from __future__ import annotations

import time

from common.errors import FleetError
from common.errors import LimitError
from common.errors import SchemaError
from common.format import escape_text
from common.limits import DEFAULT_LIMITS
from common.limits import Limits
from common.schema import AGENT_FAILED
from common.schema import HOLDERS
from common.schema import Snapshot
from common.schema import Socket
from controller.status import Status
from controller.transport import Completed

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List
    from typing import Optional
    from typing import Sequence
    from typing import Tuple

    from common.decode import StreamDecoder
    from controller.hops import Hop

    # (status, error message, snapshot) of one zone
    Verdict = Tuple[Status, Optional[str], Optional[Snapshot]]

# The first line of a zone without Python: the discovery script (controller/payload.py)
# says which tool listed its sockets instead.
FALLBACK_MARKER = b"#sockstat-fallback "
LIMIT_FLAGS = {"sockets": "--max-sockets", "bytes": "--max-bytes"}
NO_TOOL_STATUS = 127  # the discovery script found neither Python nor ss/netstat


class AgentOutput:
    """Stdout of one agent run: a msgpack stream, or the fallback's marked text."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self._decoder: Optional[StreamDecoder] = None
        self.head = b""
        self.fallback: Optional[bytearray] = None
        self.error: Optional[SchemaError] = None
        self.snapshots: List[Snapshot] = []

    @property
    def decoder(self) -> StreamDecoder:
        """The stream's decoder, made (and msgpack imported) when bytes first come."""
        if self._decoder is None:
            from common.decode import StreamDecoder  # noqa: PLC0415 - in-process runs need none

            self._decoder = StreamDecoder(self.limits)
        return self._decoder

    @property
    def bytes_fed(self) -> int:
        """How many stream bytes the decoder has been given."""
        return 0 if self._decoder is None else self._decoder.bytes_fed

    def feed(self, data: bytes) -> None:
        """Take more stdout; a SchemaError means the agent's output is bad."""
        if self.fallback is not None:
            if len(self.fallback) + len(data) > self.limits.max_stream_bytes:
                msg = f"fallback output exceeds {self.limits.max_stream_bytes} bytes"
                raise LimitError(msg, limit="bytes")
            self.fallback += data
            return
        if not self.bytes_fed and len(self.head) < len(FALLBACK_MARKER):
            self.head += data
            undecided = len(self.head) < len(FALLBACK_MARKER)
            if undecided and FALLBACK_MARKER.startswith(self.head):
                return  # not enough bytes yet to tell the two apart
            data, self.head = self.head, b""
            if data.startswith(FALLBACK_MARKER):
                self.fallback = bytearray(data)
                return
        self.decoder.feed(data)

    def accept(self, snapshots: List[Snapshot]) -> None:
        """Take snapshots the agent made in this process: trusted, not decoded."""
        self.snapshots.extend(snapshots)

    def finish(self) -> List[Snapshot]:
        """Return the snapshots: accepted ones, else the stream's (SchemaError if bad)."""
        if not self.snapshots:
            self.snapshots = self.decoder.finish_all()
        return self.snapshots

    @property
    def empty(self) -> bool:
        """Whether nothing at all came on stdout."""
        return not (self.head or self.fallback or self.bytes_fed or self.snapshots)


def judge(
    output: AgentOutput,
    completed: Completed,
    *,
    zones: Optional[int],  # None: as many as the agent reports (--all-netns)
    hops: Sequence[Hop] = (),
    timeout: float,
) -> List[Verdict]:
    """Return (status, error message, snapshot) per zone of a finished agent run.

    A failure of the whole run (bad output, a timeout, a hop that refused, no
    Python) is every zone's; otherwise each snapshot says how its zone went,
    with the agent's FAILURES code, never with its error's wording.
    """
    whole = _judge_run(output, completed, zones=zones, hops=hops, timeout=timeout)
    if whole is not None:
        status, message = whole
        return [(status, message, None)] * (zones or 1)
    if output.fallback is not None:
        return [_judge_fallback(bytes(output.fallback), completed)]
    verdicts: List[Verdict] = []
    for snapshot in output.snapshots:
        if snapshot.failure is not None:
            error = snapshot.errors[0] if snapshot.errors else snapshot.failure
            verdicts.append((Status(snapshot.failure), escape_text(error), None))
        else:
            verdicts.append((Status.OK, None, snapshot))
    return verdicts


def _judge_run(
    output: AgentOutput,
    completed: Completed,
    *,
    zones: Optional[int],
    hops: Sequence[Hop],
    timeout: float,
) -> Optional[Tuple[Status, str]]:
    detail = f": {completed.last_error}" if completed.last_error else ""
    if isinstance(output.error, LimitError):
        flag = LIMIT_FLAGS[output.error.limit]
        message = f"bad agent output: {output.error} (if it is real, raise {flag})"
        return Status.BAD_OUTPUT, message
    if output.error is not None:
        return Status.BAD_OUTPUT, f"bad agent output: {output.error}"
    if completed.timed_out:
        return Status.TIMEOUT, f"no complete answer within {timeout:g}s{detail}"
    code = completed.returncode
    if output.empty and code not in (0, None):
        from controller.hops import refusing_hop  # noqa: PLC0415 - failures only

        hop = refusing_hop(hops, completed.entered)
        if hop is not None and hop.entry_status is not None:
            return hop.entry_status, f"{hop.label} refused (exit {code}){detail}"
        if code == NO_TOOL_STATUS:
            return Status.NO_PYTHON, f"no Python 3.9+ and no ss or netstat{detail}"
        return Status.AGENT_ERROR, f"exit status {code}{detail}"
    if output.fallback is not None:
        if zones not in (1, None):
            message = "bad agent output: a fallback listing for several zones"
            return Status.BAD_OUTPUT, message
        return None
    try:
        snapshots = output.finish()
    except SchemaError as err:
        if code:
            return Status.AGENT_ERROR, f"exit status {code}{detail}"
        return Status.BAD_OUTPUT, f"bad agent output: {err}"
    if zones is not None and len(snapshots) != zones:
        message = f"bad agent output: {len(snapshots)} snapshots, expected {zones}"
        return Status.BAD_OUTPUT, message
    if code:
        failed = [s for s in snapshots if s.failure == AGENT_FAILED and s.errors]
        if failed:
            return Status.AGENT_ERROR, escape_text(failed[0].errors[0])
        return Status.AGENT_ERROR, f"exit status {code}{detail}"
    return None


def _judge_fallback(text: bytes, completed: Completed) -> Verdict:
    first, _, body = text.partition(b"\n")
    tool, _, why = first[len(FALLBACK_MARKER) :].decode("utf-8", "replace").partition("\t")
    tool = escape_text(tool)
    if completed.returncode:
        return Status.AGENT_ERROR, f"{tool} failed (exit {completed.returncode})", None
    from common.decode import socket_from_wire  # noqa: PLC0415 - the fallback only
    from common.wire import socket_to_wire  # noqa: PLC0415

    try:
        parsed = parse_fallback(tool, body.decode("utf-8", "backslashreplace"))
        # The same field checks as an agent's stream: this text is as untrusted.
        sockets = [socket_from_wire(socket_to_wire(s), i) for i, s in enumerate(parsed)]
    except FleetError as err:
        return Status.BAD_OUTPUT, f"cannot read {tool} output: {err}", None
    # ss -p and netstat -u list every process holding a socket; netstat -an none.
    holders = tool.startswith(("ss ", "netstat -anu"))
    snapshot = Snapshot(
        "", "", "", "", "", time.time(), sockets=tuple(sockets),
        owners_from=HOLDERS if holders else None,
    )  # fmt: skip
    message = f"{escape_text(why)}; listed by {tool} (no USER or ARGS)"
    return Status.FALLBACK, message, snapshot


def parse_fallback(tool: str, text: str) -> List[Socket]:
    """Parse the output of the tool the discovery script fell back to."""
    if tool.startswith("ss "):
        from controller.ss import parse_ss  # noqa: PLC0415 - zones without Python only

        return parse_ss(text, source=tool)
    if tool.startswith("netstat -an"):
        from controller.netstat import parse_netstat  # noqa: PLC0415

        return parse_netstat(text, source=tool)
    msg = f"no parser for {tool!r}"
    raise SchemaError(msg)
