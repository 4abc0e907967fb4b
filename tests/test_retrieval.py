"""Retrieval: fusion arithmetic, duplicate suppression, filters and modes on the real index."""

import numpy as np
import pytest

from rag.core.types import Chunk, ScoredChunk
from rag.retrieve.hybrid import Filters, HybridRetriever, _distinct, _min_max, _reciprocal_rank


def test_reciprocal_rank_by_hand():
    # scores 0.9, 0.1, 0.5 rank 1, 3, 2 → 1/(60+1), 1/(60+3), 1/(60+2)
    np.testing.assert_allclose(_reciprocal_rank(np.array([0.9, 0.1, 0.5]), 60), [1 / 61, 1 / 63, 1 / 62])


def test_min_max_maps_to_unit_range_and_handles_ties():
    np.testing.assert_allclose(_min_max(np.array([2.0, 4.0, 3.0])), [0.0, 1.0, 0.5])
    np.testing.assert_allclose(_min_max(np.array([1.0, 1.0])), [0.0, 0.0])


def _chunk(cid: str, doc: str, start: int, end: int, text: str = "x") -> ScoredChunk:
    return ScoredChunk(Chunk(cid, doc, "S", text, start, end), score=1.0)


def test_a_passage_mostly_inside_a_better_one_is_skipped_but_a_bigger_one_is_kept():
    small_first = [_chunk("b", "g", 395, 581), _chunk("a", "g", 0, 500), _chunk("c", "g", 600, 700)]
    assert [r.chunk.chunk_id for r in _distinct(small_first, 3, 0.5)] == ["b", "a", "c"]
    big_first = [_chunk("a", "g", 0, 500), _chunk("b", "g", 395, 581), _chunk("c", "g", 600, 700)]
    assert [r.chunk.chunk_id for r in _distinct(big_first, 3, 0.5)] == ["a", "c"]


def test_the_same_text_in_another_edition_is_skipped():
    text = "Docker and Kubernetes are essential for deploying models reliably across many cloud environments"
    results = [_chunk("a", "g1", 0, 90, text), _chunk("b", "g2", 0, 90, text), _chunk("c", "g2", 200, 300, "other words here")]
    assert [r.chunk.chunk_id for r in _distinct(results, 3, 0.5)] == ["a", "c"]


def test_a_question_about_several_editions_keeps_each_editions_copy():
    older = "Clean and lubricate the chain about every 150 km, or after every wet ride, and wipe off the excess"
    newer = older.replace("150", "200")
    results = [_chunk("a", "g1", 0, 90, older), _chunk("b", "g2", 0, 90, newer), _chunk("c", "g2", 50, 95, newer)]
    assert [r.chunk.chunk_id for r in _distinct(results, 3, 0.5)] == ["a"]
    assert [r.chunk.chunk_id for r in _distinct(results, 3, 0.5, across_guides=False)] == ["a", "b"]


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_every_mode_finds_the_vector_database_passage(service, mode):
    results = service.retriever(mode).retrieve("Which vector databases should I learn?", k=5)
    assert len(results) == 5
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
    assert any("Pinecone" in r.chunk.text for r in results[:3])


def test_edition_filter_keeps_only_that_edition(service):
    results = service.retriever().retrieve("MLOps tools", k=8, filters=Filters(editions=frozenset({"2024"})))
    assert results and all(r.chunk.edition == "2024" for r in results)


def test_sentence_scores_lift_a_fact_buried_in_its_chunk(service):
    index = service.engine.index
    query = service.embedder.encode_queries(["What is YOLO used for?"])[0]
    rows = np.array([i for i, c in enumerate(index.chunks) if "YOLO" in c.text])
    best_sentence = index.best_sentence_scores(query, rows)
    whole_chunk = np.asarray(index.vectors[rows]) @ query
    assert (best_sentence >= whole_chunk - 0.05).all() and best_sentence.max() > 0.4
    plain = HybridRetriever(index, service.embedder, mode="dense", sentence_weight=0.0)
    assert plain.retrieve("What is YOLO used for?", k=3)
