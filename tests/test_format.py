"""Escaping untrusted text: the plain-ASCII shortcut changes nothing the regex decides."""

from __future__ import annotations

import re

from common import format as fmt
from common.format import escape_text


def by_regex_alone(text: str) -> str:
    return re.sub(fmt._UNSAFE_CHARS, fmt._escape_char, text)


def test_every_character_alone_and_in_a_name() -> None:
    for code in range(0x110000):
        char = chr(code)
        assert escape_text(char) == by_regex_alone(char), hex(code)
        if code < 0x3000:
            name = f"web{char}1"
            assert escape_text(name) == by_regex_alone(name), hex(code)


def test_what_a_terminal_must_not_get() -> None:
    assert escape_text("evil\x1b[2Jname") == "evil\\x1b[2Jname"
    assert escape_text("a\r\nb\tc") == "a\\r\\nb\\tc"
    assert escape_text("\x7f\x9b") == "\\x7f\\x9b"
    assert escape_text("rtl\u202eexe.txt") == "rtl\\u202eexe.txt"
    assert escape_text("plain /usr/sbin/sshd -D") == "plain /usr/sbin/sshd -D"
    assert escape_text("naïve café") == "naïve café"
