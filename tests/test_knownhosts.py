"""known_hosts lines matched as OpenSSH matches them, with ``ssh-keygen -F`` as judge."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from controller.knownhosts import CERT_AUTHORITY
from controller.knownhosts import REVOKED
from controller.knownhosts import load_known_hosts
from controller.knownhosts import match_host_patterns
from controller.knownhosts import parse_known_hosts
from controller.sshrun import order_host_key_algorithms
from tests.conftest import require_tool

NAMES = [
    "web1",
    "WEB1",
    "a.example.com",
    "bad.example.com",
    "[10.0.0.1]:2222",
    "10.0.0.1",
    "[10.0.0.1]:22",
    "hashme",
    "[hashport]:2200",
    "x.ca.test",
    "db7",
    "db17",
    "nothing",
]


@pytest.fixture(scope="module")
def known_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    keygen = require_tool("ssh-keygen")
    directory = tmp_path_factory.mktemp("known")
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(directory / "k")],
                   check=True)  # fmt: skip
    key = " ".join((directory / "k.pub").read_text().split()[:2])
    lines = [
        "# a comment",
        f"web1 {key}",
        f"*.example.com,!bad.example.com {key}",
        f"[10.0.0.1]:2222 {key}",
        f"db? {key}",
        f"@revoked nothing-but-this {key}",
        f"@cert-authority *.ca.test {key}",
        f"hashme {key}",
        f"[hashport]:2200 {key}",
        "@unknown-marker web1 ssh-ed25519 AAAA",
        "short line",
        f"web1 ssh-ed25519 not-base64!{key[-4:]}",
    ]
    path = directory / "known_hosts"
    path.write_text("\n".join(lines) + "\n")
    # Hash the two names meant for it, as HashKnownHosts does.
    hashed = directory / "hashed"
    hashed.write_text(f"hashme {key}\n[hashport]:2200 {key}\n")
    subprocess.run([keygen, "-q", "-H", "-f", str(hashed)], capture_output=True,
                   check=True)  # fmt: skip
    text = path.read_text().replace(f"hashme {key}\n[hashport]:2200 {key}\n",
                                    hashed.read_text())  # fmt: skip
    path.write_text(text)
    assert "|1|" in text
    return path


def judged_lines(path: Path, name: str) -> set[int]:
    done = subprocess.run(
        ["ssh-keygen", "-F", name, "-f", str(path)], capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    return {int(n) for n in re.findall(r"^# Host .* found: line (\d+)", done.stdout, re.M)}


@pytest.mark.parametrize("name", NAMES)
def test_lines_matched_as_ssh_keygen_finds_them(known_file: Path, name: str) -> None:
    keys, _ = parse_known_hosts(known_file.read_text(), source="k")
    valid = {int(k.where.split(":")[1]) for k in keys}
    ours = {
        int(k.where.split(":")[1]) for k in keys if match_host_patterns(k.patterns, name)
    }
    # ssh-keygen -F also lists lines whose key is unreadable; those are skipped here.
    assert ours == judged_lines(known_file, name) & valid


def test_lookup_sorts_keys_authorities_and_revocations(known_file: Path) -> None:
    known = load_known_hosts([str(known_file), str(known_file.parent / "missing")])
    web = known.lookup("web1", 22)
    assert web.key_types == ["ssh-ed25519"]
    assert not web.authorities
    assert len(web.revoked) == 0
    assert known.lookup("hashport", 2200).key_types == ["ssh-ed25519"]
    assert known.lookup("hashport", 22).keys == []
    ca = known.lookup("x.ca.test", 22)
    assert ca.keys == []
    assert [a.marker for a in ca.authorities] == [CERT_AUTHORITY]
    assert len(known.lookup("nothing-but-this", 22).revoked) == 1
    markers = {k.marker for k in known.keys}
    assert markers == {None, CERT_AUTHORITY, REVOKED}


def test_bad_lines_are_skipped_with_a_reason(known_file: Path) -> None:
    keys, warnings = parse_known_hosts(known_file.read_text(), source="k")
    assert len(keys) == 8
    assert [w.split(":")[1] for w in warnings] == ["10", "11", "12"]
    assert "unknown marker" in warnings[0]


def test_known_key_type_is_asked_for_first() -> None:
    offered = ["ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256"]
    assert order_host_key_algorithms(offered, ["ssh-rsa"])[:2] == [
        "rsa-sha2-512",
        "rsa-sha2-256",
    ]
    assert order_host_key_algorithms(offered, []) == offered
    assert order_host_key_algorithms(offered, ["ecdsa-sha2-nistp256", "ssh-rsa"])[:3] == [
        "ecdsa-sha2-nistp256",
        "rsa-sha2-512",
        "rsa-sha2-256",
    ]
