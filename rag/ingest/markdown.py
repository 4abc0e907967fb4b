"""Markdown guides, and the Markdown-like text extracted from HTML and PDF, read as Markdown.

Headings are lines of their own (`## Feature engineering` is the heading
"Feature engineering", whatever its case), list items start with `-`, `*`, `+`,
`•` or a number — or, without a marker, with "Term: description" —, and a
paragraph runs until a blank line. Fenced code and
horizontal rules are not prose. Offsets are kept into the raw text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from rag.core.text import clean_text, item_label
from rag.core.types import Unit
from rag.ingest.structure import Piece, SectionPath, marker_kind, units_of_pieces

_HEADING = re.compile(r"^[ \t]{0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
_ITEM = re.compile(r"^[ \t]*(?:[-*+•]|\d{1,3}[.)])[ \t]+(?=\S)")
_FENCE = re.compile(r"^[ \t]*(?:```|~~~)")
_RULE = re.compile(r"^[ \t]*(?:[-*_][ \t]*){3,}$")
_LINE = re.compile(r"[^\n]*\n?")
# A line that starts "Term: description" is a list item even without a marker.
_LABELLED = re.compile(r"^[ \t]*(?=\S)")


def markdown_units(raw: str, body_start: int, filler: Callable[[str], str | None], title: str = "") -> tuple[Unit, ...]:
    """Units of the Markdown text `raw[body_start:]`; a level-1 heading equal to `title` is the title, not a section."""
    return tuple(units_of_pieces(raw, _pieces(raw, body_start, title), filler))


def _pieces(raw: str, body_start: int, title: str) -> Iterator[Piece]:
    path = SectionPath()
    open_piece: list | None = None  # [start, end, marker or None] of the paragraph or item being read
    fenced = False
    for line in _LINE.finditer(raw, body_start):
        text, start = line.group(0).rstrip("\n"), line.start()
        if not line.group(0):
            break
        if _FENCE.match(text):
            fenced = not fenced
        heading = None if fenced else _HEADING.match(text)
        item = None if fenced else _item_start(text)
        ends_piece = fenced or not text.strip() or heading or item or _RULE.match(text) or _FENCE.match(text)
        if ends_piece and open_piece is not None:
            yield _piece(open_piece, path.name)
            open_piece = None
        if heading:
            name = clean_text(heading.group(2))
            if not (len(heading.group(1)) == 1 and name == title):
                path.enter(len(heading.group(1)), name)
        elif item:
            open_piece = [start + item.end(), start + len(text), marker_kind(item.group(0))]
        elif not ends_piece:
            if open_piece is None:
                open_piece = [start + len(text) - len(text.lstrip()), start + len(text), None]
            else:
                open_piece[1] = start + len(text)
    if open_piece is not None:
        yield _piece(open_piece, path.name)


def _piece(found: list, section: str) -> Piece:
    return Piece(found[0], found[1], section, found[2] is not None, found[2] or "")



def _item_start(line: str) -> re.Match[str] | None:
    """Where a list item's text starts on `line`: after its marker, or at a "Term:" label."""
    return _ITEM.match(line) or (_LABELLED.match(line) if item_label(clean_text(line)) else None)
