"""Bounds on what one agent stream may make the controller hold.

Apart from common/decode.py, so that the command line reads the defaults without
importing msgpack and the decoder (start-up time of every run).
"""

from __future__ import annotations

from common.schema import Record

# Per shipped agent (a zone, or a host's namespaces), raised with --max-sockets and
# --max-bytes: about 40 MiB of decoded records for one hostile target.
DEFAULT_MAX_SOCKETS = 100_000
DEFAULT_MAX_BYTES = 32 << 20


class Limits(Record):
    """Bounds on what one agent stream may make the controller hold.

    The defaults keep one hostile target (a zone's root can stream valid records
    without end) to about 40 MiB of decoded records (bench/hostile.py); real
    zones stay far below them.  Command lines are cut by the agent
    (agent/procfs.py MAX_ARGS) well under ``max_text``, so real data never
    reaches it.
    """

    __slots__ = (
        "max_messages",
        "max_owners",
        "max_record_bytes",
        "max_sockets",
        "max_stream_bytes",
        "max_text",
    )

    def __init__(
        self,
        *,
        max_stream_bytes: int = DEFAULT_MAX_BYTES,
        max_record_bytes: int = 4 << 20,
        max_sockets: int = DEFAULT_MAX_SOCKETS,
        # Holders of one socket (a prefork server's listener); also the longest array
        # msgpack may announce, which it allocates before the items arrive: nested
        # 1,024 deep, 65,536-item arrays held 68 MiB from 3 KB of input (bench/fuzz.py).
        max_owners: int = 4_096,
        max_text: int = 256 << 10,  # one string, in bytes: args, a unix path, a warning
        max_messages: int = 1_000,  # warnings or errors in a trailer
    ) -> None:
        self.max_stream_bytes = max_stream_bytes
        self.max_record_bytes = max_record_bytes
        self.max_sockets = max_sockets
        self.max_owners = max_owners
        self.max_text = max_text
        self.max_messages = max_messages


DEFAULT_LIMITS = Limits()
