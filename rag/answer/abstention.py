"""The fitted decline: a question the retrieved passages touch but do not answer.

The rules of `rag.answer.answerability` catch what they can explain with certainty
(a name the guides never use, a figure they never give). What they cannot see is a
detail question about a thing the guides only name ("How does Weaviate's hybrid
search work?"): the passage naming Weaviate is close, but none of its sentences
speaks of the detail asked. A logistic model over a few generic signals — how close
the best passage is, whether the passages name the question's thing, and how much
of what is asked about it their sentences leave out — is fitted on labelled
answerable and unanswerable questions (`rag tune abstention`, which
reports its cross-validated abstain accuracy and false-abstain rate) and written to
abstention.json; an index folder may carry its own, else the shipped default in
rag/profiles/ is used.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.answer.answerability import AspectGap, aspect_gap, evidence_strength
from rag.core.errors import IndexIncompatibleError
from rag.core.types import ScoredChunk

FEATURES = ("strength", "names_found", "named_gap")
MODEL_FILE = "abstention.json"
MISSING_LISTED = 3  # a reason names this many of the missing words: a reader skims past ten
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "profiles" / MODEL_FILE


def abstention_features(question: str, passages: Sequence[ScoredChunk], top: int = 3) -> tuple[np.ndarray, AspectGap]:
    """The model's inputs for one question (in `FEATURES` order), and the gap they were read from."""
    gap = aspect_gap(question, passages[:top])
    named = float(bool(gap.named))
    return np.array([evidence_strength(list(passages)), named, named * (1.0 - gap.coverage)]), gap


@dataclass(frozen=True)
class AbstentionModel:
    weights: np.ndarray
    intercept: float
    threshold: float

    def probability(self, features: np.ndarray) -> float:
        """P(the passages do not answer the question)."""
        return float(1.0 / (1.0 + np.exp(-(features @ self.weights + self.intercept))))

    def reason(self, question: str, passages: Sequence[ScoredChunk]) -> str | None:
        """Why the passages do not answer the question, for the reader; None when the model lets it through."""
        features, gap = abstention_features(question, passages)
        if self.probability(features) < self.threshold:
            return None
        if gap.named and gap.missing:
            words = " or ".join(f'"{w}"' for w in gap.missing[:MISSING_LISTED])
            more = len(gap.missing) - MISSING_LISTED
            return (f"They name {', '.join(gap.named)}, but no sentence about it mentions {words}"
                    f"{f' (nor {more} more of the words asked)' if more > 0 else ''}.")
        return "No passage is close enough to the question."

    def to_json(self) -> dict:
        return {"features": list(FEATURES), "weights": self.weights.tolist(), "intercept": self.intercept,
                "threshold": self.threshold}

    @classmethod
    def from_json(cls, data: dict) -> AbstentionModel:
        if data.get("features") != list(FEATURES):
            raise IndexIncompatibleError(f"{MODEL_FILE} was fitted on other features — run 'rag tune abstention'")
        return cls(np.array(data["weights"], dtype=float), float(data["intercept"]), float(data["threshold"]))


def load_abstention(index_folder: Path | None = None) -> AbstentionModel | None:
    """The index folder's own fitted model if it has one, else the shipped default (None without either)."""
    for path in ([index_folder / MODEL_FILE] if index_folder is not None else []) + [DEFAULT_MODEL]:
        if path.is_file():
            return AbstentionModel.from_json(json.loads(path.read_text(encoding="utf-8")))
    return None
