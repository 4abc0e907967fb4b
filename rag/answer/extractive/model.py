"""The fitted sentence scorer: logistic regression over `features.FEATURES`, read from JSON.

`rag tune selection` fits it on labelled golden questions (a sentence is a
positive when an evidence span covers it) with question-level cross-validation
and writes `selection.json`: the feature means and scales, the weights, the
thresholds the generator uses on its probabilities, and the answer-shape model
(rag.answer.extractive.shape). An index folder may carry
its own (fitted on that corpus); otherwise the default shipped in rag/profiles/
is used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.answer.extractive.features import FEATURES
from rag.answer.extractive.shape import ShapeModel
from rag.core.errors import IndexIncompatibleError

MODEL_FILE = "selection.json"
# The scorer for passages found without the query map (a guide the map does not know).
PLAIN_MODEL_FILE = "selection_plain.json"
PROFILES = Path(__file__).resolve().parents[2] / "profiles"
DEFAULT_MODEL = PROFILES / MODEL_FILE


@dataclass(frozen=True)
class SelectionModel:
    """Scores candidate sentences; `thresholds` say how the generator uses the scores."""

    weights: np.ndarray
    intercept: float
    mean: np.ndarray
    scale: np.ndarray
    thresholds: dict[str, float] = field(default_factory=dict)
    shape: ShapeModel | None = None  # when a list answers better than one fact (rag.answer.extractive.shape)

    def probability(self, rows: np.ndarray) -> np.ndarray:
        """P(the sentence is evidence for the question), per row of features."""
        if len(rows) == 0:
            return np.zeros(0)
        z = ((rows - self.mean) / self.scale) @ self.weights + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    @classmethod
    def untrained(cls) -> SelectionModel:
        """Every sentence alike (and no list shape): the start of a fit."""
        n = len(FEATURES)
        return cls(np.zeros(n), 0.0, np.zeros(n), np.ones(n))

    def threshold(self, name: str, default: float) -> float:
        return float(self.thresholds.get(name, default))

    def to_json(self) -> dict:
        return {"features": list(FEATURES), "weights": self.weights.tolist(), "intercept": self.intercept,
                "mean": self.mean.tolist(), "scale": self.scale.tolist(), "thresholds": self.thresholds,
                "shape": self.shape.to_json() if self.shape is not None else None}

    @classmethod
    def from_json(cls, data: dict) -> SelectionModel:
        if data.get("features") != list(FEATURES):
            raise IndexIncompatibleError("selection.json was fitted on other features — run 'rag tune selection'")
        shape = ShapeModel.from_json(data.get("shape") or {})
        if shape is None:
            raise IndexIncompatibleError("selection.json has no answer-shape model for these features — run 'rag tune selection'")
        return cls(np.array(data["weights"]), float(data["intercept"]), np.array(data["mean"]),
                   np.array(data["scale"]), {k: float(v) for k, v in data.get("thresholds", {}).items()}, shape)


def load_model(index_folder: Path | None = None, name: str = MODEL_FILE) -> SelectionModel:
    """The index folder's own fitted scorer if it has one, else the shipped default."""
    path = index_folder / name if index_folder is not None else None
    path = path if path is not None and path.is_file() else PROFILES / name
    return SelectionModel.from_json(json.loads(path.read_text(encoding="utf-8")))
