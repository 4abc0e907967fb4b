"""The FAISS index over chunk vectors: exact while that is fast, IVF above, and updatable in place.

Up to EXACT_SEARCH_LIMIT vectors an exact `IndexFlatIP` answers a query in a few
milliseconds and costs nothing to rebuild. Above it, an IVF-Flat index (row numbers
as ids) keeps a query near a millisecond, and, unlike a graph index such as HNSW,
it can drop and add vectors: a build that changes one file keeps the trained
centroids and every other list entry (`updated_index`), so a 1M-vector index is
updated in seconds instead of re-trained and re-filled (bench/bench_index.py part 3).

Both load memory-mapped (`read_index`): the page cache, not the process, holds the vectors.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import faiss
import numpy as np

# Exact search is fast enough (< ~15 ms on 2 cores) up to this many vectors.
EXACT_SEARCH_LIMIT = 200_000
# Lists probed per query: recall@10 0.994 at 1M synthetic vectors, p50 ~1.5 ms (8: 0.982); see bench/README.md.
IVF_NPROBE = 16
IVF_TRAINING_PER_LIST = 40  # k-means sample: 40 points per list, FAISS's own lower bound for a warning-free train
IVF_TRAINING_ITERATIONS = 10

# Queries arrive one at a time: OpenMP threads only add overhead to a single-query
# search (measured: 16 ms with 2 threads vs 0.2 ms with 1 at 10k vectors). Builds
# use every core (`_all_cores`).
faiss.omp_set_num_threads(1)


def ivf_lists(n: int) -> int:
    """About 2·√n inverted lists, a power of two (1M → 2048): a probe then scans ~n/1000 vectors per list."""
    return int(2 ** round(np.log2(2 * np.sqrt(max(n, 1)))))


def make_index(vectors: np.ndarray) -> faiss.Index:
    """Exact inner-product index up to EXACT_SEARCH_LIMIT vectors, IVF-Flat with row ids above."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if len(vectors) <= EXACT_SEARCH_LIMIT:
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors)
        return index
    nlist = ivf_lists(len(vectors))
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(vectors.shape[1]), vectors.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.cp.niter = IVF_TRAINING_ITERATIONS
    rng = np.random.default_rng(0)
    sample = vectors[np.sort(rng.choice(len(vectors), size=min(len(vectors), IVF_TRAINING_PER_LIST * nlist), replace=False))]
    with _all_cores():
        ivf.train(sample)
        ivf.add_with_ids(vectors, np.arange(len(vectors), dtype=np.int64))
    ivf.nprobe = IVF_NPROBE
    return ivf


def updated_index(old: faiss.Index, new_rows: np.ndarray, added_rows: np.ndarray, vectors: np.ndarray) -> faiss.Index:
    """The index of `vectors` (the new rows, in order), made from `old` rather than from scratch.

    `new_rows[r]` is the new row of old row r, or -1 if it is gone; `added_rows` are
    the new rows with no old counterpart. An IVF index keeps its centroids and lists
    and only drops, renumbers and adds entries — while the size still calls for the
    same number of lists; otherwise (and for an exact index, which is a plain copy)
    it is made anew.
    """
    ivf = _as_ivf(old)
    if ivf is None or len(vectors) <= EXACT_SEARCH_LIMIT or ivf.nlist != ivf_lists(len(vectors)):
        return make_index(vectors)
    index = _empty_like(ivf)
    _copy_entries(ivf, index, new_rows)
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


def _empty_like(ivf: faiss.IndexIVF) -> faiss.IndexIVFFlat:
    """An empty in-memory IVF-Flat index with `ivf`'s trained centroids."""
    quantizer = faiss.IndexFlatIP(ivf.d)
    quantizer.add(ivf.quantizer.reconstruct_n(0, ivf.nlist))
    return faiss.IndexIVFFlat(quantizer, ivf.d, ivf.nlist, faiss.METRIC_INNER_PRODUCT)


def _copy_entries(source: faiss.IndexIVF, target: faiss.IndexIVF, new_rows: np.ndarray) -> None:
    """Copy each list's entries whose old row survives, under its new row number.

    `source` may be memory-mapped and read-only: it is only read."""
    lists, into = source.invlists, target.invlists
    assert lists is not None and into is not None, "IVF indexes always have inverted lists"
    code_size = lists.code_size
    for list_no in range(source.nlist):
        size = lists.list_size(list_no)
        if not size:
            continue
        ids = new_rows[faiss.rev_swig_ptr(lists.get_ids(list_no), size)]
        keep = ids >= 0
        codes = faiss.rev_swig_ptr(lists.get_codes(list_no), size * code_size).reshape(size, code_size)[keep]
        ids = np.ascontiguousarray(ids[keep], dtype=np.int64)
        into.add_entries(list_no, len(ids), faiss.swig_ptr(ids), faiss.swig_ptr(np.ascontiguousarray(codes)))
        target.ntotal += len(ids)


@contextmanager
def _all_cores() -> Iterator[None]:
    """Builds use every core; searches go back to one thread (see the top of this module)."""
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(1)
