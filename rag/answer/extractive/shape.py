"""Which shape an answer takes: the one fact, or the whole of a list — chosen by a fitted model.

The sentence scorer rates sentences; it cannot tell whether the best one answers
alone or is one item of the list a question asks for. So each list that holds a
retrieved item is offered beside the one-fact answer, described by a row of
SHAPE_FEATURES (how well its items are rated, how much of it was retrieved,
whether its lead-in names the kind asked for, …). A linear model fitted on
labelled questions (`rag tune selection`) predicts whether each list answers
better than the fact, by the answer metrics; the list with the largest positive
log-odds is taken, else the fact. Nothing here is a hand-set weight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rag.answer.extractive.features import Candidate, overlap
from rag.answer.extractive.lists import list_members
from rag.answer.extractive.names import named_terms
from rag.core.text import item_label, terms
from rag.core.types import ScoredChunk, Unit
from rag.index.outline import Outline
from rag.query.intent import Intent

SHAPE_FEATURES = (
    "anchor_score", "anchor_ratio", "median_score", "likely_share", "retrieved_share", "size", "cut",
    "holds_best", "list_rank", "wants_list", "wants_names", "wants_figure", "introduced",
    "best_names_things", "anchor_names_things", "kind_labels_one", "lookup_name_in_one", "heading_overlap", "lead_overlap",
    "best_in_section", "best_just_before", "wants_rest",
)
MAX_LISTS = 3
LIKELY = 0.5


@dataclass(frozen=True)
class ShapeModel:
    """The log-odds that a list answers better than the one fact, from a row of SHAPE_FEATURES."""

    weights: np.ndarray
    intercept: float
    mean: np.ndarray
    scale: np.ndarray

    def gain(self, rows: np.ndarray) -> np.ndarray:
        if len(rows) == 0:
            return np.zeros(0)
        return ((rows - self.mean) / self.scale) @ self.weights + self.intercept

    def to_json(self) -> dict:
        return {"features": list(SHAPE_FEATURES), "weights": self.weights.tolist(), "intercept": self.intercept,
                "mean": self.mean.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_json(cls, data: dict) -> ShapeModel | None:
        """The model, or None when it was fitted on other features (the caller says what to run)."""
        if data.get("features") != list(SHAPE_FEATURES):
            return None
        return cls(np.array(data["weights"]), float(data["intercept"]), np.array(data["mean"]), np.array(data["scale"]))


@dataclass(frozen=True)
class ListOption:
    """The items a list answer would quote, in reading order, and what the shape model sees of it."""

    members: list[Candidate]
    row: np.ndarray


def list_options(ranked: list[Candidate], passages: list[ScoredChunk], outline: Outline | None,
                 max_items: int, intent: Intent, asked: frozenset[str]) -> list[ListOption]:
    """Each distinct list among the rated items (up to MAX_LISTS, best-rated first), as an answer
    to the question: whether it reads as a list question ("Which tools …?") is one of the model's
    features, not a gate, since many ask for a list without saying so ("What should I check
    before …?"). Items of a list that no retrieved passage holds are added from the outline (and their chunks
    appended to `passages`, so they can be cited)."""
    options: list[ListOption] = []
    seen: set[tuple[str, object]] = set()
    for anchor in (c for c in ranked if c.is_item):
        key = (anchor.doc, anchor.unit.block if anchor.unit is not None else anchor.section)
        if key in seen:
            continue
        seen.add(key)
        members = list_members(anchor, ranked, passages, outline)
        row = _row(anchor, members, ranked, outline, intent, len(options), max_items, asked)
        options.append(ListOption(best_rated(members, max_items), row))
        if len(options) == MAX_LISTS:
            break
    return options


def choose(options: list[ListOption], model: ShapeModel | None) -> ListOption | None:
    """The list predicted to answer best, when it is predicted to beat the one fact (never
    without a fitted model)."""
    if not options or model is None:
        return None
    gains = model.gain(np.array([o.row for o in options]))
    best = int(np.argmax(gains))
    return options[best] if gains[best] > 0 else None


def best_rated(members: list[Candidate], max_items: int) -> list[Candidate]:
    """The members, in reading order; a list longer than `max_items` keeps its best-rated ones."""
    if len(members) <= max_items:
        return members
    keep = {id(c) for c in sorted(members, key=lambda c: -c.score)[:max_items]}
    return [c for c in members if id(c) in keep]


def labels_kind(c: Candidate, kind: str) -> bool:
    """The item's label names the kind of thing asked for ("Which metrics …?" / "Fairness Metrics: …")."""
    label = item_label(c.quote.text)
    return label is not None and set(terms([kind])[0]) <= set(terms([label])[0])


def names_things(c: Candidate) -> bool:
    """A sentence that itself names several things ("frameworks like PyTorch Distributed or Horovod")."""
    label = item_label(c.quote.text)
    return len([n for n in named_terms(c.quote.text) if n != label]) >= 2


def _row(anchor: Candidate, members: list[Candidate], ranked: list[Candidate], outline: Outline | None,
         intent: Intent, rank: int, max_items: int, asked: frozenset[str]) -> np.ndarray:
    best = ranked[0]
    scores = sorted(m.score for m in members) or [0.0]
    rated = {id(c) for c in ranked}
    holds_best = any((m.doc, m.quote.start) == (best.doc, best.quote.start) for m in members)  # chunks overlap
    kind = intent.kind
    return np.array([
        anchor.score, anchor.score / max(best.score, 1e-9), scores[len(scores) // 2],
        sum(s >= LIKELY for s in scores) / len(scores), sum(id(m) in rated for m in members) / max(len(members), 1),
        math.log1p(len(members)), float(len(members) > max_items), float(holds_best), 1.0 / (1 + rank),
        float(intent.wants_list), float(intent.wants_names), float(intent.wants_figure),
        float(kind is not None and outline is not None and _introduces(outline, anchor, kind)),
        float(names_things(best) and not holds_best), float(names_things(anchor)),
        float(kind is not None and sum(labels_kind(m, kind) for m in members) == 1),
        float(sum(_says_any(m, intent.names) for m in members) == 1 and not intent.wants_list),
        overlap(asked, anchor.section), overlap(asked, lead.text) if (lead := _lead_in(outline, anchor)) else 0.0,
        float((best.doc, best.section) == (anchor.doc, anchor.section)), float(_just_before(best, anchor)),
        float(intent.wants_rest),
    ], dtype=np.float64)


def _says_any(c: Candidate, names: tuple[str, ...]) -> bool:
    """The item's sentence uses one of the question's names: a question that is not a list
    question and names what one item is about ("What is STRIDE used for?") asks for that item."""
    text = c.quote.text.lower()
    return any(n.lower() in text for n in names)


def _just_before(best: Candidate, anchor: Candidate) -> bool:
    """The best sentence is in the paragraph just before the anchor's list (it introduces it)."""
    return (best.unit is not None and anchor.unit is not None and best.doc == anchor.doc
            and best.unit.item < 0 and best.unit.block == anchor.unit.block - 1)


def _introduces(outline: Outline, anchor: Candidate, kind: str) -> bool:
    """The anchor's list is introduced by a lead-in naming the kind of thing asked for ("Which
    cuts …?" / "The guide lists these cuts:")."""
    lead = _lead_in(outline, anchor)
    return lead is not None and bool(set(terms([kind])[0]) & set(terms([lead.text])[0]))


def _lead_in(outline: Outline | None, anchor: Candidate) -> Unit | None:
    """The sentence ending in ':' just before the anchor's list, in its section, if there is one."""
    if outline is None or anchor.unit is None:
        return None
    before = outline.block(anchor.doc, anchor.unit.block - 1)
    lead = before[-1] if before else None
    if lead is None or lead.item >= 0 or lead.section != anchor.unit.section or not lead.text.rstrip().endswith(":"):
        return None
    return lead
