"""Stand-ins for the embedding model in unit tests: no model load, deterministic, fast.

`HashingEmbedder` maps each stemmed word to a fixed random direction and sums them, so texts
that share words are close and texts that share none are orthogonal: enough for the stages
after retrieval (selection, answerability, conversation) to be tested on a tiny corpus.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence

import numpy as np

from rag.core.text import terms


class HashingEmbedder:
    model_name = "test-hashing-embedder"
    dim = 256
    max_wordpieces = 256
    embed_dtype = "float32"

    def fits(self, text: str) -> bool:
        return len(text.split()) <= self.max_wordpieces // 2

    def encode_queries(self, queries: list[str]) -> np.ndarray:
        return self._encode(queries)

    def encode_passages(self, passages: Sequence[str], on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        vectors = self._encode(list(passages))
        if on_batch:
            on_batch(len(passages))
        return vectors

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, words in enumerate(terms(texts) if texts else []):
            for word in words:
                vectors[row] += _direction(word, self.dim)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1.0, norms)


def _direction(word: str, dim: int) -> np.ndarray:
    return np.random.default_rng(zlib.crc32(word.encode())).standard_normal(dim).astype(np.float32)
