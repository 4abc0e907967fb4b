"""Guides saved as scraped web text: headings inline, clutter around the content.

The guides are scraped web pages: breadcrumbs, photo credits, footers, inline
markdown links, bullet glyphs, and `## Heading` markers that often sit in the
middle of a line with no delimiter before the body text. Parsing removes the
clutter (the profile's page furniture, rag.ingest.profile) from what gets
embedded but keeps every unit's offsets into the raw file, so a citation can
point at the exact source.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from rag.core.text import clean_text, strip_span
from rag.core.types import Span, Unit
from rag.ingest.profile import Profile
from rag.ingest.structure import Piece, SectionPath, marker_kind, units_of_pieces

_BREADCRUMB = re.compile(r"(?:\[[^\]\n]+\]\([^)\n]*\)\s*>\s*)+")
_HEADING = re.compile(r"(?:(?<=\s)|^)(#{1,6})[ \t]+(?=\S)", re.MULTILINE)
# A bold label that introduces a list, e.g. "**Key changes:** * item", acts as a sub-heading.
_BOLD_HEADING = re.compile(r"\*\*([^*\n]{3,80}?):?\*\*:?(?=\s+[*•\-–]\s)")
_BOLD_HEADING_LEVEL = 6
# Where a new unit starts inside a block of body text: bullet glyphs, list numbers.
# A dash marks an item only at the start of a line: mid-line it is punctuation
# ("AWS Certified Solutions Architect – Associate").
_ITEM_BREAK = re.compile(
    r"\n+|(?:^|(?<=\s))(?:[•*]|\d{1,2}\.)[ \t]+(?=[A-Z*\[])|^[ \t]*[\-–][ \t]+(?=[A-Z*\[])", re.MULTILINE
)

_FUNCTION_WORDS = frozenset(
    "a an and or of for the in on to with vs vs. at by from as into &".split()
)
# Words that often start the body sentence right after an inline heading.
_SENTENCE_STARTERS = frozenset(
    "A An The This These You We It Most Many Not In As While When If Once Why To Even Before".split()
)


def scraped_title(raw: str, name: str) -> str:
    """The page's title: its first line, without breadcrumbs and links."""
    return _title(raw, name)


def scraped_units(raw: str, title: str, profile: Profile) -> tuple[Unit, ...]:
    """Sentence units of a scraped guide, with their sections, blocks and items."""
    masked = _clutter_spans(raw, title, profile)
    return tuple(units_of_pieces(raw, _pieces(raw, masked), profile.filler_rule))


def _title(raw: str, name: str) -> str:
    first = next((line for line in raw.splitlines() if line.strip()), "")
    first = _BREADCRUMB.split(first)[0] if _BREADCRUMB.search(first) else first
    first = first.split(" [")[0].strip().lstrip("# ").strip()
    if not first or len(first) > 150:
        return Path(name).stem
    return first


def _clutter_spans(raw: str, title: str, profile: Profile) -> list[Span]:
    spans = [Span(m.start(), m.end()) for pattern in profile.chrome for m in pattern.finditer(raw)]
    footers = [m.start() for pattern in profile.footer if (m := pattern.search(raw))]
    if footers:
        spans.append(Span(min(footers), len(raw)))
    for m in re.finditer(r"^[ \t]*" + re.escape(title), raw, re.MULTILINE):
        line_end = raw.find("\n", m.end())
        rest = raw[m.end() : line_end if line_end >= 0 else len(raw)]
        # A title line on its own, or a title followed by a breadcrumb.
        if not rest.strip() or rest.lstrip().startswith("["):
            spans.append(Span(m.start(), m.end()))
    for m in _BREADCRUMB.finditer(raw):
        spans.append(Span(m.start(), m.end() + _title_prefix_length(raw[m.end() :], title)))
    return spans


def _title_prefix_length(text: str, title: str) -> int:
    """Length of the leading words of `text` that repeat the title's words, case-sensitively."""
    end = 0
    for word, title_word in zip(re.finditer(r"\S+", text), title.split()):
        if word.group(0) != title_word:
            break
        end = word.end()
    return end


def _pieces(raw: str, masked: list[Span]) -> Iterator[Piece]:
    """Walk the raw text: headings set the section path, body text becomes pieces."""
    path = SectionPath()
    pos = 0
    for region_start, region_end, level, heading in _regions(raw, masked):
        yield from _body_pieces(raw, pos, region_start, path.name)
        if level:
            path.enter(level, heading)
        pos = region_end
    yield from _body_pieces(raw, pos, len(raw), path.name)


def _regions(raw: str, masked: list[Span]) -> Iterator[tuple[int, int, int, str]]:
    """Clutter and heading regions in order: (start, end, heading level or 0, heading text)."""
    regions = [(s.start, s.end, 0, "") for s in masked]
    for m in _HEADING.finditer(raw):
        if any(s.start <= m.start() < s.end for s in masked):
            continue
        end, heading = _heading_extent(raw, m.end())
        regions.append((m.start(), end, len(m.group(1)), heading))
    for m in _BOLD_HEADING.finditer(raw):
        if not any(s.start <= m.start() < s.end for s in masked):
            regions.append((m.start(), m.end(), _BOLD_HEADING_LEVEL, clean_text(m.group(1)).rstrip(":")))
    regions.sort()
    last_end = 0
    for start, end, level, heading in regions:
        if end <= last_end:
            continue
        yield max(start, last_end), end, level, heading
        last_end = end


def _heading_extent(raw: str, start: int) -> tuple[int, str]:
    """Where an inline heading ends and its text, numbering stripped.

    A heading runs to the end of its line, unless body text follows on the same
    line: then it ends before the body's first sentence (see `_body_start`).
    """
    line_end = raw.find("\n", start)
    line_end = len(raw) if line_end < 0 else line_end
    tokens = [(m.start() + start, m.group(0)) for m in re.finditer(r"\S+", raw[start:line_end])]
    cut = _body_start([t for _, t in tokens])
    end = tokens[cut][0] if cut < len(tokens) else line_end
    heading = re.sub(r"^\d{1,2}\.\s*", "", clean_text(raw[start:end])).rstrip(":")
    return end, heading


def _body_start(tokens: list[str]) -> int:
    """Index of the token where body text begins after an inline heading.

    Headings are title-cased, so the body begins near the first lowercase
    content word: at a common sentence starter if one appears, else where a
    heading word repeats ("Agentic AI Agentic AI refers"), else at the last
    capitalised word before it.
    """
    first_lower = next(
        (i for i, t in enumerate(tokens) if t[0].islower() and t.lower() not in _FUNCTION_WORDS), len(tokens)
    )
    if first_lower == len(tokens):
        return len(tokens)
    first_word = 1 if re.fullmatch(r"\d{1,2}\.", tokens[0]) else 0
    candidates = range(first_word + 1, first_lower)
    for i in candidates:
        if tokens[i] in _SENTENCE_STARTERS and not tokens[i - 1].endswith(":"):
            return i
    for i in candidates:
        if tokens[i][0].isupper() and tokens[i] in tokens[first_word:i]:
            return i
    for i in reversed(candidates):
        if tokens[i][0].isupper() or tokens[i][0].isdigit() or tokens[i][0] in "\"“":
            return i
    return first_lower


def _body_pieces(raw: str, start: int, end: int, section: str) -> Iterator[Piece]:
    """The paragraphs and list items of a stretch of body text: a piece that follows a bullet
    glyph, a list number or a line-initial dash is an item."""
    pos, marker = start, ""
    for m in _ITEM_BREAK.finditer(raw, start, end):
        yield from (Piece(s.start, s.end, section, bool(marker), marker) for s in strip_span(raw, pos, m.start()))
        pos, marker = m.end(), marker_kind(m.group(0)) if m.group(0).strip() else ""
    yield from (Piece(s.start, s.end, section, bool(marker), marker) for s in strip_span(raw, pos, end))
