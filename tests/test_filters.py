"""The seed's filters on made-up sockets: each switch shown to include and exclude."""

from __future__ import annotations

import pytest

from common.schema import Family
from common.schema import Proto
from common.schema import Socket
from controller.filters import Filter
from controller.filters import is_loopback


def sock(proto: Proto, family: Family, local: tuple[str | None, int | None],
         remote: tuple[str | None, int | None] = (None, None), *, peer: int | None = None,
         path: str | None = None) -> Socket:  # fmt: skip
    return Socket(proto, family, "stream", "LISTEN", local[0], local[1], remote[0],
                  remote[1], path, 1, 0, peer, ())  # fmt: skip


LISTEN4 = sock(Proto.TCP, Family.INET, ("0.0.0.0", 22))
CONN6 = sock(Proto.TCP, Family.INET6, ("::1", 5432), ("::1", 40000))
UDP4 = sock(Proto.UDP, Family.INET, ("127.0.0.1", 53))
MAPPED = sock(Proto.TCP, Family.INET6, ("::ffff:127.0.0.1", 8080), ("::ffff:10.0.0.9", 5))
UNIX = sock(Proto.UNIX, Family.UNIX, (None, None), path="/run/x.sock")
UNIX_PAIR = sock(Proto.UNIX, Family.UNIX, (None, None), peer=7)
ALL = [LISTEN4, CONN6, UDP4, MAPPED, UNIX, UNIX_PAIR]


def shown(**switches: object) -> list[Socket]:
    filt = Filter.from_switches(**switches)  # type: ignore[arg-type]
    fast = filt.compile()
    kept = [s for s in ALL if filt.matches(s)]
    assert kept == [s for s in ALL if fast(s)]  # the fast path agrees with matches()
    return kept


@pytest.mark.parametrize(
    ("switches", "expected"),
    [
        ({}, [LISTEN4, CONN6, UDP4, MAPPED]),  # the seed's default: tcp,udp
        ({"unix": True}, ALL),
        ({"protocols": frozenset({Proto.UDP})}, [UDP4]),
        ({"protocols": frozenset({Proto.UNIX})}, [UNIX, UNIX_PAIR]),
        ({"inet4": True}, [LISTEN4, UDP4]),
        ({"inet6": True}, [CONN6, MAPPED]),
        ({"inet4": True, "inet6": True}, [LISTEN4, CONN6, UDP4, MAPPED]),
        ({"listening": True, "unix": True}, [LISTEN4, UDP4, UNIX]),
        ({"connected": True, "unix": True}, [CONN6, MAPPED, UNIX_PAIR]),
        ({"listening": True, "connected": True}, [LISTEN4, CONN6, UDP4, MAPPED]),
        ({"ports": frozenset({22, 40000}), "unix": True}, [LISTEN4, CONN6]),
        ({"hide_loopback": True}, [LISTEN4]),
    ],
)
def test_each_switch(switches: dict[str, object], expected: list[Socket]) -> None:
    assert shown(**switches) == expected


def test_loopback_includes_mapped_and_scoped_addresses() -> None:
    assert is_loopback("127.3.2.1")
    assert is_loopback("::1")
    assert is_loopback("::ffff:127.0.0.1")
    assert not is_loopback("::ffff:10.0.0.1")
    assert not is_loopback("fe80::1%lo")
    assert not is_loopback(None)
    assert not is_loopback("not an address")


def test_query_asks_the_agent_only_for_what_is_shown() -> None:
    filt = Filter.from_switches(protocols=frozenset({Proto.TCP}), inet6=True)
    assert filt.query.protocols == frozenset({Proto.TCP})
    assert filt.query.families == frozenset({Family.INET6})
