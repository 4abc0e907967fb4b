"""The fitted query map: how it is loaded, what it moves (the searched vector, not the decline's
closeness), and that fitting raises a labelled question's evidence."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eval.tune_queries import Labelled, Sentences, fit, ranks
from rag.answer.answerability import evidence_strength
from rag.retrieve.hybrid import HybridRetriever
from rag.retrieve.query_map import MODEL_FILE, QueryMap, load_query_map

QUESTION = "Can I train a compact model that imitates a big one so it runs on small hardware?"


def test_a_map_in_the_index_folder_is_read_first_and_one_for_another_model_is_ignored(tmp_path: Path) -> None:
    QueryMap(2 * np.eye(4, dtype=np.float32), "model-a").save(tmp_path / MODEL_FILE)
    found = load_query_map(tmp_path, "model-a", 4)
    assert found is not None and np.allclose(found.matrix, 2 * np.eye(4))
    assert load_query_map(tmp_path, "model-b", 4) is None
    assert load_query_map(tmp_path, "model-a", 8) is None


def test_the_map_moves_the_searched_vector_and_keeps_it_unit_length() -> None:
    swap = QueryMap(np.array([[0, 1], [1, 0]], dtype=np.float32), "m")
    np.testing.assert_allclose(swap(np.array([0.6, 0.8])), [0.8, 0.6])
    np.testing.assert_allclose(np.linalg.norm(QueryMap(np.eye(2) * 3, "m")(np.array([[0.6, 0.8]])), axis=1), [1.0])


def _map(index, matrix: np.ndarray, series: str | None = None) -> QueryMap:
    """A map of `matrix` that knows the guides of `index` (or only `series`)."""
    known = frozenset({series} if series is not None else {g.series for g in index.guides})
    return QueryMap(matrix.astype(np.float32), "m", known)


def test_the_map_moves_only_questions_about_guides_it_knows_and_the_decline_reads_the_plain_cosine(service) -> None:
    index = service.engine.index
    plain = HybridRetriever(index, service.embedder)
    identity = HybridRetriever(index, service.embedder, query_map=_map(index, np.eye(384)))
    without, with_identity = plain.retrieve(QUESTION, k=10), identity.retrieve(QUESTION, k=10)
    assert [p.chunk.chunk_id for p in without] == [p.chunk.chunk_id for p in with_identity]
    assert all(p.mapped for p in with_identity) and not any(p.mapped for p in without)
    assert all(p.plain_dense is not None and abs(p.plain_dense - p.dense) < 1e-6 for p in without)
    # A map that turns every question into another vector changes what is searched, not the closeness.
    scramble = np.random.default_rng(0).normal(size=(384, 384))
    moved = HybridRetriever(index, service.embedder, query_map=_map(index, scramble)).retrieve(QUESTION, k=10)
    assert [p.chunk.chunk_id for p in moved] != [p.chunk.chunk_id for p in without]
    shared = {p.chunk.chunk_id: p.plain_dense for p in without}
    assert all(abs(p.plain_dense - shared[p.chunk.chunk_id]) < 1e-6 for p in moved if p.chunk.chunk_id in shared)
    assert evidence_strength(moved) == max(p.plain_dense for p in moved)
    # The same map fitted on another guide's questions leaves these questions as they are.
    elsewhere = HybridRetriever(index, service.embedder, query_map=_map(index, scramble, "another-guide"))
    assert elsewhere.retrieve(QUESTION, k=10) == without


def test_passages_the_map_moved_are_scored_by_the_mapped_scorer_and_others_by_the_plain_one(service) -> None:
    """The served generator carries both fitted scorers and picks by how the passages were found."""
    generator = service.engine.pipeline.generator
    assert generator.plain is not None and generator.plain.model is not generator.model
    index = service.engine.index
    moved = HybridRetriever(index, service.embedder, query_map=_map(index, np.eye(384))).retrieve(QUESTION, k=10)
    as_found = HybridRetriever(index, service.embedder).retrieve(QUESTION, k=10)
    assert moved[0].mapped and not as_found[0].mapped
    assert generator.generate(QUESTION, as_found) == generator.plain.generate(QUESTION, as_found)
    assert generator.rank(QUESTION, moved)[1][0].score != generator.plain.rank(QUESTION, moved)[1][0].score


def test_fitting_raises_the_evidence_of_labelled_questions() -> None:
    """Questions whose evidence is not their nearest sentence: the fitted map ranks it first."""
    rng = np.random.default_rng(1)
    sentences = rng.normal(size=(40, 16)).astype(np.float32)
    sentences /= np.linalg.norm(sentences, axis=1, keepdims=True)
    bank = Sentences([f"s{i}" for i in range(40)], sentences)
    rotate = np.roll(np.eye(16, dtype=np.float32), 1, axis=0)  # each question looks like the wrong sentence
    cases = [Labelled("set", "lookup", "guide", (rotate @ sentences[i]) * 0.6 + sentences[i] * 0.4, bank, np.array([i]))
             for i in range(40)]
    before = ranks(cases, None)
    after = ranks(cases, fit(cases, "m", l2=1e-4, steps=200))
    assert np.mean(after) < np.mean(before) and sum(r == 1 for r in after) > sum(r == 1 for r in before)
