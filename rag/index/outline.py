"""The guides' outline in the index folder: every sentence with its section, block and item.

`outline.jsonl` holds one line per guide — its title, series and edition, and
its sentence units in reading order (raw offsets, text, section, the paragraph
or list they belong to, the item in a list, the filler rule). An answer that
quotes one item of a list can find the others, and the lead-in before them,
even where they sit in chunks that were not retrieved.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.core.types import Chunk, Document, Unit
from rag.index.lines import write_parts

OUTLINE = "outline.jsonl"
#: Titles named in a description of the index before the rest are counted.
TOPIC_TITLES = 6


@dataclass(frozen=True)
class GuideOutline:
    """One guide's units in reading order, and what it is."""

    doc: str
    title: str
    series: str
    edition: str | None
    units: tuple[Unit, ...]


def write_outline(folder: Path, docs: Sequence[Document], previous: Path | None = None,
                  carried: Collection[str] = ()) -> None:
    """outline.jsonl, a line per guide of `docs`. The lines of the guides `carried` over unchanged
    are copied as bytes from the outline of the index in `previous`: the same file, catalogue and
    settings make the same line, and at a million passages re-serialising every unit was ~10% of
    a one-file update (bench/README.md, "Scale")."""
    folder.mkdir(parents=True, exist_ok=True)
    source = previous / OUTLINE if previous is not None and carried else None
    lines = _line_ranges(source, set(carried)) if source is not None else {}
    write_parts(folder / OUTLINE, (lines.get(d.doc) or _line(d) for d in docs), source)


def _line(d: Document) -> bytes:
    units = [[u.start, u.end, u.text, u.section, u.block, u.item, u.filler] for u in d.units]
    row = {"doc": d.doc, "title": d.title, "series": d.series, "edition": d.edition, "units": units}
    return (json.dumps(row, ensure_ascii=False) + "\n").encode()


# How `_line` begins: the guide's name is read from there without parsing the rest of the line.
_DOC = re.compile(rb'\{"doc": ("(?:[^"\\]|\\.)*")')


def _line_ranges(path: Path, docs: set[str]) -> dict[str, tuple[int, int]]:
    """The bytes `start:stop` of the line of each of `docs` in the outline at `path`."""
    found: dict[str, tuple[int, int]] = {}
    at = 0
    with path.open("rb") as f:
        for line in f:
            match = _DOC.match(line)
            doc = json.loads(match.group(1)) if match else None
            if doc in docs:
                found[doc] = (at, at + len(line))
            at += len(line)
    return found


#: The chunk of a guide that holds a raw offset, or None (rag.index.passages.Passages.at).
ChunkAt = Callable[[str, int], Chunk | None]


class Outline:
    """The guides' units, looked up by raw offset, block, or the chunk that holds them."""

    def __init__(self, guides: Sequence[GuideOutline], chunk_at: ChunkAt) -> None:
        self.guides = {g.doc: g for g in guides}
        self._editions: dict[str, frozenset[str]] = {}
        for g in guides:
            if g.edition:
                self._editions[g.series] = self._editions.get(g.series, frozenset()) | {g.edition}
        self._starts = {g.doc: [u.start for u in g.units] for g in guides}
        self._blocks: dict[tuple[str, int], list[Unit]] = defaultdict(list)
        for g in guides:
            for u in g.units:
                self._blocks[(g.doc, u.block)].append(u)
        self._chunk_at = chunk_at

    @classmethod
    def load(cls, folder: Path, chunk_at: ChunkAt) -> Outline:
        path = folder / OUTLINE
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.is_file() else []
        guides = [
            GuideOutline(r["doc"], r["title"], r["series"], r["edition"],
                         tuple(Unit(sec, s, e, t, fill, b, i) for s, e, t, sec, b, i, fill in r["units"]))
            for r in rows
        ]
        return cls(guides, chunk_at)

    def editions(self, series: str) -> frozenset[str]:
        """The editions of the guides of one series (looked up on every answer: made once, at load)."""
        return self._editions.get(series, frozenset())

    def topic(self) -> str:
        """What the index holds, for prompts and descriptions: the guides' titles, with their
        editions ("Remote Work Handbook (2026 edition); …"), or a neutral phrase for an empty index."""
        titles = [f"{g.title} ({g.edition} edition)" if g.edition and g.edition not in g.title else g.title
                  for g in sorted(self.guides.values(), key=lambda g: (g.series, g.edition or "", g.doc))]
        if not titles:
            return "the guides in this index"
        shown = "; ".join(titles[:TOPIC_TITLES])
        return shown if len(titles) <= TOPIC_TITLES else f"{shown}; and {len(titles) - TOPIC_TITLES} more guides"

    def unit_at(self, doc: str, start: int) -> Unit | None:
        """The unit that starts at or covers raw offset `start` of `doc`."""
        starts = self._starts.get(doc)
        if not starts:
            return None
        i = bisect_right(starts, start) - 1
        unit = self.guides[doc].units[i] if i >= 0 else None
        return unit if unit is not None and unit.start <= start < max(unit.end, unit.start + 1) else None

    def block(self, doc: str, block: int) -> list[Unit]:
        """The units of one paragraph or list, in reading order."""
        return self._blocks.get((doc, block), [])

    def chunk_of(self, doc: str, start: int) -> Chunk | None:
        """The chunk of `doc` that holds raw offset `start`."""
        return self._chunk_at(doc, start)

    def text_of(self, doc: str) -> str:
        """All the guide's sentences, joined: what the guide says anywhere."""
        guide = self.guides.get(doc)
        return " ".join(u.text for u in guide.units) if guide else ""
