"""Read what an agent (or its no-Python fallback) wrote, and judge how it ended."""

from __future__ import annotations

import time
from typing import List
from typing import Optional
from typing import Tuple

from agent.netstat import parse_netstat
from agent.ss import parse_ss
from common.decode import DEFAULT_LIMITS
from common.decode import Limits
from common.decode import StreamDecoder
from common.decode import socket_from_wire
from common.errors import FleetError
from common.errors import LimitError
from common.errors import SchemaError
from common.format import escape_text
from common.schema import Snapshot
from common.schema import Socket
from common.wire import socket_to_wire
from controller import results
from controller.payload import FALLBACK_MARKER
from controller.transport import Completed

LIMIT_FLAGS = {"sockets": "--max-sockets", "bytes": "--max-bytes"}
NO_TOOL_STATUS = 127  # the discovery script found neither Python nor ss/netstat


class AgentOutput:
    """Stdout of one agent run: a msgpack stream, or the fallback's marked text."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self.decoder = StreamDecoder(limits)
        self.head = b""
        self.fallback: Optional[bytearray] = None
        self.error: Optional[SchemaError] = None

    def feed(self, data: bytes) -> None:
        """Take more stdout; a SchemaError means the agent's output is bad."""
        if self.fallback is not None:
            if len(self.fallback) + len(data) > self.limits.max_stream_bytes:
                msg = f"fallback output exceeds {self.limits.max_stream_bytes} bytes"
                raise LimitError(msg, limit="bytes")
            self.fallback += data
            return
        if not self.decoder.bytes_fed and len(self.head) < len(FALLBACK_MARKER):
            self.head += data
            undecided = len(self.head) < len(FALLBACK_MARKER)
            if undecided and FALLBACK_MARKER.startswith(self.head):
                return  # not enough bytes yet to tell the two apart
            data, self.head = self.head, b""
            if data.startswith(FALLBACK_MARKER):
                self.fallback = bytearray(data)
                return
        self.decoder.feed(data)

    @property
    def empty(self) -> bool:
        """Whether nothing at all came on stdout."""
        return not (self.head or self.fallback or self.decoder.bytes_fed)


def judge(
    output: AgentOutput, completed: Completed, *, timeout: float, expected: int = 1
) -> Tuple[str, Optional[str], List[Snapshot]]:
    """Return (status, error message, snapshots) for a finished agent run."""
    detail = f": {completed.last_error}" if completed.last_error else ""
    if isinstance(output.error, LimitError):
        flag = LIMIT_FLAGS[output.error.limit]
        message = f"bad agent output: {output.error} (if it is real, raise {flag})"
        return results.BAD_OUTPUT, message, []
    if output.error is not None:
        return results.BAD_OUTPUT, f"bad agent output: {output.error}", []
    if completed.timed_out:
        return results.TIMEOUT, f"no complete answer within {timeout:g}s{detail}", []
    if output.fallback is not None:
        return _judge_fallback(bytes(output.fallback), completed)
    if completed.returncode == NO_TOOL_STATUS and output.empty:
        return results.NO_PYTHON, f"no Python 3.9+ and no ss or netstat{detail}", []
    try:
        snapshots = output.decoder.finish_all()
    except SchemaError as err:
        if completed.returncode:
            message = f"exit status {completed.returncode}{detail}"
            return results.AGENT_ERROR, message, []
        return results.BAD_OUTPUT, f"bad agent output: {err}", []
    errors = [e for s in snapshots for e in s.errors]
    if completed.returncode or (errors and expected == 1):
        status = completed.returncode
        message = escape_text(errors[0]) if errors else f"exit status {status}"
        return results.AGENT_ERROR, message, []
    if len(snapshots) != expected:
        message = f"bad agent output: {len(snapshots)} snapshots, expected {expected}"
        return results.BAD_OUTPUT, message, []
    return results.OK, None, snapshots


def _judge_fallback(
    text: bytes, completed: Completed
) -> Tuple[str, Optional[str], List[Snapshot]]:
    first, _, body = text.partition(b"\n")
    tool, _, why = first[len(FALLBACK_MARKER) :].decode("utf-8", "replace").partition("\t")
    if completed.returncode:
        return results.AGENT_ERROR, f"{tool} failed (exit {completed.returncode})", []
    try:
        parsed = parse_fallback(tool, body.decode("utf-8", "backslashreplace"))
        # The same field checks as an agent's stream: this text is as untrusted.
        sockets = [socket_from_wire(socket_to_wire(s), i) for i, s in enumerate(parsed)]
    except FleetError as err:
        return results.BAD_OUTPUT, f"cannot read {tool} output: {err}", []
    snapshot = Snapshot("", "", "", "", "", time.time(), sockets=tuple(sockets))
    message = f"{escape_text(why)}; listed by {tool} (no USER or ARGS)"
    return results.FALLBACK, message, [snapshot]


def parse_fallback(tool: str, text: str) -> List[Socket]:
    """Parse the output of the tool the discovery script fell back to."""
    if tool.startswith("ss "):
        return parse_ss(text, source=tool)
    if tool.startswith("netstat -an"):
        return parse_netstat(text, source=tool)
    msg = f"no parser for {tool!r}"
    raise SchemaError(msg)
