"""A guide as an HTML article, one passage marked: what "open the whole guide" shows.

The article is built from the parsed guide (its sentences and bullet items under
their headings, page clutter left out), so it reads like the guide; each
sentence keeps its raw offsets, which is how a passage's `start`–`end` and its
quoted sentences are found and marked. All guide text is escaped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import escape

from rag.core.types import Document, Unit

PASSAGE_ID = "passage"
_BULLET = re.compile(r"(?:^|\n)[ \t]*[-*•][ \t]")


def guide_article(document: Document, passage: tuple[int, int] | None, quotes: list[tuple[int, int]]) -> str:
    """The guide's headings and paragraphs; units inside `passage` are marked, the first
    of them carries id="passage", and units inside `quotes` are marked more strongly."""
    return "\n".join(_blocks(document, passage, quotes))


def _blocks(document: Document, passage: tuple[int, int] | None, quotes: list[tuple[int, int]]) -> Iterator[str]:
    path: list[str] = []
    paragraph: list[str] = []
    item = False
    anchored = False
    previous: Unit | None = None
    for unit in document.units:
        new_path = unit.section.split(" > ")
        gap = document.raw[previous.end : unit.start] if previous else ""
        if new_path != path or "\n" in gap or _BULLET.search(gap):
            yield from _paragraph(paragraph, item)
            paragraph = []
            item = bool(_BULLET.search(gap))
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
    yield from _paragraph(paragraph, item)


def _headings(old: list[str], new: list[str]) -> Iterator[str]:
    """Headings for the parts of the section path that changed: h2, then h3 below it."""
    same = 0
    while same < min(len(old), len(new)) and old[same] == new[same]:
        same += 1
    for depth in range(same, len(new)):
        level = min(depth + 2, 4)
        yield f"<h{level}>{escape(new[depth])}</h{level}>"


def _paragraph(sentences: list[str], item: bool) -> Iterator[str]:
    if sentences:
        opening = '<p class="item">' if item else "<p>"
        yield opening + " ".join(sentences) + "</p>"


def _overlaps(unit: Unit, start: int, end: int) -> bool:
    return unit.start < end and start < unit.end
