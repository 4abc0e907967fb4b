"""The guide's structure: section paths, and the paragraphs and lists under them.

Every parser (scraped web text, Markdown, the text extracted from HTML and PDF)
finds headings and pieces of body text — a paragraph, or one list item — and
hands them here. A run of items in one section is one list; a paragraph is a
block of its own. Each sentence unit then knows its section, its block and, in
a list, its item: an answer can quote a whole list, or the lead-in before it.
A remark inside an item ("Tip: …", "Real-world example: …") and what follows it
leave the list: they comment on it, they are not one of its items.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from rag.core.text import clean_text, item_label, label_and_body, split_sentences
from rag.core.types import Unit

INTRODUCTION = "Introduction"
_HAS_WORD = re.compile(r"[A-Za-z0-9]")


class SectionPath:
    """The heading path at a point of a guide: entering a heading drops those at its level and below."""

    def __init__(self) -> None:
        self._path: list[tuple[int, str]] = []

    def enter(self, level: int, heading: str) -> None:
        self._path = [(lvl, h) for lvl, h in self._path if lvl < level] + [(level, heading)]

    @property
    def name(self) -> str:
        return " > ".join(h for _, h in self._path) or INTRODUCTION


@dataclass(frozen=True)
class Piece:
    """A paragraph or one list item: `raw[start:end]` under `section`."""

    start: int
    end: int
    section: str
    is_item: bool
    marker: str = ""  # what kind of mark makes it an item (rag.ingest.structure.marker_kind)


def units_of_pieces(raw: str, pieces: Iterable[Piece], filler: Callable[[str], str | None]) -> Iterator[Unit]:
    """Sentence units of the pieces in reading order, numbered into blocks and items: consecutive
    items of one section with the same marker are one list."""
    block, item, in_list, last = -1, -1, False, None
    for piece in pieces:
        if piece.is_item and in_list and last is not None and (piece.section, piece.marker) == (last.section, last.marker):
            item += 1
        else:
            block += 1
            item = 0 if piece.is_item else -1
        in_list, last = piece.is_item, piece
        for start, end in split_sentences(raw, piece.start, piece.end):
            text = clean_text(raw[start:end])
            if not _HAS_WORD.search(text):
                continue
            if in_list and _is_remark(text):
                block, item, in_list = block + 1, -1, False
            yield Unit(piece.section, start, end, text, filler(text), block, item if in_list else -1)


def marker_kind(prefix: str) -> str:
    """A list item's kind of marker: "•" for any bullet glyph or dash, "1" for a number, ":" for a
    "Term: description" line without one. Items of different kinds are different lists."""
    glyph = prefix.strip()[:1]
    if not glyph:
        return ":"
    return "1" if glyph.isdigit() else "•"


def _is_remark(sentence: str) -> bool:
    label, _ = label_and_body(sentence)
    return label is not None and item_label(sentence) is None
