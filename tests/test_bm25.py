"""BM25 updates: postings spliced, not re-made, score as a fresh index of the same passages."""

import numpy as np
import pytest

from rag.index.bm25 import BM25Index, BM25Settings, _splice


def test_splice_drops_inserts_and_renumbers_in_runs():
    old = np.arange(10, dtype=np.int32) * 10
    out = _splice(old, np.array([0, 4, 5, 9]), np.array([0, 3, 4, 8]), np.array([-1, -2, -3, -4], dtype=np.int32))
    assert out.tolist() == [-1, 10, 20, -2, -3, 30, 60, 70, -4, 80]
    renumber = np.arange(100, dtype=np.int32) + 1
    assert _splice(old, np.array([3]), np.zeros(0, dtype=np.int64), old[:0], renumber).tolist() == [
        1, 11, 21, 41, 51, 61, 71, 81, 91]
    assert _splice(old[:0], np.zeros(0, dtype=np.int64), np.array([0, 1]), old[:2]).tolist() == [0, 10]


@pytest.mark.parametrize("seed", range(5))
def test_an_updated_index_scores_as_a_fresh_one(seed):
    rng = np.random.default_rng(seed)
    words = [f"word{i}" for i in range(40)]
    passages = [" ".join(rng.choice(words, size=rng.integers(1, 12))) for _ in range(60)]
    settings = BM25Settings()
    old = BM25Index.build(passages, settings)
    # Drop a block of rows (a changed guide), keep the others in order, and put new passages in their place.
    start, stop, count = sorted(rng.choice(61, size=2, replace=False)) + [int(rng.integers(0, 8))]
    added = [" ".join(rng.choice(words + ["fresh", "burrs"], size=rng.integers(1, 12))) for _ in range(count)]
    new_rows = np.full(len(passages), -1, dtype=np.int64)
    new_rows[:start] = np.arange(start)
    new_rows[stop:] = np.arange(start + count, start + count + len(passages) - stop)
    updated = old.updated(new_rows, len(passages) - (stop - start) + count, np.arange(start, start + count), added)
    fresh = BM25Index.build(passages[:start] + added + passages[stop:], settings)
    for query in [*words, "fresh burrs", "word1 word2 word1"]:
        np.testing.assert_allclose(updated.scores(query), fresh.scores(query), rtol=1e-6)
        assert updated.mentions(query) == fresh.mentions(query)
