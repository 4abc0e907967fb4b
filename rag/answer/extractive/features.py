"""What the sentence scorer sees of each candidate sentence: a row of numbers.

Every feature is generic — none names a phrase of one guide. They describe how
well a sentence matches the question (cosine read under its heading, shared
words, shared heading words), where it sits (its passage's rank and score, its
list or paragraph, its place in the section), and whether it has what the
question's shape asks for (an item for a list question, a figure for "how
many", several names for "which tools", the edition asked about). The weights
that combine them are fitted on labelled questions (`rag tune selection`), not
set by hand.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from rag.answer.extractive.names import named_terms
from rag.core.text import has_quantity, item_label, terms
from rag.core.types import Quote, ScoredChunk, Unit
from rag.query.intent import Intent

FEATURES = (
    "cosine", "cosine_gap", "passage_dense", "passage_rank", "overlap", "overlap_gap", "heading_overlap",
    "is_item", "labelled", "item_for_list", "figure_for_figure", "names_for_names", "edition_match",
    "edition_other", "first_of_block", "first_of_section", "leans_back", "short", "in_list_question",
)
_LEANS_BACK = re.compile(r"^(?:It|This|These|They|That|Those|Such)\b")


@dataclass(frozen=True)
class Candidate:
    """A sentence that may be quoted: `passage` indexes the passages, `position` the passage's
    sentences; `unit` is its place in the guide's outline, when the index has one."""

    passage: int
    position: int
    quote: Quote
    doc: str
    section: str
    edition: str | None
    unit: Unit | None
    score: float = 0.0

    @property
    def is_item(self) -> bool:
        """A list item: from the outline, or (without one) a "Term: description" sentence."""
        return self.unit.item >= 0 if self.unit is not None else item_label(self.quote.text) is not None


def feature_rows(question_terms: set[str], intent: Intent, passages: list[ScoredChunk], found: list[Candidate],
                 cosines: np.ndarray, first_of_section: set[tuple[str, int]]) -> np.ndarray:
    """One row of FEATURES per candidate, in order."""
    overlaps = np.array([overlap(question_terms, c.quote.text) for c in found])
    best_cosine, best_overlap = (cosines.max(), overlaps.max()) if len(found) else (0.0, 0.0)
    rows = []
    for c, cosine, shared in zip(found, cosines, overlaps, strict=True):
        p = passages[c.passage]
        item = c.is_item
        rows.append([
            cosine, cosine - best_cosine, p.dense or 0.0, 1.0 / (1 + c.passage), shared, shared - best_overlap,
            overlap(question_terms, c.section), float(item), float(item_label(c.quote.text) is not None),
            float(item and intent.wants_list), float(intent.wants_figure and has_quantity(c.quote.text)),
            float(intent.wants_names) * min(len(named_terms(c.quote.text)), 3) / 3,
            float(intent.edition is not None and c.edition == intent.edition),
            float(intent.edition is not None and c.edition != intent.edition),
            float(c.unit is not None and _first_of_block(c)), float((c.doc, c.quote.start) in first_of_section),
            float(bool(_LEANS_BACK.match(c.quote.text))), 1.0 / math.log(len(c.quote.text) + math.e),
            float(intent.wants_list),
        ])
    return np.array(rows, dtype=np.float64).reshape(len(found), len(FEATURES))


def _first_of_block(c: Candidate) -> bool:
    return c.unit is not None and c.unit.start == c.quote.start and c.unit.item <= 0


def overlap(question_terms: set[str] | frozenset[str], text: str) -> float:
    """The share of the question's terms that `text` holds."""
    if not question_terms:
        return 0.0
    return len(question_terms & set(terms([text])[0])) / len(question_terms)
