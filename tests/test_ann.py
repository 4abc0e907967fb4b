"""rag.index.ann: exact search while it is cheap, int8-compressed IVF above (re-ranked exactly), updated in place."""

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


def _recall(truth: np.ndarray, found: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / len(a) for a, b in zip(truth, found)]))


def _ivf_flat_like(index: faiss.IndexIVF, data: np.ndarray) -> faiss.IndexIVFFlat:
    """The IVF-Flat index older code built: `index`'s lists, float32 vectors."""
    quantizer = faiss.IndexFlatIP(DIM)
    quantizer.add(index.quantizer.reconstruct_n(0, index.nlist))
    flat = faiss.IndexIVFFlat(quantizer, DIM, index.nlist, faiss.METRIC_INNER_PRODUCT)
    flat.add_with_ids(data, np.arange(len(data), dtype=np.int64))
    return flat


def test_exact_up_to_the_limit_and_compressed_ivf_above_it_finds_nearly_what_exact_search_finds(small_limit):
    assert isinstance(ann.make_index(_clustered(1000)), faiss.IndexFlatIP)
    data = _clustered(20_000)
    index = ann.make_index(data)
    assert isinstance(index, faiss.IndexIVFScalarQuantizer) and index.nlist == ann.ivf_lists(20_000) == 256
    assert index.sq.qtype == faiss.ScalarQuantizer.QT_8bit and index.nprobe == ann.IVF_NPROBE
    queries = _clustered(200, seed=3)
    scores, found = ann.search(index, queries, 10, data)
    assert _recall(_exact_ids(data, queries), found) >= 0.95
    # The scores are the re-rank's exact inner products, in order, not the int8 approximations.
    np.testing.assert_allclose(scores, np.einsum("qd,qkd->qk", queries, data[found]), rtol=1e-6)
    assert (np.diff(scores, axis=1) <= 0).all()


def test_the_compressed_index_is_under_a_third_of_ivf_flat_on_disk(small_limit, tmp_path: Path):
    data = _clustered(20_000)
    index = ann.make_index(data)
    ann.write_index(index, tmp_path / "sq8.index")
    ann.write_index(_ivf_flat_like(index, data), tmp_path / "flat.index")
    # Per vector: 32 int8 codes + an 8-byte id against 32 floats + the id (40 vs 136 bytes).
    assert (tmp_path / "sq8.index").stat().st_size < (tmp_path / "flat.index").stat().st_size / 3


def test_a_search_pads_with_minus_one_when_the_probed_lists_hold_fewer_than_k(small_limit):
    data = _clustered(3000)
    index = ann.make_index(data)
    index.nprobe = 1
    scores, rows = ann.search(index, data[:1], 200, data)
    found = rows[0][rows[0] >= 0]
    assert 0 < len(found) < 200 and (rows[0][len(found):] == -1).all() and found[0] == 0
    assert (scores[0][len(found):] == -np.finfo(np.float32).max).all()  # FAISS's own filler score
    assert len(set(found.tolist())) == len(found)


def test_an_update_drops_renumbers_and_adds_rows_and_keeps_the_centroids(small_limit, tmp_path: Path):
    data = _clustered(6000)
    ann.write_index(ann.make_index(data), tmp_path / "old.index")
    old = ann.read_index(tmp_path / "old.index")  # memory-mapped, as a build finds it
    # One "file" in the middle changes: its 60 rows go, 25 new ones take their place.
    fresh = _clustered(6025)[6000:]  # new points of the same clusters (the int8 ranges were fitted on them)
    new_data = np.concatenate([data[:3000], fresh, data[3060:]])
    new_rows = np.concatenate([np.arange(3000), np.full(60, -1), np.arange(3025, 3025 + 2940)])
    updated = ann.updated_index(old, new_rows, np.arange(3000, 3025), new_data)

    assert isinstance(updated, faiss.IndexIVFScalarQuantizer) and updated.ntotal == len(new_data)
    np.testing.assert_array_equal(updated.quantizer.reconstruct_n(0, updated.nlist), old.quantizer.reconstruct_n(0, old.nlist))
    np.testing.assert_array_equal(faiss.vector_to_array(updated.sq.trained), faiss.vector_to_array(old.sq.trained))
    updated.nprobe = updated.nlist  # every list: the result must be exactly the exact search's
    queries = np.concatenate([fresh, new_data[::97]])
    # Copied and added entries hold the int8 codes a fresh add of the new rows makes: the same approximate scores.
    refilled = ann._empty_like(old)
    refilled.add_with_ids(new_data, np.arange(len(new_data), dtype=np.int64))
    refilled.nprobe = refilled.nlist
    np.testing.assert_array_equal(updated.search(queries, 40), refilled.search(queries, 40))
    np.testing.assert_array_equal(ann.search(updated, queries, 10, new_data)[1], _exact_ids(new_data, queries))
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


def test_an_ivf_flat_index_of_older_code_still_searches_and_its_update_makes_it_compressed(small_limit):
    data = _clustered(3000)
    old = _ivf_flat_like(ann.make_index(data), data)
    old.nprobe = old.nlist
    queries = data[::50]
    np.testing.assert_array_equal(ann.search(old, queries, 10, data)[1], _exact_ids(data, queries))
    updated = ann.updated_index(old, np.arange(3000), np.array([], dtype=np.int64), data)
    assert isinstance(updated, faiss.IndexIVFScalarQuantizer) and updated.ntotal == 3000


def test_ivf_loads_memory_mapped_with_its_probe_count(small_limit, tmp_path: Path):
    ann.write_index(ann.make_index(_clustered(3000)), tmp_path / "f.index")
    loaded = ann.read_index(tmp_path / "f.index")
    assert isinstance(loaded, faiss.IndexIVFScalarQuantizer) and loaded.nprobe == ann.IVF_NPROBE
