"""Pack a guide's sentence units into token-sized, overlapping, section-bound chunks.

Chunks never cross a section boundary and never cut a sentence, unless a single
sentence is longer than the embedding model's window: then, and only then, it
is split at word boundaries. The window guarantee is checked on the exact text
that gets embedded, with the model's own tokenizer (see `rag.encoders.embedding`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pydantic import BaseModel, Field

from rag.core.text import TOKEN_ENCODING, clean_text, count_tokens
from rag.core.types import Chunk, Document, Unit


class ChunkerSettings(BaseModel, frozen=True):
    """How guides are cut into chunks; recorded in the index manifest."""

    max_tokens: int = Field(default=96, ge=16, le=512, description="tiktoken tokens per chunk, at most")
    overlap_tokens: int = Field(default=0, ge=0, le=256, description="tokens of whole sentences repeated")
    encoding: str = TOKEN_ENCODING


@dataclass(frozen=True)
class _Piece:
    unit: Unit
    tokens: int


def chunk_document(
    doc: Document, settings: ChunkerSettings, fits: Callable[[Chunk], bool]
) -> list[Chunk]:
    """Chunks of one document, in reading order, each accepted by `fits` (the model window)."""
    chunks: list[Chunk] = []
    for section_units in _by_section(doc.units):
        pieces = [_Piece(u, count_tokens(u.text, settings.encoding)) for u in section_units]
        for group in _pack(pieces, settings.max_tokens, settings.overlap_tokens):
            chunks.extend(_fit(doc, group, fits))
    return [_with_id(doc, c, i) for i, c in enumerate(chunks)]


def _by_section(units: Sequence[Unit]) -> Iterator[list[Unit]]:
    group: list[Unit] = []
    for unit in units:
        if group and unit.section != group[-1].section:
            yield group
            group = []
        group.append(unit)
    if group:
        yield group


def _pack(pieces: list[_Piece], max_tokens: int, overlap: int) -> Iterator[list[Unit]]:
    """Greedy packing of whole sentences; each chunk after the first repeats the
    trailing sentences of the previous one, up to `overlap` tokens."""
    start = 0
    while start < len(pieces):
        end, total = start, 0
        while end < len(pieces) and (end == start or total + pieces[end].tokens <= max_tokens):
            total += pieces[end].tokens
            end += 1
        yield [p.unit for p in pieces[start:end]]
        if end == len(pieces):
            return
        back, carried = end, 0
        while back - 1 > start and carried + pieces[back - 1].tokens <= overlap:
            back -= 1
            carried += pieces[back].tokens
        start = back


def _fit(doc: Document, units: list[Unit], fits: Callable[[Chunk], bool]) -> list[Chunk]:
    """Split a group until every chunk fits the model window."""
    chunk = _make_chunk(doc, units)
    if fits(chunk):
        return [chunk]
    if len(units) > 1:
        mid = len(units) // 2
        return _fit(doc, units[:mid], fits) + _fit(doc, units[mid:], fits)
    return [c for part in _split_unit(doc.raw, units[0]) for c in _fit(doc, [part], fits)]


def _split_unit(raw: str, unit: Unit) -> list[Unit]:
    """Halve an over-long sentence at the word boundary nearest its middle."""
    words = [m for m in re.finditer(r"\S+", raw[unit.start : unit.end])]
    if len(words) < 2:
        raise ValueError(f"a single word at {unit.start} is longer than the embedding window")
    mid = words[len(words) // 2].start() + unit.start
    left, right = raw[unit.start : mid].rstrip(), raw[mid : unit.end]
    return [
        Unit(unit.section, unit.start, unit.start + len(left), clean_text(left), unit.filler),
        Unit(unit.section, mid, unit.end, clean_text(right), unit.filler),
    ]


def _make_chunk(doc: Document, units: list[Unit]) -> Chunk:
    sentences, pos = [], 0
    for u in units:
        sentences.append((pos, pos + len(u.text), u.start, u.end))
        pos += len(u.text) + 1
    return Chunk(
        chunk_id="",
        doc=doc.doc,
        section=units[0].section,
        text=" ".join(u.text for u in units),
        start=units[0].start,
        end=units[-1].end,
        title=doc.title,
        edition=doc.edition,
        series=doc.series,
        sentences=tuple(sentences),
        filler=tuple(u.filler for u in units),
    )


def _with_id(doc: Document, chunk: Chunk, ordinal: int) -> Chunk:
    stem = Path(doc.doc).stem
    return replace(chunk, chunk_id=f"{stem}:{ordinal:04d}")
