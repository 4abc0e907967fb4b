"""Fit the answer-shape model (rag.answer.extractive.shape), cross-validated by question.

For every answerable question about one edition (or none), the generator's own
options are built — the one-fact answer, and each list that holds a rated item —
and each option's answer is scored by the answer metrics (`answer_value`). A
ridge regression learns, from a list's row of SHAPE_FEATURES, how much better
its answer is than the fact's. Question-level cross-validation reports the mean
value of the answers it picks on held-out questions, beside always answering
one fact, taking the best-rated item's list whenever the question reads as a
list question, and the best pick possible.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import mean
from typing import TYPE_CHECKING

import numpy as np

from eval.harness import score_answer
from rag.answer.extractive.generator import MAX_LIST_ITEMS, PASSAGES_USED, ExtractiveGenerator, compose, topic_terms
from rag.answer.extractive.model import SelectionModel
from rag.answer.extractive.shape import ShapeModel, list_options

if TYPE_CHECKING:
    from eval.tune_selection import Case
    from rag.service import QAService

# Shorter answers are better at equal quality: 50 more words cost as much as a quarter of a hit.
WORDS_PER_POINT = 200
L2_C = 1.0


def answer_value(scores: dict[str, float]) -> float:
    """What tuning maximises per question: keyword recall + answer precision + lead hit, less a
    little per word."""
    return (scores.get("keyword_recall", 0) + scores.get("answer_precision", 0) + scores.get("lead_hit", 0)
            - scores.get("answer_words", 0) / WORDS_PER_POINT)


@dataclass
class ShapeCase:
    """One question's options: a row per list, each list's answer value, the fact's."""

    question: str
    rows: np.ndarray
    lists: np.ndarray
    fact: float
    wants_list: bool

    def value(self, gains: np.ndarray) -> float:
        """The value of the answer picked by these predicted gains."""
        best = int(np.argmax(gains))
        return float(self.lists[best]) if gains[best] > 0 else self.fact


def generator_for(service: QAService, model: SelectionModel) -> ExtractiveGenerator:
    """The service's extractive generator, with `model` as its scorer."""
    index = service.engine.index
    return ExtractiveGenerator(service.query_encoder, model, index.sentence_vectors_of, index.outline)  # type: ignore[arg-type]


def collect_shapes(cases: list[Case], model: SelectionModel) -> list[ShapeCase]:
    """Each usable question's options and their answers' values, as the generator would give them."""
    generators = {id(c.service): generator_for(c.service, model) for c in cases}
    shapes = []
    for case in (c for c in cases if c.question.answerable):
        generator = generators[id(case.service)]
        passages = list(case.passages[:PASSAGES_USED])
        intent, ranked = generator.rank(case.asked, passages)
        if not ranked or intent.both_editions:
            continue
        options = list_options(ranked, passages, generator.outline, MAX_LIST_ITEMS, intent, topic_terms(case.asked))
        if not options:
            continue
        values = [answer_value(score_answer(case.question, compose([generator.quoted(o, ranked, passages, intent)],
                                                                     passages, [], generator.outline)))
                  for o in [None, *options]]
        shapes.append(ShapeCase(case.question.id, np.array([o.row for o in options]), np.array(values[1:]), values[0], intent.wants_list))
    return shapes


def fit_shape(shapes: list[ShapeCase], c: float = L2_C) -> ShapeModel:
    """Logistic regression of "this list answers better than the fact" on the standardised rows,
    weighted by the difference in value; its log-odds are the gain the generator compares to 0."""
    from sklearn.linear_model import LogisticRegression

    x = np.concatenate([s.rows for s in shapes])
    gain = np.concatenate([s.lists - s.fact for s in shapes])
    mean_, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    fitted = LogisticRegression(C=c, max_iter=2000).fit((x - mean_) / scale, gain > 0, sample_weight=np.abs(gain) + 1e-3)
    return ShapeModel(fitted.coef_[0].astype(np.float64), float(fitted.intercept_[0]), mean_, scale)


def cross_validate_shape(shapes: list[ShapeCase], folds: int = 5, seed: int = 0) -> dict[str, float]:
    """Mean answer value on held-out questions: the fitted pick against the simple rules and the best."""
    fold_of = np.random.default_rng(seed).permutation(len(shapes)) % folds
    held_out = [0.0] * len(shapes)
    for k in range(folds):
        model = fit_shape([s for s, f in zip(shapes, fold_of) if f != k])
        for i, s in enumerate(shapes):
            if fold_of[i] == k:
                held_out[i] = s.value(model.gain(s.rows))
    return {
        "questions": len(shapes),
        "fitted (held-out folds)": round(mean(held_out), 4),
        "always one fact": round(mean(s.fact for s in shapes), 4),
        "best item's list for list questions": round(mean(float(s.lists[0]) if s.wants_list else s.fact for s in shapes), 4),
        "best possible": round(mean(max(s.fact, float(s.lists.max())) for s in shapes), 4),
    }
