"""Cleaning text typed by people (or pasted from terminals) before it is searched.

A question copied out of a terminal can start with an ANSI colour code
("\\x1b[1mWhich MLOps tools ...") or stray control characters. Left in, the
code's letters glue onto the first word ("[1mWhich") and the capital in the
middle of that word reads as a name the guides never mention. They carry no
meaning, so they are removed; tabs and line breaks become spaces.
"""

from __future__ import annotations

import re

# CSI sequences (ESC [ ... final byte), OSC sequences (ESC ] ... BEL or ESC \), other two-byte escapes.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SPACE_LIKE = re.compile(r"[\t\n\r]+")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def strip_control(text: str) -> str:
    """`text` without ANSI escape sequences and control characters; tabs and newlines become spaces."""
    return _CONTROL.sub("", _SPACE_LIKE.sub(" ", _ANSI.sub("", text))).strip()


def lone_surrogate(text: str) -> str | None:
    """The first lone UTF-16 surrogate in `text` (e.g. from the JSON escape "\\ud800"), as an escape; None if none.

    Python decodes such an escape into a string that cannot be encoded as UTF-8,
    so the model's tokenizer and the JSON response would fail on it.
    """
    match = _SURROGATE.search(text)
    return f"\\u{ord(match.group(0)):04x}" if match else None
