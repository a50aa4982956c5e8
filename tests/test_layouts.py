"""The illumos layouts, from a C compiler: sizes and offsets, and fixtures read back.

tests/fixtures/illumos/layouts.c declares the structures as illumos's headers do.
Compiled for amd64 and i386 (-m32; only the compiler is needed, nothing is linked),
it gives sizeof and offsetof of every field a parser reads, which must equal the
parsers' constants; compiled and run with -DWRITE_FIXTURES, it writes one of each
structure filled with known values, which the parsers must read back exactly.
"""

from __future__ import annotations

import ctypes
import struct
import subprocess
from pathlib import Path

import pytest

from agent import fdinfo
from agent import mib2
from agent import psinfo
from agent import sockfs
from agent.illumos import _Kstat
from agent.illumos import _Strbuf
from common.schema import Family
from common.schema import Proto
from tests.conftest import require_tool

SOURCE = Path(__file__).parent / "fixtures" / "illumos" / "layouts.c"
TCP_LAYOUTS = ("old", "new", "joyent")  # 68/96, 172/200, 176/204 bytes


def compiled(tmp: Path, *flags: str) -> dict[str, int]:
    """Compile, and read each L_<name> symbol's size (the value + 1) with nm."""
    cc = require_tool("cc")
    objfile = tmp / f"layouts{''.join(flags)}.o"
    subprocess.run([cc, "-Wall", "-Werror", *flags, "-c", "-o", str(objfile),
                    str(SOURCE)], check=True)  # fmt: skip
    out = subprocess.run([require_tool("nm"), "-S", str(objfile)], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    found = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) == 4 and fields[3].startswith("L_"):
            found[fields[3][2:]] = int(fields[1], 16) - 1
    return found


@pytest.fixture(scope="module")
def lp64(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    return compiled(tmp_path_factory.mktemp("lp64"))


@pytest.fixture(scope="module")
def ilp32(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    return compiled(tmp_path_factory.mktemp("ilp32"), "-m32")


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cc = require_tool("cc")
    directory = tmp_path_factory.mktemp("fixtures")
    binary = directory / "layouts"
    subprocess.run([cc, "-Wall", "-Werror", "-DWRITE_FIXTURES", "-o", str(binary),
                    str(SOURCE)], check=True)  # fmt: skip
    subprocess.run([str(binary), str(directory)], check=True)
    return directory


def offsets(fmt: str) -> list[int]:
    """The offset of each field of a struct format (padding codes skipped)."""
    found, at = [], 0
    for count, code in _codes(fmt):
        if code != "x":
            found.append(at)
        at += struct.calcsize("<" + (str(count) if count > 1 else "") + code)
    return found


def _codes(fmt: str) -> list[tuple[int, str]]:
    codes, digits = [], ""
    for char in fmt.lstrip("<>=!@"):
        if char.isdigit():
            digits += char
            continue
        count = int(digits) if digits else 1
        if char in "sx":
            codes.append((count, char))
        else:
            codes += [(1, char)] * count
        digits = ""
    return codes


@pytest.mark.parametrize("model", ["lp64", "ilp32"])
def test_mib2_layouts_are_the_compilers(model: str, request: pytest.FixtureRequest) -> None:
    c: dict[str, int] = request.getfixturevalue(model)
    layout = mib2.Layout()
    # The header records: only the entry sizes are read.
    assert c["mib2_tcp_t__sizeof"] == 228
    assert offsets(layout.tcp_header.format) == [
        c["mib2_tcp_t__tcpConnTableSize"], c["mib2_tcp_t__tcp6ConnTableSize"],
    ]  # fmt: skip
    assert offsets(layout.udp_header.format) == [
        c["mib2_udp_t__udpEntrySize"], c["mib2_udp_t__udp6EntrySize"],
    ]  # fmt: skip
    # Every TCP layout: the head at the front, the tail 16 bytes from the end, the
    # connection-info block (compared between a v4 copy and its v6 entry) from
    # TCP4_INFO_AT / TCP6_INFO_AT to the end.
    for name in TCP_LAYOUTS:
        v4, v6 = f"tcp_{name}_t__", f"tcp6_{name}_t__"
        size4, size6 = c[v4 + "sizeof"], c[v6 + "sizeof"]
        assert offsets(layout.tcp4_head.format) == [
            c[v4 + f] for f in ("tcpConnState", "tcpConnLocalAddress", "tcpConnLocalPort",
                                "tcpConnRemAddress", "tcpConnRemPort")
        ]  # fmt: skip
        assert offsets(layout.tcp6_head.format) == [
            c[v6 + f] for f in ("tcp6ConnLocalAddress", "tcp6ConnLocalPort",
                                "tcp6ConnRemAddress", "tcp6ConnRemPort",
                                "tcp6ConnIfIndex", "tcp6ConnState")
        ]  # fmt: skip
        tail = [size4 - 16 + o for o in offsets(layout.tcp_tail.format)]
        assert tail == [c[v4 + "ce_state"], c[v4 + "tcpConnCreationProcess"],
                        c[v4 + "tcpConnCreationTime"]]  # fmt: skip
        tail6 = [size6 - 16 + o for o in offsets(layout.tcp_tail.format)]
        assert tail6 == [c[v6 + "ce_state"], c[v6 + "tcp6ConnCreationProcess"],
                         c[v6 + "tcp6ConnCreationTime"]]  # fmt: skip
        assert c[v4 + "tcpConnEntryInfo"] == mib2.TCP4_INFO_AT
        assert c[v6 + "tcp6ConnEntryInfo"] == mib2.TCP6_INFO_AT
        assert size4 - mib2.TCP4_INFO_AT == size6 - mib2.TCP6_INFO_AT
    assert {
        "tcp": c["tcp_old_t__sizeof"], "tcp6": c["tcp6_old_t__sizeof"],
        "udp": c["mib2_udpEntry_t__sizeof"], "udp6": c["mib2_udp6Entry_t__sizeof"],
    } == mib2.MIN_ENTRY  # fmt: skip
    u4, u6 = "mib2_udpEntry_t__", "mib2_udp6Entry_t__"
    assert layout.udp4.size == c[u4 + "sizeof"]
    assert offsets(layout.udp4.format) == [
        c[u4 + f] for f in ("udpLocalAddress", "udpLocalPort", "ue_state",
                            "ue_RemoteAddress", "ue_RemotePort", "udpInstance",
                            "udpCreationProcess", "udpCreationTime")
    ]  # fmt: skip
    assert layout.udp6.size == c[u6 + "sizeof"]
    assert offsets(layout.udp6.format) == [
        c[u6 + f] for f in ("udp6LocalAddress", "udp6LocalPort", "udp6IfIndex",
                            "ue_state", "ue_RemoteAddress", "ue_RemotePort",
                            "udp6Instance", "udp6CreationProcess", "udp6CreationTime")
    ]  # fmt: skip
    sie = "mib2_socketInfoEntry_t__"
    assert layout.sock_info.size == c[sie + "sizeof"]
    assert offsets(layout.sock_info.format) == [
        c[sie + f] for f in ("sie_connidx", "sie_inode", "sie_flags", "sie_dev")
    ]
    # The TPI control parts: the ack with its opthdr, the request built alike.
    ack = "optmgmt_reply_t__"
    assert layout.ctl.size == c[ack + "sizeof"]
    assert offsets(layout.ctl.format)[0] == c[ack + "PRIM_type"]
    assert offsets(layout.ctl.format)[3:] == [
        c[ack + f] for f in ("MGMT_flags", "level", "name", "len")
    ]
    assert len(mib2.build_request(layout, mib2.MIB2_TCP)) == c[ack + "sizeof"]
    assert layout.error_ack.size == c["error_ack_t__sizeof"]
    assert offsets(layout.error_ack.format)[2:] == [
        c["error_ack_t__TLI_error"], c["error_ack_t__UNIX_error"],
    ]  # fmt: skip


@pytest.mark.parametrize(("model", "pointer"), [("lp64", 8), ("ilp32", 4)])
def test_psinfo_fdinfo_and_sockinfo_layouts(
    model: str, pointer: int, request: pytest.FixtureRequest
) -> None:
    c: dict[str, int] = request.getfixturevalue(model)
    size = c["psinfo_t__sizeof"]
    assert size == {8: 416, 4: 336}[pointer]  # psinfo_t, psinfo32_t
    assert psinfo.LAYOUTS[size] == tuple(
        c[f"psinfo_t__{f}"] for f in ("pr_pid", "pr_uid", "pr_fname", "pr_psargs",
                                       "pr_zoneid")
    )  # fmt: skip
    assert offsets(fdinfo.HEAD.format) == [
        c["prfdinfo_t__pr_fd"], c["prfdinfo_t__pr_mode"], c["prfdinfo_t__pr_ino"],
    ]  # fmt: skip
    assert c["prfdinfo_t__pr_misc"] == 196  # where the misc records start
    si = "sockinfo_t__"
    head = struct.Struct("<IhhH2xIIIiII")  # agent/sockfs.py's
    assert offsets(head.format) == [
        c[si + f] for f in ("si_size", "si_family", "si_type", "si_flag", "si_state",
                            "si_ux_laddr_sou_magic", "si_ux_faddr_sou_magic",
                            "si_serv_type", "si_laddr_soa_len", "si_faddr_soa_len")
    ]  # fmt: skip
    assert c[si + "si_laddr_sun_path"] == sockfs.PATH_AT
    assert c[si + "si_faddr_sun_path"] + sockfs.MAXPATHLEN + 1 == sockfs.PREFIX
    # Since 9531 the inode ends the record; OmniOS's pid list sits in its place.
    assert c["sockinfo_inode_t__si_inode"] == sockfs.INODE_AT
    assert c["sockinfo_inode_t__sizeof"] == sockfs.INODE_AT + 8
    assert c["sockinfo_omnios_t__si_pn_cnt"] == sockfs.INODE_AT
    assert c["sockinfo_omnios_t__sizeof"] == c["sockinfo_inode_t__sizeof"]


def test_the_ctypes_structs_are_the_compilers(lp64: dict[str, int]) -> None:
    # ctypes lays its structs out as this machine's C compiler: amd64, as illumos.
    assert ctypes.sizeof(ctypes.c_void_p) == 8
    assert ctypes.sizeof(_Strbuf) == lp64["strbuf_t__sizeof"]
    for name in ("maxlen", "len", "buf"):
        assert getattr(_Strbuf, name).offset == lp64[f"strbuf_t__{name}"]
    for name, _ in _Kstat._fields_:
        assert getattr(_Kstat, name).offset == lp64[f"kstat_t__{name}"], name


def test_the_parsers_read_back_what_the_compiler_wrote(fixtures: Path) -> None:
    def read(name: str) -> bytes:
        return (fixtures / f"{name}.bin").read_bytes()

    layout = mib2.Layout()
    assert mib2.parse_reply_control(layout, read("optmgmt_ack"), mib2.MOREDATA) == (
        262, 13, 344,
    )  # fmt: skip
    with pytest.raises(OSError, match="refused") as refused:
        mib2.parse_reply_control(layout, read("error_ack"), 0)
    assert refused.value.errno == 13
    for name in TCP_LAYOUTS:
        tcp_header = bytearray(read("mib2_tcp"))
        struct.pack_into("<i", tcp_header, 48, len(read(f"tcp_{name}")))
        struct.pack_into("<i", tcp_header, 208, len(read(f"tcp6_{name}")))
        items = {
            (mib2.MIB2_TCP, 0): bytes(tcp_header),
            (mib2.MIB2_UDP, 0): read("mib2_udp"),
            (mib2.MIB2_TCP, mib2.MIB2_TCP_CONN): read(f"tcp_{name}"),
            (mib2.MIB2_TCP6, mib2.MIB2_TCP6_CONN): read(f"tcp6_{name}"),
            (mib2.MIB2_TCP, mib2.EXPER_SOCK_INFO): read("sockinfo"),
            (mib2.MIB2_UDP, mib2.MIB2_UDP_ENTRY): read("udp"),
            (mib2.MIB2_UDP6, mib2.MIB2_UDP6_ENTRY): read("udp6"),
        }
        sizes = mib2.parse_entry_sizes(layout, items)
        found = mib2.parse_tcp(layout, items, sizes) + mib2.parse_udp(layout, items, sizes)
        assert [
            (s.proto, s.family, s.state, s.local_address, s.local_port, s.remote_address,
             s.remote_port, s.inode, [o.pid for o in s.owners])
            for s in found
        ] == [
            (Proto.TCP, Family.INET, "ESTABLISHED", "10.1.2.3", 8443, "10.9.8.7", 51234,
             0x1122334455, [4242]),
            (Proto.TCP, Family.INET6, "LISTEN", "2001:db8::1", 443, None, None, None,
             [777]),
            (Proto.UDP, Family.INET, "ESTABLISHED", "192.168.7.1", 5353, "192.168.7.2",
             53, None, [99]),
            (Proto.UDP, Family.INET6, "UNCONN", "fe80::1", 546, None, None, None, [120]),
        ], name  # fmt: skip
    info = psinfo.parse_psinfo(read("psinfo"), 8)
    assert (info.pid, info.uid, info.fname, info.args, info.zoneid) == (
        31337, 60001, "nginx", "nginx: master process /opt/local/sbin/nginx", 5,
    )  # fmt: skip
    assert fdinfo.socket_inode(read("fdinfo")) == (17, 0x1122334455)
    [unix] = sockfs.parse_sock_unix_list(read("sock_unix_list"), 1)
    assert (unix.sock_type, unix.state, unix.path, unix.inode) == (
        "stream", "LISTEN", "/var/run/.sshd", 0x1122334466,
    )  # fmt: skip
