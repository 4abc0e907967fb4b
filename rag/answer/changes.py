"""What changed between editions, section by section: what `rag diff` and `GET /diff` list.

Each group of sections the alignment links across two editions (or a section of one
edition alone) gets the comparison an answer would state for it
(rag.answer.extractive.comparison): items both editions name, items renamed, items
only one edition has — each item with where it is, so every one can be cited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rag.answer.extractive.comparison import Claim, Topic, compare
from rag.index.alignment import Alignment, EditionPair


@dataclass(frozen=True)
class SectionChanges:
    """A group of aligned sections (heading paths per edition) and the changes in them."""

    series: str
    older: str
    newer: str
    older_sections: tuple[str, ...]
    newer_sections: tuple[str, ...]
    changes: tuple[Claim, ...]

    def to_json(self) -> dict:
        return {
            "series": self.series, "older": self.older, "newer": self.newer,
            "older_sections": list(self.older_sections), "newer_sections": list(self.newer_sections),
            "changes": [
                {"kind": c.kind, "text": c.text, "names": {e: list(n) for e, n in c.names.items()},
                 "items": [{"edition": n.edition, "name": n.name, "label": n.label, "doc": n.doc, "section": n.section, "start": n.start,
                            "end": n.end, "chunk_id": n.chunk_id, "text": n.text} for n in c.nodes]}
                for c in self.changes
            ],
        }


def section_changes(alignment: Alignment, guide_text: Callable[[str], str], section: str | None = None) -> list[SectionChanges]:
    """The changes of every pair of editions, by section group in the older edition's reading order;
    with `section`, only groups with a heading path that contains it (case aside)."""
    found = []
    for pair in alignment.pairs:
        for older, newer in _section_groups(pair):
            if section and not any(section.casefold() in path.casefold() for path in (*older, *newer)):
                continue
            claims = compare(pair, Topic(frozenset(), frozenset(older)), Topic(frozenset(), frozenset(newer)), guide_text,
                             max_names=None)
            if claims:
                found.append(SectionChanges(pair.series, pair.older, pair.newer, older, newer, tuple(claims)))
    return found


def _section_groups(pair: EditionPair) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """Sections joined by the alignment's links (a section linked to two of the other edition
    is one group with both), each group's paths in reading order."""
    group_of: dict[tuple[str, str], int] = {}
    groups: list[set[tuple[str, str]]] = []
    for m in pair.sections:
        keys = [(n.edition, n.section) for n in (m.older, m.newer) if n is not None]
        joined = sorted({group_of[k] for k in keys if k in group_of})
        target = joined[0] if joined else len(groups)
        if not joined:
            groups.append(set())
        for other in joined[1:]:
            groups[target] |= groups[other]
            groups[other] = set()
        groups[target].update(keys)
        for k in groups[target]:
            group_of[k] = target
    order = {(n.edition, n.section): i for i, m in enumerate(pair.sections) for n in (m.older, m.newer) if n is not None}
    return [
        (tuple(s for e, s in sorted(g, key=order.get) if e == pair.older),  # type: ignore[arg-type]
         tuple(s for e, s in sorted(g, key=order.get) if e == pair.newer))  # type: ignore[arg-type]
        for g in groups if g
    ]
