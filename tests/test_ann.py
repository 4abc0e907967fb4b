"""rag.index.ann: exact search while it is cheap, IVF above, and IVF updated in place without a re-train."""

from pathlib import Path

import faiss
import numpy as np
import pytest

from rag.index import ann

DIM = 32


def _clustered(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(50, DIM))
    data = centres[rng.integers(0, 50, n)] + 0.3 * rng.normal(size=(n, DIM))
    return (data / np.linalg.norm(data, axis=1, keepdims=True)).astype(np.float32)


def _exact_ids(data: np.ndarray, queries: np.ndarray, k: int = 10) -> np.ndarray:
    exact = faiss.IndexFlatIP(DIM)
    exact.add(data)
    return exact.search(queries, k)[1]


@pytest.fixture
def small_limit(monkeypatch):
    monkeypatch.setattr(ann, "EXACT_SEARCH_LIMIT", 1000)


def test_exact_up_to_the_limit_and_ivf_above_it_finds_nearly_what_exact_search_finds(small_limit):
    assert isinstance(ann.make_index(_clustered(1000)), faiss.IndexFlatIP)
    data = _clustered(8000)
    index = ann.make_index(data)
    assert isinstance(index, faiss.IndexIVFFlat) and index.nlist == ann.ivf_lists(8000) == 128
    queries = data[:200] + 0.01
    truth, found = _exact_ids(data, queries), index.search(queries, 10)[1]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, found)])
    assert recall >= 0.95


def test_an_update_drops_renumbers_and_adds_rows_and_keeps_the_centroids(small_limit, tmp_path: Path):
    data = _clustered(6000)
    ann.write_index(ann.make_index(data), tmp_path / "old.index")
    old = ann.read_index(tmp_path / "old.index")  # memory-mapped, as a build finds it
    # One "file" in the middle changes: its 60 rows go, 25 new ones take their place.
    fresh = _clustered(25, seed=1)
    new_data = np.concatenate([data[:3000], fresh, data[3060:]])
    new_rows = np.concatenate([np.arange(3000), np.full(60, -1), np.arange(3025, 3025 + 2940)])
    updated = ann.updated_index(old, new_rows, np.arange(3000, 3025), new_data)

    assert updated.ntotal == len(new_data)
    np.testing.assert_array_equal(updated.quantizer.reconstruct_n(0, updated.nlist), old.quantizer.reconstruct_n(0, old.nlist))
    updated.nprobe = updated.nlist  # every list: the result must be exactly the exact search's
    queries = np.concatenate([fresh, new_data[::97]])
    np.testing.assert_array_equal(updated.search(queries, 10)[1], _exact_ids(new_data, queries))
    assert ann.read_index(tmp_path / "old.index").ntotal == 6000  # the serving file is never written


def test_an_update_makes_the_index_anew_when_the_size_calls_for_other_lists(small_limit):
    data = _clustered(2000)
    old = ann.make_index(data)
    bigger = np.concatenate([data, _clustered(8000, seed=2)])
    new_rows = np.arange(2000)
    updated = ann.updated_index(old, new_rows, np.arange(2000, 10000), bigger)
    assert updated.nlist == ann.ivf_lists(10000) != old.nlist
    shrunk = ann.updated_index(old, np.where(np.arange(2000) < 500, np.arange(2000), -1), np.array([], dtype=np.int64),
                               data[:500])
    assert isinstance(shrunk, faiss.IndexFlatIP) and shrunk.ntotal == 500


def test_ivf_loads_memory_mapped_with_its_probe_count(small_limit, tmp_path: Path):
    ann.write_index(ann.make_index(_clustered(3000)), tmp_path / "f.index")
    loaded = ann.read_index(tmp_path / "f.index")
    assert isinstance(loaded, faiss.IndexIVFFlat) and loaded.nprobe == ann.IVF_NPROBE
