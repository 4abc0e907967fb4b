"""The FAISS index over chunk vectors: exact while that is fast, compressed IVF above, updatable in place.

Up to EXACT_SEARCH_LIMIT vectors an exact `IndexFlatIP` answers a query in a few
milliseconds and costs nothing to rebuild. Above it, an IVF index with int8 scalar
quantisation (`IndexIVFScalarQuantizer`, QT_8bit, row numbers as ids) keeps a query
near a millisecond at a quarter of the float32 size (384 bytes a 384-d vector), and,
unlike a graph index such as HNSW, it can drop and add vectors: a build that changes
one file keeps the trained centroids, quantiser ranges and every other list entry
(`updated_index`), so a 1M-vector index is updated in seconds instead of re-trained
and re-filled (bench/bench_index.py part 3).

The int8 scores only pick a shortlist: `search` takes k + RERANK_EXTRA candidates
and orders them by the exact inner product with the float32 vectors, read by row
from embeddings.npy. With that, recall equals IVF-Flat's (at 250k synthetic vectors,
nprobe 16: @10 0.998 both, 0.978 without the re-rank; @100 0.995 both, 0.985
without), so IVF-Flat has no size
at which it is the better choice and is no longer built; an IVF-Flat index written
by older code still loads and searches, and its first update makes it anew. IVF-PQ
(48 bytes a vector) was dropped: recall@10 0.69 even re-ranked (bench/README.md, "Scale").

Both load memory-mapped (`read_index`): the page cache, not the process, holds the codes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import faiss
import numpy as np

from rag.index.rows import RowFile

# Exact search is fast enough (< ~15 ms on 2 cores) up to this many vectors.
EXACT_SEARCH_LIMIT = 200_000
# Lists probed per query: recall@10 0.994 at 1M synthetic vectors, p50 ~1.5 ms (8: 0.982); see bench/README.md.
IVF_NPROBE = 16
IVF_TRAINING_PER_LIST = 40  # k-means sample: 40 points per list, FAISS's own lower bound for a warning-free train
IVF_TRAINING_ITERATIONS = 10
# Candidates beyond k taken from the int8 scores and re-ranked exactly: 30 bring recall@10 from 0.978 to 0.998
# and recall@100 from 0.985 to 0.995 at 250k synthetic vectors (IVF-Flat's own figures). A fixed margin, not a
# multiple of k: each candidate is a row read from embeddings.npy, and hybrid search asks for k=100 (4·k, 400
# rows, doubled its p50 at 1M: 58 ms against 29).
RERANK_EXTRA = 30

# Queries arrive one at a time: OpenMP threads only add overhead to a single-query
# search (measured: 16 ms with 2 threads vs 0.2 ms with 1 at 10k vectors). Builds
# use every core (`_all_cores`).
faiss.omp_set_num_threads(1)


def ivf_lists(n: int) -> int:
    """About 2·√n inverted lists, a power of two (1M → 2048): a probe then scans ~n/1000 vectors per list."""
    return int(2 ** round(np.log2(2 * np.sqrt(max(n, 1)))))


def make_index(vectors: RowFile | np.ndarray) -> faiss.Index:
    """Exact inner-product index up to EXACT_SEARCH_LIMIT vectors, IVF with int8 codes and row ids above."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if len(vectors) <= EXACT_SEARCH_LIMIT:
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors)
        return index
    nlist = ivf_lists(len(vectors))
    ivf = _ivf_sq8(faiss.IndexFlatIP(vectors.shape[1]), nlist)
    ivf.cp.niter = IVF_TRAINING_ITERATIONS
    rng = np.random.default_rng(0)
    sample = vectors[np.sort(rng.choice(len(vectors), size=min(len(vectors), IVF_TRAINING_PER_LIST * nlist), replace=False))]
    with _all_cores():
        ivf.train(sample)
        ivf.add_with_ids(vectors, np.arange(len(vectors), dtype=np.int64))
    ivf.nprobe = IVF_NPROBE
    return ivf


def search(index: faiss.Index, queries: np.ndarray, k: int, vectors: RowFile | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(scores, rows) of the k nearest rows by inner product, per query; `vectors` are the float32 rows.

    A compressed index's int8 scores only shortlist k + RERANK_EXTRA rows; the exact
    inner products with their `vectors` order them. Missing results are row -1, as FAISS's."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if not isinstance(index, faiss.IndexIVFScalarQuantizer):
        return index.search(queries, k)
    _, shortlists = index.search(queries, k + RERANK_EXTRA)
    scores = np.full((len(queries), k), -np.finfo(np.float32).max, dtype=np.float32)
    rows = np.full((len(queries), k), -1, dtype=np.int64)
    for i, (query, shortlist) in enumerate(zip(queries, shortlists)):
        shortlist = shortlist[shortlist >= 0]
        exact = np.asarray(vectors[shortlist], dtype=np.float32) @ query
        best = np.argsort(-exact, kind="stable")[:k]
        scores[i, : len(best)], rows[i, : len(best)] = exact[best], shortlist[best]
    return scores, rows


def updated_index(old: faiss.Index, new_rows: np.ndarray, added_rows: np.ndarray,
                  vectors: RowFile | np.ndarray) -> faiss.Index:
    """The index of `vectors` (the new rows, in order), made from `old` rather than from scratch.

    `new_rows[r]` is the new row of old row r, or -1 if it is gone; `added_rows` are
    the new rows with no old counterpart. An IVF index keeps its centroids and lists
    and only drops, renumbers and adds entries — while the size still calls for the
    same number of lists; otherwise (and for an exact index, which is a plain copy, or
    an IVF-Flat one from older code) it is made anew.
    """
    if (not isinstance(old, faiss.IndexIVFScalarQuantizer) or len(vectors) <= EXACT_SEARCH_LIMIT
            or old.nlist != ivf_lists(len(vectors))):
        return make_index(vectors)
    index = _empty_like(old)
    _copy_entries(old, index, new_rows)
    if len(added_rows):
        added = np.ascontiguousarray(vectors[added_rows], dtype=np.float32)
        index.add_with_ids(added, np.asarray(added_rows, dtype=np.int64))
    index.nprobe = IVF_NPROBE
    return index


def write_index(index: faiss.Index, path: Path) -> None:
    faiss.write_index(index, str(path))


def read_index(path: Path) -> faiss.Index:
    """Memory-mapped: loading is near-instant at any size and the page cache holds the vectors."""
    index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)
    ivf = _as_ivf(index)
    if ivf is not None:
        ivf.nprobe = IVF_NPROBE
    return index


def _as_ivf(index: faiss.Index) -> faiss.IndexIVF | None:
    try:
        return faiss.extract_index_ivf(index)
    except RuntimeError:
        return None


def _ivf_sq8(quantizer: faiss.IndexFlatIP, nlist: int) -> faiss.IndexIVFScalarQuantizer:
    """An untrained IVF index of int8 codes (of residuals from the list centroids, FAISS's default)."""
    return faiss.IndexIVFScalarQuantizer(quantizer, quantizer.d, nlist, faiss.ScalarQuantizer.QT_8bit,
                                         faiss.METRIC_INNER_PRODUCT)


def _empty_like(ivf: faiss.IndexIVFScalarQuantizer) -> faiss.IndexIVFScalarQuantizer:
    """An empty in-memory index of `ivf`'s kind with its trained centroids and quantiser ranges:
    its codes mean the same, so they can be copied over (`_copy_entries`)."""
    quantizer = faiss.IndexFlatIP(ivf.d)
    quantizer.add(ivf.quantizer.reconstruct_n(0, ivf.nlist))
    index = _ivf_sq8(quantizer, ivf.nlist)
    index.by_residual = ivf.by_residual
    faiss.copy_array_to_vector(faiss.vector_to_array(ivf.sq.trained), index.sq.trained)
    index.is_trained = True
    return index


def _copy_entries(source: faiss.IndexIVF, target: faiss.IndexIVF, new_rows: np.ndarray) -> None:
    """Copy each list's entries whose old row survives, under its new row number.

    `source` may be memory-mapped and read-only: it is only read. A list that keeps all its
    entries (all but the few an update drops from) is copied from there as it is, its codes
    not gathered into an array of ours first (in profiled 1M updates that gathering took 0.9-2.1 s)."""
    lists, into = source.invlists, target.invlists
    assert lists is not None and into is not None, "IVF indexes always have inverted lists"
    code_size = lists.code_size
    for list_no in range(source.nlist):
        size = lists.list_size(list_no)
        if not size:
            continue
        ids = new_rows[faiss.rev_swig_ptr(lists.get_ids(list_no), size)]
        keep = ids >= 0
        if keep.all():
            codes = lists.get_codes(list_no)
        else:
            # A new C-ordered array, alive until add_entries has copied it.
            kept = faiss.rev_swig_ptr(lists.get_codes(list_no), size * code_size).reshape(size, code_size)[keep]
            codes, ids = faiss.swig_ptr(kept), ids[keep]
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        into.add_entries(list_no, len(ids), faiss.swig_ptr(ids), codes)
        target.ntotal += len(ids)


@contextmanager
def _all_cores() -> Iterator[None]:
    """Builds use every core; searches go back to one thread (see the top of this module)."""
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(1)
