"""rag.encoders.minilm gives the vectors sentence-transformers gives for the same model, bit for bit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rag.encoders.embedding import Embedder

QUESTIONS = [
    "Which optimizers besides gradient descent should I know?",
    "Which MLOps tools should I learn?",
    "x",
    "How does the 2026 guide differ from the 2024 one on LLMs?",
]


@pytest.fixture(scope="module")
def reference(embedder: Embedder):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(embedder.model_path), device="cpu")


@pytest.fixture(scope="module")
def passages(built_index: Path) -> list[str]:
    rows = (built_index / "chunks.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(row)["text"] for row in rows][:64]


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_vectors_are_those_of_sentence_transformers(embedder: Embedder, reference, passages: list[str],
                                                    dtype: str) -> None:
    ours = Embedder(embedder.model_path, batch_size=embedder.batch_size, embed_dtype=dtype)  # type: ignore[arg-type]
    for group in ([QUESTIONS[0]], QUESTIONS, passages[:32], passages[32:]):
        with ours.precision():
            expected = reference.encode(group, batch_size=ours.batch_size, convert_to_numpy=True,
                                        show_progress_bar=False)
        expected = np.asarray(expected, dtype=np.float32)
        expected /= np.maximum(np.linalg.norm(expected, axis=1, keepdims=True), 1e-12)
        got = ours.encode_queries(group)
        assert np.array_equal(got, expected), float(np.abs(got - expected).max())
