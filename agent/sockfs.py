"""Pure parser of illumos's unix socket list: the sockfs kstat ``sock_unix_list``.

``netstat -f unix`` reads it (usr/src/cmd/cmd-inet/usr.bin/netstat/unix.c): a raw,
per-zone kstat whose snapshot (sockfs_snapshot() in uts/common/fs/sockfs) is one
``struct k_sockinfo`` per AF_UNIX socket of the reading zone: a ``struct sockinfo``
(sys/socketvar.h) followed by the socket's address strings.  No process is stopped
to read it, and no privilege is needed.

Since illumos 9531, illumos-gate's and illumos-joyent's records end with ``si_inode``
(after three 17-byte address strings: offset 2152, from a compiler in
tests/test_layouts.py), which ``netstat -u`` matches against /proc/<pid>/fdinfo as
for TCP and UDP.  OmniOS's records hold a pid list at the same place (``si_pn_cnt``,
``si_pids[]``), in records of the same size, and nothing in a record says which: the
eight bytes are read as ``inode`` all the same, and trusted only by what matches
them, a socket descriptor with that inode (agent/illumos.py); OmniOS's count and pid
read as one 64-bit number that no descriptor has, so nothing is claimed there.

``struct sockinfo`` is "not a published interface": fields were appended over the
years (si_szoneid, si_faddr_noxlate), so records are stepped by their own ``si_size``
and only the prefix that every version shares is read:

    off  0 uint_t si_size          off 24 t_scalar_t si_serv_type
    off  4 short si_family         off 28 t_uscalar_t si_laddr_soa_len
    off  6 short si_type           off 32 t_uscalar_t si_faddr_soa_len
    off  8 ushort_t si_flag        off 36 uint16_t si_laddr_family
    off 12 uint_t si_state         off 38 uint16_t si_faddr_family
    off 16 uint_t si_ux_laddr_sou_magic   off 40 char si_laddr_sun_path[1025]
    off 20 uint_t si_ux_faddr_sou_magic   off 1065 char si_faddr_sun_path[1025]

Stdlib only, Python 3.9+.
"""

from __future__ import annotations

import struct

from common.errors import ParseError
from common.schema import Family
from common.schema import Proto
from common.schema import Socket

AF_UNIX = 1  # sys/socket.h
# illumos socket types (sys/socket.h): not Linux's numbers.
SOCK_TYPES = {1: "dgram", 2: "stream", 4: "raw", 6: "seqpacket"}
# Socket state bits (sys/socketvar.h), unchanged since Solaris.
SS_ISCONNECTED = 0x001
SS_ISCONNECTING = 0x002
SS_ISDISCONNECTING = 0x004
SS_ISBOUND = 0x020
SS_ACCEPTCONN = 0x200
MAXPATHLEN = 1024  # sys/param.h; sun_path fields are MAXPATHLEN + 1
PATH_AT = 40
PREFIX = PATH_AT + 2 * (MAXPATHLEN + 1)  # 2090: what every version of the struct has
INODE_AT = 2152  # si_inode, after si_faddr_noxlate, si_szoneid and 3 x 17 characters
MAX_RECORD = 1 << 16


def _state(bits: int) -> str:
    if bits & SS_ACCEPTCONN:
        return "LISTEN"
    if bits & SS_ISCONNECTED:
        return "ESTABLISHED"
    if bits & SS_ISCONNECTING:
        return "CONNECTING"
    if bits & SS_ISDISCONNECTING:
        return "DISCONNECTING"
    return "UNCONN"


def _path(raw: bytes, bound: bool, length: int) -> str | None:
    # netstat prints a name only for a bound socket with one longer than its family.
    name = raw.split(b"\0", 1)[0]
    if not bound or not name or length <= 2:
        return None
    return name.decode("utf-8", "backslashreplace")


def parse_sock_unix_list(data: bytes, count: int, order: str = "<") -> list[Socket]:
    """Parse ``count`` k_sockinfo records from a sock_unix_list snapshot."""
    head = struct.Struct(order + "IhhH2xIIIiII")
    inode_at = struct.Struct(order + "Q")
    sockets: list[Socket] = []
    offset = 0
    for index in range(count):
        if offset + PREFIX > len(data):
            msg = f"sock_unix_list record {index} cut off at byte {len(data)}"
            raise ParseError(msg)
        size, family, kind, _, state, _, _, _, laddr_len, _ = head.unpack_from(data, offset)
        if not PREFIX <= size <= MAX_RECORD:
            msg = f"sock_unix_list record {index} has size {size}"
            raise ParseError(msg)
        if family == AF_UNIX:
            path_raw = data[offset + PATH_AT : offset + PATH_AT + MAXPATHLEN + 1]
            inode = None
            if size >= INODE_AT + 8:
                (inode,) = inode_at.unpack_from(data, offset + INODE_AT)
            sockets.append(
                Socket(Proto.UNIX, Family.UNIX, SOCK_TYPES.get(kind, "stream"),
                       _state(state), None, None, None, None,
                       _path(path_raw, bool(state & SS_ISBOUND), laddr_len),
                       inode or None, None, None, ())
            )  # fmt: skip
        offset += size
    return sockets
