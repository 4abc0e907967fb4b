"""rag.encoders.batching.BatchingEncoder: one worker thread, dynamic batches, a bounded queue; with the real model."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from rag.core.errors import OverloadedError
from rag.encoders.batching import BatchingEncoder
from rag.encoders.embedding import Embedder

QUESTIONS = [
    "Which MLOps tools should I learn?",
    "What is a vector database?",
    "How much time goes into data cleaning?",
    "Should I learn JAX or PyTorch?",
    "What does an AI engineer do?",
    "Which cloud certifications matter?",
]


class GatedEncoder:
    """The real embedder behind a gate the test opens: holds the worker inside a batch on purpose."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.threads: set[str] = set()

    def encode_queries(self, queries: list[str]) -> np.ndarray:
        self.threads.add(threading.current_thread().name)
        self.entered.set()
        self.gate.wait(30)
        return self.embedder.encode_queries(queries)


def queued_behind_a_busy_worker(encoder: BatchingEncoder, gated: GatedEncoder, questions: list[str]) -> np.ndarray:
    """Hold the worker inside a first batch, queue `questions` (one caller each) behind it, then let it go;
    returns the callers' vectors."""
    with ThreadPoolExecutor(len(questions) + 1) as pool:
        first = pool.submit(encoder.encode_queries, ["warm the worker"])
        assert gated.entered.wait(30)
        futures = [pool.submit(encoder.encode_queries, [q]) for q in questions]
        while encoder.queue_depth < len(questions):
            threading.Event().wait(0.01)
        gated.gate.set()
        first.result(30)
        return np.vstack([f.result(30) for f in futures])


def test_concurrent_callers_get_their_own_vectors_from_batches(embedder: Embedder) -> None:
    batches: list[int] = []
    gated = GatedEncoder(embedder)
    encoder = BatchingEncoder(gated, max_batch=16, on_batch=lambda requests, texts, seconds: batches.append(texts))
    try:
        got = queued_behind_a_busy_worker(encoder, gated, QUESTIONS)
        np.testing.assert_allclose(got, embedder.encode_queries(QUESTIONS), atol=1e-5)
        assert batches == [1, len(QUESTIONS)]  # the waiting questions went out as one batch
        assert gated.threads == {"query-encoder"}
    finally:
        gated.gate.set()
        encoder.close()


def test_full_queue_is_refused_at_once_with_retry_after(embedder: Embedder) -> None:
    gated = GatedEncoder(embedder)
    encoder = BatchingEncoder(gated, max_queue=2, retry_after_s=3)
    try:
        with ThreadPoolExecutor(4) as pool:
            busy = pool.submit(encoder.encode_queries, ["in the worker"])
            assert gated.entered.wait(30)
            waiting = [pool.submit(encoder.encode_queries, [q]) for q in QUESTIONS[:2]]
            while encoder.queue_depth < 2:
                threading.Event().wait(0.01)
            with pytest.raises(OverloadedError) as refused:
                encoder.encode_queries(["one too many"])
            assert refused.value.retry_after_s == 3
            gated.gate.set()
            assert [len(f.result(30)) for f in [busy, *waiting]] == [1, 1, 1]
        assert encoder.queue_depth == 0
    finally:
        gated.gate.set()
        encoder.close()


def test_max_batch_splits_a_long_queue(embedder: Embedder) -> None:
    batches: list[int] = []
    gated = GatedEncoder(embedder)
    encoder = BatchingEncoder(gated, max_batch=4, on_batch=lambda requests, texts, seconds: batches.append(texts))
    try:
        queued_behind_a_busy_worker(encoder, gated, QUESTIONS)
        assert batches == [1, 4, 2]
    finally:
        gated.gate.set()
        encoder.close()


def test_an_encode_error_reaches_its_callers_and_the_worker_lives_on(embedder: Embedder) -> None:
    class FailsOnce:
        failed = False

        def encode_queries(self, queries: list[str]) -> np.ndarray:
            if not self.failed:
                self.failed = True
                raise RuntimeError("model exploded")
            return embedder.encode_queries(queries)

    encoder = BatchingEncoder(FailsOnce())
    try:
        with pytest.raises(RuntimeError, match="model exploded"):
            encoder.encode_queries(["first"])
        assert encoder.encode_queries(["second"]).shape == (1, embedder.dim)
    finally:
        encoder.close()


def test_closed_encoder_finishes_queued_work_then_refuses(embedder: Embedder) -> None:
    encoder = BatchingEncoder(embedder)
    assert encoder.encode_queries(["before close"]).shape == (1, embedder.dim)
    encoder.close()
    with pytest.raises(RuntimeError, match="closed"):
        encoder.encode_queries(["after close"])


def test_max_wait_gathers_a_question_that_arrives_just_after(embedder: Embedder) -> None:
    batches: list[int] = []
    encoder = BatchingEncoder(embedder, max_wait_ms=500, on_batch=lambda requests, texts, seconds: batches.append(texts))
    try:
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(encoder.encode_queries, [QUESTIONS[0]])
            threading.Event().wait(0.05)  # well inside the 500 ms the worker waits for company
            second = pool.submit(encoder.encode_queries, QUESTIONS[1:3])
            assert first.result(30).shape[0] == 1 and second.result(30).shape[0] == 2
        assert batches == [3]
    finally:
        encoder.close()


def test_the_service_worker_runs_torch_on_one_thread_and_gives_the_count_back(embedder: Embedder, built_index) -> None:
    import torch

    from rag.service import QAService
    from rag.settings import Settings

    before = torch.get_num_threads()
    service = QAService(Settings(index_dir=built_index), embedder)
    seen: list[int] = []
    batcher = service.start_inference_worker(on_batch=lambda *_: seen.append(torch.get_num_threads()))
    vectors = batcher.encode_queries(["Which MLOps tools should I learn?"])
    assert float(vectors[0] @ embedder.encode_queries(["Which MLOps tools should I learn?"])[0]) > 0.9999
    assert seen == [1]  # observed on the worker thread, after its encode
    service.stop_inference_worker()
    assert torch.get_num_threads() == before
