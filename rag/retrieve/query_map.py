"""The fitted query map: a linear map of question vectors, learnt from labelled questions.

all-MiniLM-L6-v2 places a question and the sentence that answers it far apart
when they share no words ("a compact model that imitates a big one" against
"knowledge distillation: a smaller student model mimics a teacher"). `rag tune
queries` fits a matrix `I + A` (A small, penalised towards zero) so that, after
the map, each labelled question's evidence sentences rank above the other
sentences of its guides. Only questions move: passage and sentence vectors are
the index's own, so a map can be refitted or dropped without re-embedding.

The map is fitted on questions about some guides and knows them (`series`): it moves a
question only when the question's nearest passage is in one of them. On a guide it
never saw, a question is searched as encoded, and its answer is scored by the scorer
fitted without a map (rag.answer.extractive.model): measured on a guide written blind
for this, the map and its scorer, applied there, cost more than they gave.

An index folder may carry its own map (fitted on its corpus); otherwise the one
shipped in rag/profiles/ is used, when it was fitted for the same model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODEL_FILE = "query_map.npz"
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "profiles" / MODEL_FILE


@dataclass(frozen=True)
class QueryMap:
    """`matrix` maps a question vector (a row) to the vector searched with, renormalised."""

    matrix: np.ndarray  # (dim, dim), float32
    model: str  # the embedding model the map was fitted for
    series: frozenset[str] = frozenset()  # the guide series whose questions it was fitted on

    def knows(self, series: str) -> bool:
        return series in self.series

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        mapped = vectors @ self.matrix.T
        return mapped / np.maximum(np.linalg.norm(mapped, axis=-1, keepdims=True), 1e-12)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:  # np.savez would add ".npz" to a name without it
            np.savez_compressed(f, matrix=self.matrix.astype(np.float32), model=np.array(self.model),
                                series=np.array(sorted(self.series), dtype=str))

    @classmethod
    def load(cls, path: Path) -> QueryMap:
        with np.load(path) as data:
            series = data["series"] if "series" in data.files else ()  # a map without them moves no question
            return cls(data["matrix"].astype(np.float32), str(data["model"]), frozenset(str(x) for x in series))


def load_query_map(index_folder: Path | None, model: str, dim: int) -> QueryMap | None:
    """The index folder's own map if it has one, else the shipped default; None when neither
    exists or the one found was fitted for another model (questions are then searched as encoded)."""
    for path in ([index_folder / MODEL_FILE] if index_folder is not None else []) + [DEFAULT_MODEL]:
        if path.is_file():
            found = QueryMap.load(path)
            return found if found.model == model and found.matrix.shape == (dim, dim) else None
    return None
