"""Pure parts of zone handling: zoneadm lines, selection, names, ss text."""

from __future__ import annotations

import pytest

from agent.netns import parse_container_id
from agent.netns import safe_name
from common.errors import ParseError
from common.schema import Family
from controller.request import ZoneSelectionError
from controller.request import select_zones
from controller.ss import parse_ss
from controller.zones import parse_zoneadm
from controller.zones import split_zoneadm_line
from controller.zones import valid_zone_name


def test_zoneadm_seven_and_eight_fields_with_escaped_colons() -> None:
    text = (
        "0:global:running:/::ipkg:shared\n"
        "3:web01:running:/zones/web\\:01:6b2f-uuid:joyent:excl:5\n"
        "-:db:installed:/zones/db::lipkg:shared\n"
    )
    zones = parse_zoneadm(text)
    assert [(z.name, z.state, z.path, z.brand, z.iptype) for z in zones] == [
        ("global", "running", "/", "ipkg", "shared"),
        ("web01", "running", "/zones/web:01", "joyent", "excl"),
        ("db", "installed", "/zones/db", "lipkg", "shared"),
    ]


def test_zoneadm_bad_line_names_the_line() -> None:
    with pytest.raises(ParseError, match="malformed line 2 in zoneadm list -p: 'oops'"):
        parse_zoneadm("0:global:running:/::ipkg:shared\noops\n")


def test_split_keeps_other_backslashes() -> None:
    assert split_zoneadm_line(r"1:a:running:/z\x:u:b:excl") == [
        "1", "a", "running", r"/z\x", "u", "b", "excl",
    ]  # fmt: skip


def test_select_zones_globs_and_errors() -> None:
    names = ["global", "web1", "web2", "db1"]
    assert select_zones(names, None) == names
    assert select_zones(names, ["web*"]) == ["web1", "web2"]
    assert select_zones(names, ["db1", "web2"]) == ["web2", "db1"]
    with pytest.raises(
        ZoneSelectionError, match="no zone matches 'mail'; zones here: global"
    ):
        select_zones(names, ["mail"])


def test_container_names() -> None:
    cgroup = b"0::/system.slice/docker-" + b"0123456789ab" + b"c" * 52 + b".scope\n"
    assert parse_container_id(cgroup) == "0123456789ab"
    assert parse_container_id(b"0::/user.slice\n") is None
    assert safe_name("my app\x1b[2J") == "my_app_2J"


SS_TEXT = """\
Netid State  Recv-Q Send-Q      Local Address:Port   Peer Address:PortProcess
udp   UNCONN 0      0           127.0.0.53%lo:53          0.0.0.0:*    users:(("systemd-resolve",pid=501,fd=13)) uid:101 ino:18400 sk:1
tcp   LISTEN 0      128               0.0.0.0:22          0.0.0.0:*    users:(("sshd",pid=812,fd=3),("sshd",pid=900,fd=3)) ino:18123 sk:2
tcp   ESTAB  0      0      [::ffff:10.0.0.5]:22  [::ffff:10.0.0.9]:5123 users:(("sshd",pid=900,fd=4)) ino:18200 sk:3
tcp   LISTEN 0      128                  [::]:80             [::]:*    ino:18300 sk:4
"""  # noqa: E501


def test_ss_fallback_text() -> None:
    sockets = parse_ss(SS_TEXT)
    assert [
        (s.proto.value, s.family, s.state, s.local_address, s.local_port) for s in sockets
    ] == [
        ("udp", Family.INET, "UNCONN", "127.0.0.53", 53),
        ("tcp", Family.INET, "LISTEN", "0.0.0.0", 22),
        ("tcp", Family.INET6, "ESTABLISHED", "::ffff:10.0.0.5", 22),
        ("tcp", Family.INET6, "LISTEN", "::", 80),
    ]
    assert [(o.pid, o.fd, o.command) for o in sockets[1].owners] == [
        (812, 3, "sshd"),
        (900, 3, "sshd"),
    ]
    assert sockets[0].uid == 101
    assert sockets[0].inode == 18400
    assert sockets[2].remote_port == 5123
    assert sockets[3].owners == ()
    assert sockets[3].remote_address is None


def test_ss_malformed_line() -> None:
    with pytest.raises(ParseError, match="malformed line 1"):
        parse_ss("tcp WHATEVER 0 0 a b\n")


@pytest.mark.parametrize("name", ["web;rm -rf /", "a b", "-Q", "", "x" * 64, "$(id)"])
def test_invalid_zone_names(name: str) -> None:
    assert not valid_zone_name(name)


@pytest.mark.parametrize("name", ["web", "web-01.prod", "a_b", "x" * 63])
def test_valid_zone_names(name: str) -> None:
    assert valid_zone_name(name)
