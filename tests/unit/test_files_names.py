"""Which file names are allowed, and that a refusal says what is wrong."""

from __future__ import annotations

import pytest

from cluster.core.files.names import MAX_NAME_BYTES, check_name, is_valid_name

ORDINARY = [
    "report.pdf",
    "a",
    "résumé 2024.txt",
    "日本語のファイル",
    "x" * MAX_NAME_BYTES,
    ".bashrc",
    "a..b",
]


@pytest.mark.parametrize("name", ORDINARY)
def test_ordinary_names_are_accepted(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("", "must not be empty"),
        ("../../etc/passwd", "'/'"),
        ("dir/file", "no folders"),
        ("..\\windows", "'\\\\'"),
        ("a\x00b", "NUL"),
        ("line\nbreak", "U+000A at position 4"),
        ("bell\x07", "control characters"),
        ("del\x7f", "U+007F"),
        ("c1\x85", "U+0085"),
        ("sep\u2028", "U+2028"),
        (".", "not a file name"),
        ("..", "not a file name"),
        (" lead", "start or end with a space"),
        ("trail ", "start or end with a space"),
        ("x" * (MAX_NAME_BYTES + 1), f"at most {MAX_NAME_BYTES} bytes"),
        ("é" * 128, "this one has 256"),  # 128 characters, 256 bytes in UTF-8
        ("lone\ud800", "valid Unicode"),
    ],
)
def test_bad_names_are_refused_with_a_reason(name: str, says: str) -> None:
    with pytest.raises(ValueError, match=None) as info:
        check_name(name)
    assert says in str(info.value)
    assert not is_valid_name(name)


def test_a_name_that_is_not_text_is_refused() -> None:
    with pytest.raises(ValueError, match="must be text"):
        check_name(b"bytes")
