"""The int8 ONNX query encoder: close to torch's vectors, usable against a torch-built index, visible in /health."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from api.app import create_app
from rag.encoders.embedding import Embedder
from rag.encoders.onnx import OnnxQueryEncoder
from rag.service import QAService
from rag.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "eval" / "golden" / "guides.jsonl"


def golden_questions() -> list[str]:
    return [json.loads(line)["question"] for line in GOLDEN.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_onnx_vectors_match_torch_vectors(embedder: Embedder) -> None:
    questions = golden_questions()
    onnx = OnnxQueryEncoder(embedder)
    torch_vectors = embedder.encode_queries(questions)
    onnx_vectors = onnx.encode_queries(questions)
    assert onnx_vectors.shape == torch_vectors.shape and onnx_vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(onnx_vectors, axis=1), 1.0, atol=1e-5)
    assert (onnx_vectors * torch_vectors).sum(axis=1).min() >= 0.999
    # padding in a batch does not change a question's vector
    alone = np.vstack([onnx.encode_queries([q]) for q in questions[:5]])
    np.testing.assert_allclose(alone, onnx_vectors[:5], atol=1e-4)


def test_onnx_encodes_past_the_window_by_truncating(embedder: Embedder) -> None:
    long_question = "which mlops tools should I learn " * 200
    vector = OnnxQueryEncoder(embedder).encode_queries([long_question])
    assert float(vector[0] @ embedder.encode_queries([long_question])[0]) >= 0.99


def test_service_with_onnx_queries_searches_the_torch_index_and_says_so(built_index: Path, embedder: Embedder) -> None:
    settings = Settings(corpus_dir=ROOT / "corpus", index_dir=built_index, query_encoder="onnx-int8")
    torch_service = QAService(Settings(corpus_dir=ROOT / "corpus", index_dir=built_index), embedder)
    with TestClient(create_app(settings, QAService(settings, embedder))) as client:
        assert client.get("/health").json()["query_encoder"] == "onnx-int8"
        for question in golden_questions()[:10]:
            onnx_top = [p["chunk_id"] for p in client.post("/search", json={"query": question, "k": 3}).json()["results"]]
            torch_top = [r.chunk.chunk_id for r in torch_service.retriever().retrieve(question, k=3)]
            assert onnx_top[0] == torch_top[0], question
