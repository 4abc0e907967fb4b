"""Whether retrieved passages mention a term in other words: "European" for a passage on the "EU".

The vocabulary check in `rag.answer.answerability` abstains on a name the guides never
use. Before it does, this looks for a word of the top passages whose embedding is
nearly the same as the name's: a different form or abbreviation of the same
thing ("European" / "EU": cosine 0.81, "Europe" / "EU": 0.80), not a thing of
the same kind or a longer name ("MLX" / "ML": 0.72, "Apple" / "iOS": 0.62,
"Germany" / "EU": 0.58, "Rust" / "Python": 0.20). It runs only when a name is
unknown. The guides' words come encoded by the build (`rag.index.words`); any
other word it meets is encoded once and cached.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

import numpy as np

from rag.core.types import ScoredChunk
from rag.encoders.embedding import Embedder
from rag.index.words import WORD

NEAR_COSINE = 0.75
_MAX_CACHE = 50_000


class NearTerms:
    """`near(term, passages)`: some word of `passages` means nearly the same as `term`."""

    def __init__(self, embedder: Embedder, known: Mapping[str, np.ndarray] | None = None,
                 threshold: float = NEAR_COSINE) -> None:
        """`known`: vectors encoded beforehand (the guides' words, `rag.index.words`)."""
        self.embedder = embedder
        self.threshold = threshold
        self._known = known or {}
        self._vectors: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def __call__(self, term: str, passages: list[ScoredChunk]) -> bool:
        words = sorted({w for p in passages for w in WORD.findall(p.chunk.text)} - {term})
        if not words:
            return False
        vectors = self._encode([term] + words)
        return bool((vectors[1:] @ vectors[0]).max() >= self.threshold)

    def _encode(self, words: list[str]) -> np.ndarray:
        with self._lock:
            missing = [w for w in words if w not in self._known and w not in self._vectors]
            if missing:
                if len(self._vectors) > _MAX_CACHE:
                    self._vectors.clear()
                self._vectors.update(zip(missing, self.embedder.encode_queries(missing)))
            return np.stack([self._known[w] if w in self._known else self._vectors[w] for w in words])
