"""The editions of a series aligned: which sections and which items say the same thing.

At build time, for every series with two or more editions (rag.ingest.metadata), every
pair of its editions is aligned: sections by their headings, and items — each list
item whole, and each sentence of prose — by their text. Two nodes match when their
embedding cosine reaches the threshold fitted for their kind on labelled pairs
(eval/tune_alignment.py, written to rag/profiles/alignment.json) and one is the other's
most similar node. `alignment.json` in the index folder holds every pair of
editions: matched nodes side by side, the nodes of one edition alone. Answers that
compare editions and `rag diff` read it; nothing else decides what the editions share.

The node vectors are kept beside it (alignment_vectors.npz, text → vector) and reused
by the next build (`rag.index.vector_cache`): a build that changes one guide encodes only that
guide's new headings and items, not every node of every edition again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from pathlib import Path

import numpy as np

from rag.core.text import item_label
from rag.core.types import Chunk, Document, Unit
from rag.index.vector_cache import Encode

ALIGNMENT = "alignment.json"
ALIGNMENT_VECTORS = "alignment_vectors.npz"  # the nodes' vectors, a cache for the next build (rag.index.vector_cache)
PROFILE = Path(__file__).resolve().parents[1] / "profiles" / "alignment.json"
SECTION, ITEM = "section", "item"


@dataclass(frozen=True)
class Thresholds:
    """The cosine from which two sections, or two items, count as the same."""

    section: float
    item: float

    @classmethod
    def load(cls, path: Path = PROFILE) -> Thresholds:
        fitted = json.loads(path.read_text(encoding="utf-8"))["thresholds"]
        return cls(section=fitted[SECTION], item=fitted[ITEM])


LABEL_WORDS = 8  # words of a prose sentence shown where an item would show its name


@dataclass(frozen=True)
class Node:
    """A section (its heading) or an item (a whole list item, or one sentence of prose) of one
    edition; `name` is a list item's term ("Feature Stores" of "Feature Stores: …") or a
    section's heading, None for prose. `raw[start:end]` is its source; `chunk_id` holds its start."""

    kind: str
    doc: str
    edition: str
    section: str
    text: str
    name: str | None
    start: int
    end: int
    block: int
    chunk_id: str | None

    @property
    def label(self) -> str:
        """What to call it when listed: its name, or a prose sentence's first words."""
        if self.name:
            return self.name
        words = self.text.split()
        return " ".join(words[:LABEL_WORDS]) + ("…" if len(words) > LABEL_WORDS else "")

    @property
    def is_list_item(self) -> bool:
        return self.kind == ITEM and self.name is not None


@dataclass(frozen=True)
class Match:
    """Two nodes that say the same (both set), or a node of one edition alone (the other None)."""

    older: Node | None
    newer: Node | None
    score: float | None = None


@dataclass(frozen=True)
class EditionPair:
    """Two editions of one series, aligned."""

    series: str
    older: str
    newer: str
    older_doc: str
    newer_doc: str
    sections: tuple[Match, ...]
    items: tuple[Match, ...]

    def partners(self, node: Node) -> list[Node]:
        """The nodes of the other edition that `node` matches."""
        matches = self.items if node.kind == ITEM else self.sections
        return [m.newer if m.older == node else m.older for m in matches
                if m.older and m.newer and node in (m.older, m.newer)]


class Alignment:
    """Every aligned pair of editions in an index."""

    def __init__(self, pairs: Sequence[EditionPair]) -> None:
        self.pairs = tuple(pairs)

    @classmethod
    def load(cls, folder: Path) -> Alignment:
        path = folder / ALIGNMENT
        if not path.is_file():
            return cls([])
        return cls([_pair_from_json(row) for row in json.loads(path.read_text(encoding="utf-8"))["pairs"]])

    def between(self, doc_a: str, doc_b: str) -> EditionPair | None:
        """The aligned pair of these two guides (in either order), if they are editions of one series."""
        return next((p for p in self.pairs if {p.older_doc, p.newer_doc} == {doc_a, doc_b}), None)


def align_guides(docs: Sequence[Document], chunks: Sequence[Chunk], encode: Encode,
                 thresholds: Thresholds) -> list[EditionPair]:
    """Every pair of editions of every series in `docs`, aligned (older edition first)."""
    series: dict[str, list[Document]] = {}
    for d in docs:
        if d.series and d.edition:
            series.setdefault(d.series, []).append(d)
    nodes = {d.doc: (section_nodes(d, chunks), item_nodes(d, chunks)) for group in series.values() for d in group}
    texts = sorted({n.text for sections, items in nodes.values() for n in (*sections, *items)})
    vectors = dict(zip(texts, encode(texts))) if texts else {}
    pairs = []
    for name, group in sorted(series.items()):
        for old, new in combinations(sorted(group, key=lambda d: d.edition or ""), 2):
            (old_sections, old_items), (new_sections, new_items) = nodes[old.doc], nodes[new.doc]
            pairs.append(EditionPair(name, old.edition or "", new.edition or "", old.doc, new.doc,
                                     match(old_sections, new_sections, vectors, thresholds.section),
                                     match(old_items, new_items, vectors, thresholds.item)))
    return pairs


def match(older: Sequence[Node], newer: Sequence[Node], vectors: dict[str, np.ndarray],
          threshold: float) -> tuple[Match, ...]:
    """Each node linked to its most similar node of the other edition when their cosine reaches `threshold` — so a node may have several partners, as when one
    item of an edition covers what two of the other list apart; then the nodes left alone."""
    if not older or not newer:
        return tuple(Match(n, None) for n in older) + tuple(Match(None, n) for n in newer)
    sims = np.stack([vectors[n.text] for n in older]) @ np.stack([vectors[n.text] for n in newer]).T
    links = {(i, int(j)) for i, j in enumerate(sims.argmax(axis=1))} | {(int(i), j) for j, i in enumerate(sims.argmax(axis=0))}
    found = [Match(older[i], newer[j], round(float(sims[i, j]), 4)) for i, j in sorted(links) if sims[i, j] >= threshold]
    linked_old = {m.older for m in found}
    linked_new = {m.newer for m in found}
    alone = [Match(n, None) for n in older if n not in linked_old] + [Match(None, n) for n in newer if n not in linked_new]
    return tuple(found + alone)


def section_nodes(doc: Document, chunks: Sequence[Chunk]) -> list[Node]:
    """Each section of the guide, by its own heading (the last of its path)."""
    spans: dict[str, list[Unit]] = {}
    for u in doc.units:
        spans.setdefault(u.section, []).append(u)
    return [_node(SECTION, doc, units, path.split(" > ")[-1], path.split(" > ")[-1], chunks)
            for path, units in spans.items()]


def item_nodes(doc: Document, chunks: Sequence[Chunk]) -> list[Node]:
    """Each list item of the guide (its sentences together) and each sentence of prose; filler left out."""
    groups: dict[tuple[int, int], list[Unit]] = {}
    for position, u in enumerate(doc.units):
        if not u.filler:
            groups.setdefault((u.block, u.item) if u.item >= 0 else (u.block, -1 - position), []).append(u)
    nodes = []
    for units in groups.values():
        text = " ".join(u.text for u in units)
        nodes.append(_node(ITEM, doc, units, text, item_label(text) if units[0].item >= 0 else None, chunks))
    return nodes


def _node(kind: str, doc: Document, units: list[Unit], text: str, name: str | None, chunks: Sequence[Chunk]) -> Node:
    start = units[0].start
    holder = next((c.chunk_id for c in chunks if c.doc == doc.doc and c.start <= start < c.end), None)
    return Node(kind, doc.doc, doc.edition or "", units[0].section, text, name, start, units[-1].end, units[0].block, holder)


def write_alignment(folder: Path, pairs: Sequence[EditionPair], thresholds: Thresholds) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    data = {"thresholds": asdict(thresholds), "pairs": [asdict(p) for p in pairs]}
    (folder / ALIGNMENT).write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def _pair_from_json(row: dict) -> EditionPair:
    def matches(rows: list[dict]) -> tuple[Match, ...]:
        return tuple(Match(_node_from_json(m["older"]), _node_from_json(m["newer"]), m["score"]) for m in rows)

    fields = {k: row[k] for k in ("series", "older", "newer", "older_doc", "newer_doc")}
    return EditionPair(**fields, sections=matches(row["sections"]), items=matches(row["items"]))


def _node_from_json(row: dict | None) -> Node | None:
    return Node(**row) if row else None
