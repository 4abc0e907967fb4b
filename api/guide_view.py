"""A guide as an HTML article, one passage marked: what "open the whole guide" shows.

The article is built from the index's own outline of the guide (rag.index.outline:
its sentences and bullet items in reading order, with their sections, paragraphs
and list items, page clutter left out), not from the corpus file: the text shown
is the text the answers were taken from, and every sentence keeps the offsets the
index gave it, which is how a passage's `start`–`end` and its quoted sentences are
found and marked — for HTML and PDF guides too, whose offsets point into the text
extracted at build time. All guide text is escaped.
"""

from __future__ import annotations

from collections.abc import Iterator
from html import escape

from rag.core.types import Unit
from rag.index.outline import GuideOutline

PASSAGE_ID = "passage"


def guide_article(guide: GuideOutline, passage: tuple[int, int] | None, quotes: list[tuple[int, int]]) -> str:
    """The guide's headings and paragraphs; units inside `passage` are marked, the first
    of them carries id="passage", and units inside `quotes` are marked more strongly."""
    return "\n".join(_blocks(guide.units, passage, quotes))


def _blocks(units: tuple[Unit, ...], passage: tuple[int, int] | None, quotes: list[tuple[int, int]]) -> Iterator[str]:
    path: list[str] = []
    paragraph: list[str] = []
    anchored = False
    previous: Unit | None = None
    for unit in units:
        new_path = unit.section.split(" > ")
        if previous is None or new_path != path or (unit.block, unit.item) != (previous.block, previous.item):
            yield from _paragraph(paragraph, previous)
            paragraph = []
        if new_path != path:
            yield from _headings(path, new_path)
            path = new_path
        text = escape(unit.text)
        if passage and _overlaps(unit, *passage):
            kind = "quote" if any(_overlaps(unit, *q) for q in quotes) else "passage"
            anchor = "" if anchored else f' id="{PASSAGE_ID}"'
            text = f'<mark class="{kind}"{anchor}>{text}</mark>'
            anchored = True
        paragraph.append(text)
        previous = unit
    yield from _paragraph(paragraph, previous)


def _headings(old: list[str], new: list[str]) -> Iterator[str]:
    """Headings for the parts of the section path that changed: h2, then h3 below it."""
    same = 0
    while same < min(len(old), len(new)) and old[same] == new[same]:
        same += 1
    for depth in range(same, len(new)):
        level = min(depth + 2, 4)
        yield f"<h{level}>{escape(new[depth])}</h{level}>"


def _paragraph(sentences: list[str], unit: Unit | None) -> Iterator[str]:
    if sentences and unit is not None:
        opening = '<p class="item">' if unit.item >= 0 else "<p>"
        yield opening + " ".join(sentences) + "</p>"


def _overlaps(unit: Unit, start: int, end: int) -> bool:
    return unit.start < end and start < unit.end
