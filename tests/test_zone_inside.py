"""A controller run inside a non-global illumos zone (issue #12.2).

There zoneadm lists only the zone itself and zlogin refuses to run; the zone is
surveyed in place under its own name (getzoneid() on illumos, agent/illumos.py), and
the run says that -Z and -z need the global zone.  zoneadm and zlogin are the stubs
of tests/stubs, told by "inside" to behave as they do in a non-global zone.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest

from common.schema import Snapshot
from controller.survey import own_zone_name
from tests.conftest import ROOT
from tests.conftest import run_sockstat

STUBS = ROOT / "tests" / "stubs"


@pytest.mark.parametrize(
    ("platform", "zone", "named"),
    [
        ("sunos5", "web", "web"),  # getzoneid() there: the zone's own name
        ("sunos5", "global", "global"),
        ("sunos5", "ev\x1b[2Jil", "global"),  # no zonecfg accepts it: not a label
        ("linux", "web", "global"),  # Linux has no zone to name
    ],
)
def test_the_zone_an_agent_ran_in_unasked(platform: str, zone: str, named: str) -> None:
    snapshot = Snapshot("h", zone, platform, "SunOS 5.11", "0.1", time.time())
    assert own_zone_name(snapshot) == named


def inside(tmp_path: Path, zone: str) -> dict[str, str]:
    config = tmp_path / "zones.json"
    config.write_text(json.dumps({"inside": zone, "zones": []}))
    return {"PATH": f"{STUBS}:{os.environ['PATH']}", "SOCKSTAT_STUB_ZONES": str(config)}


@pytest.mark.parametrize("flags", [["-Z"], ["-z", "web*"]])
def test_all_zones_asked_from_a_non_global_zone(tmp_path: Path, flags: list[str]) -> None:
    done = run_sockstat("--format", "json", "-l", *flags, env=inside(tmp_path, "web1"))
    assert done.returncode == 0, done.stderr  # its own zone answered
    doc = json.loads(done.stdout)
    host = socket.gethostname()
    reason = (
        f"-Z and -z need the global zone: {host} is the non-global zone 'web1', "
        "which sees only its own sockets"
    )
    assert [(t["zone"], t["status"], t["error"]) for t in doc["targets"]] == [
        ("web1", "ok", None),
        ("*", "skipped", reason),
    ]
    assert {s["zone"] for s in doc["sockets"]} <= {"web1"}
    assert f"sockstat: {host}: {reason}" in done.stderr.splitlines()


def test_a_hostile_zone_name_is_neither_a_label_nor_printed_raw(tmp_path: Path) -> None:
    done = run_sockstat("--format", "json", "-Z", env=inside(tmp_path, "ev\x1b[2Jil"))
    doc = json.loads(done.stdout)
    assert [t["zone"] for t in doc["targets"]] == ["global", "*"]
    assert "\x1b" not in done.stderr
    assert "ev\\x1b[2Jil" in done.stderr
