"""Read the guides and parse them into sentence units under section headings.

The guides are scraped web pages: breadcrumbs, photo credits, footers, inline
markdown links, bullet glyphs, and `## Heading` markers that often sit in the
middle of a line with no delimiter before the body text. Parsing removes the
clutter from what gets embedded but keeps every unit's offsets into the raw
file, so a citation can point at the exact source.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from rag.core.errors import CorpusError
from rag.core.text import clean_text, split_sentences, strip_span
from rag.core.types import Document, Span, Unit
from rag.ingest.filler import filler_rule
from rag.ingest.formats import EXTRACTED_SUFFIXES, UnreadableDocument, extract_text, extracted_units, needs_extraction

log = logging.getLogger(__name__)

CORPUS_SUFFIXES = (".txt", ".md") + EXTRACTED_SUFFIXES
_OTHERS = "/".join(EXTRACTED_SUFFIXES)
# Bumped whenever parsing, sentence splitting or filler rules change what a guide's units are:
# the index records it, so a build after such a change re-chunks instead of calling it a no-op.
PARSER_VERSION = 2

_BREADCRUMB = re.compile(r"(?:\[[^\]\n]+\]\([^)\n]*\)\s*>\s*)+")
_HEADING = re.compile(r"(?:(?<=\s)|^)(#{1,6})[ \t]+(?=\S)", re.MULTILINE)
_BOILERPLATE_LINE = re.compile(
    r"^[ \t]*(?:Photo by .{1,80} on \w+|By|Last updated|Looking for someone\?|Hire Developers"
    r"|View talent|Related Articles|Browse independent professionals.*|Share this article"
    r"|Table of Contents)[ \t]*$",
    re.MULTILINE,
)
# A bold label that introduces a list, e.g. "**Key changes:** * item", acts as a sub-heading.
_BOLD_HEADING = re.compile(r"\*\*([^*\n]{3,80}?):?\*\*:?(?=\s+[*•\-–]\s)")
_BOLD_HEADING_LEVEL = 6
_FOOTER_START = re.compile(r"^[ \t]*(?:Looking for someone\?|Related Articles)[ \t]*$", re.MULTILINE)
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


def load_corpus(corpus_dir: Path) -> list[Document]:
    """Parse every guide in `corpus_dir` (CORPUS_SUFFIXES); unusable files are skipped with a warning."""
    paths = corpus_files(corpus_dir)
    docs = [doc for doc in (_load_one(p) for p in paths) if doc is not None]
    if not docs:
        raise CorpusError(f"no usable guide in {corpus_dir}: every file was empty, binary or clutter")
    return docs


def corpus_files(corpus_dir: Path) -> list[Path]:
    """The guide files of a corpus folder, sorted by name."""
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus folder {corpus_dir} does not exist — create it and add .txt or .md guides (or {_OTHERS})")
    paths = sorted(p for p in corpus_dir.iterdir() if p.is_file() and p.suffix.lower() in CORPUS_SUFFIXES)
    if not paths:
        raise CorpusError(f"corpus folder {corpus_dir} has no .txt or .md files (nor {_OTHERS}) — add guides to it")
    return paths


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load_one(path: Path) -> Document | None:
    data = path.read_bytes()
    if needs_extraction(path.name):
        try:
            raw = extract_text(path.name, data)
        except UnreadableDocument as e:
            log.warning("skipped %s: %s", path.name, e)
            return None
        return _parsed(path, raw, data, extracted_units(raw))
    if b"\x00" in data:
        log.warning("skipped %s: binary file", path.name)
        return None
    try:
        raw = data.decode("utf-8")
    except UnicodeDecodeError as e:
        log.warning("skipped %s: not UTF-8 text (byte %d)", path.name, e.start)
        return None
    return _parsed(path, raw, data)


def _parsed(path: Path, raw: str, data: bytes, units: tuple[Unit, ...] | None = None) -> Document | None:
    doc = parse_document(path.name, raw, hashlib.sha256(data).hexdigest())
    doc = doc if units is None else replace(doc, units=units)
    if not doc.units:
        log.warning("skipped %s: no text left after removing page clutter", path.name)
        return None
    return doc


def parse_document(name: str, raw: str, sha256: str = "") -> Document:
    """Parse one guide's raw text into a Document of units with raw offsets."""
    title = _title(raw, name)
    edition = _edition(title) or _edition(name)
    masked = _clutter_spans(raw, title)
    units = tuple(_units(raw, masked))
    return Document(doc=name, title=title, edition=edition, sha256=sha256, raw=raw, units=units)


def _title(raw: str, name: str) -> str:
    first = next((line for line in raw.splitlines() if line.strip()), "")
    first = _BREADCRUMB.split(first)[0] if _BREADCRUMB.search(first) else first
    first = first.split(" [")[0].strip().lstrip("# ").strip()
    if not first or len(first) > 150:
        return Path(name).stem
    return first


def _edition(text: str) -> str | None:
    match = re.search(r"\b(19|20)\d\d\b", text)
    return match.group(0) if match else None


def _clutter_spans(raw: str, title: str) -> list[Span]:
    spans = [Span(m.start(), m.end()) for m in _BOILERPLATE_LINE.finditer(raw)]
    footer = _FOOTER_START.search(raw)
    if footer:
        spans.append(Span(footer.start(), len(raw)))
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


def _units(raw: str, masked: list[Span]) -> Iterator[Unit]:
    """Walk the raw text: headings set the section path, body text becomes units."""
    path: list[tuple[int, str]] = []
    pos = 0
    for region_start, region_end, level, heading in _regions(raw, masked):
        yield from _body_units(raw, pos, region_start, _section(path))
        if level:
            path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, heading)]
        pos = region_end
    yield from _body_units(raw, pos, len(raw), _section(path))


def _section(path: list[tuple[int, str]]) -> str:
    return " > ".join(h for _, h in path) or "Introduction"


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


def _body_units(raw: str, start: int, end: int, section: str) -> Iterator[Unit]:
    for item in _split(raw, start, end, _ITEM_BREAK):
        for sentence_start, sentence_end in split_sentences(raw, item.start, item.end):
            text = clean_text(raw[sentence_start:sentence_end])
            if re.search(r"[A-Za-z0-9]", text):
                yield Unit(section=section, start=sentence_start, end=sentence_end, text=text, filler=filler_rule(text))


def _split(raw: str, start: int, end: int, pattern: re.Pattern[str]) -> Iterator[Span]:
    pos = start
    for m in pattern.finditer(raw, start, end):
        yield from strip_span(raw, pos, m.start())
        pos = m.end()
    yield from strip_span(raw, pos, end)
