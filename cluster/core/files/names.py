"""Which file names are allowed, with a refusal a person can act on.

A file name travels in URLs, on command lines, in the dashboard and, on a
client, becomes a path on disk (``clusterlab get NAME`` writes ``NAME``).
So names are flat and boring on purpose: no ``/`` or ``\\`` (no folders, no
path traversal such as ``../../etc/passwd``), no NUL or control characters
(they break terminals, logs and C APIs), not ``.`` or ``..``, no leading or
trailing spaces (invisible in a listing), at most 255 UTF-8 bytes (the name
limit of ext4 and most file systems, so a download can keep the name).

The refusals are ``ValueError`` whose message says what is wrong and where.
"""

from __future__ import annotations

import unicodedata

MAX_NAME_BYTES = 255  # NAME_MAX of ext4, XFS, APFS: a downloaded file can keep its name
SEPARATORS = ("/", "\\")
# Unicode categories that are invisible or move the cursor: C0/C1 controls,
# line and paragraph separators.
CONTROL_CATEGORIES = ("Cc", "Zl", "Zp")


def check_name(name: object) -> str:
    """``name`` if it is an allowed file name; otherwise ValueError saying why."""
    if not isinstance(name, str):
        raise ValueError(f"a file name must be text, got {type(name).__name__}")
    if not name:
        raise ValueError("a file name must not be empty")
    try:
        size_bytes = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError("a file name must be valid Unicode (it has a lone surrogate)") from None
    if size_bytes > MAX_NAME_BYTES:
        raise ValueError(
            f"a file name is at most {MAX_NAME_BYTES} bytes in UTF-8; this one has {size_bytes}"
        )
    if name in (".", ".."):
        raise ValueError(f"{name!r} is not a file name (it means a directory)")
    for position, char in enumerate(name):
        if char in SEPARATORS:
            raise ValueError(
                f"a file name must not contain {char!r} (found at position {position}):"
                " names are flat, there are no folders"
            )
        if char == "\x00":
            raise ValueError(f"a file name must not contain NUL (found at position {position})")
        if unicodedata.category(char) in CONTROL_CATEGORIES:
            raise ValueError(
                f"a file name must not contain control characters"
                f" (U+{ord(char):04X} at position {position})"
            )
    if name != name.strip(" "):
        raise ValueError("a file name must not start or end with a space")
    return name


def is_valid_name(name: object) -> bool:
    try:
        check_name(name)
    except ValueError:
        return False
    return True
