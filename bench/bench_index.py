"""Benchmark of index builds and search: the guides themselves, then synthetic vectors.

A script, not a test: it prints comparable figures (medians, p95s) and can write
them as JSON. Part 1 works on a temporary copy of corpus/ and temporary index
folders, so the project's own index/ is never touched. Part 2 measures exact
(IndexFlatIP) against HNSW search on synthetic, embedding-like vectors at sizes
the guides will never reach, to place EXACT_SEARCH_LIMIT (rag/ann.py); HNSW is the
reference point that rag used above it before IVF, which part 3 measures through
rag.index.ann itself: load, search, recall, RSS and a one-file update.

    python bench/bench_index.py [--synthetic 100000,1000000] [--repeats N]
                                [--skip-synthetic] [--json OUT]

See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import faiss  # noqa: E402
from synthetic import DIM, SEED, Mixture  # noqa: E402
from timing import finish, log, machine_facts, summary_of_seconds  # noqa: E402

from rag.encoders.embedding import Embedder  # noqa: E402
from rag.index import ann  # noqa: E402
from rag.index.ann import EXACT_SEARCH_LIMIT  # noqa: E402
from rag.index.build import build_index  # noqa: E402
from rag.index.segments import vector_files  # noqa: E402
from rag.index.store import load_index, read_manifest  # noqa: E402
from rag.settings import Settings  # noqa: E402

CORPUS_DIR = ROOT / "corpus"
GOLDEN = ROOT / "eval" / "golden" / "guides.jsonl"
K = 10
EF_SEARCH_SWEEP = (32, 64, 128, 256)
# The HNSW graph that rag used above EXACT_SEARCH_LIMIT until IVF (which can drop rows) replaced it.
HNSW_M = 32
HNSW_EF_SEARCH = 256
HNSW_EF_CONSTRUCTION = 80
N_QUERIES = 200


# ---------------------------------------------------------------- helpers


def rss_bytes() -> int:
    """Resident set size of this process, from /proc/self/status (VmRSS)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def timed(fn, *args, **kwargs) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def mib(n: float) -> float:
    return n / (1 << 20)


# ---------------------------------------------------------------- part 1: the guides

EDIT_PARAGRAPH = (
    "Benchmark note {i}: engineers who keep a short written log of every experiment, "
    "including the data version, the hyperparameters and the evaluation scores, find it "
    "much easier to reproduce a result months later and to explain it to a hiring manager."
)


def _edits(corpus: Path) -> list[tuple[str, str]]:
    """Three different one-file edits: (file name, new full text). Each adds one paragraph."""
    names = sorted(p.name for p in corpus.iterdir() if p.suffix == ".txt")
    out: list[tuple[str, str]] = []
    # 1. append at the very end of the last guide
    last = names[-1]
    text = (corpus / last).read_text(encoding="utf-8")
    out.append((last, text.rstrip("\n") + "\n\n" + EDIT_PARAGRAPH.format(i=1) + "\n"))
    # 2. the first guide ends in a site footer that parsing drops: insert before it
    first = names[0]
    text = (corpus / first).read_text(encoding="utf-8")
    cut = text.rfind("Looking for someone?")
    cut = cut if cut > 0 else len(text)
    out.append((first, text[:cut] + EDIT_PARAGRAPH.format(i=2) + "\n\n" + text[cut:]))
    # 3. in the middle of the last guide, at the end of the section before the heading nearest the middle
    text = (corpus / last).read_text(encoding="utf-8")
    middle = len(text) // 2
    heads = [m.start() for m in re.finditer(r"(?<![#\S])#{2,3} (?=\S)", text)]
    pos = min(heads, key=lambda i: abs(i - middle)) if heads else middle
    out.append((last, text[:pos] + EDIT_PARAGRAPH.format(i=3) + " " + text[pos:]))
    return out


def bench_guides(repeats: int, noop_runs: int, search_repeats: int) -> dict[str, Any]:
    res: dict[str, Any] = {}
    tmp = Path(tempfile.mkdtemp(prefix="guides-qa-bench-"))
    try:
        corpus = tmp / "corpus"
        shutil.copytree(CORPUS_DIR, corpus)
        settings = Settings()

        # model load, cold: imports of torch / sentence-transformers included, then the load itself
        log("part 1: timing model load (import sentence_transformers, then Embedder().model)")
        _, t_import = timed(__import__, "sentence_transformers")
        probe = Embedder()
        _, t_load = timed(lambda: probe.model)  # noqa: F821 (deleted below, after use)
        res["model_import_s"] = t_import
        res["model_load_s"] = t_load
        log(f"  import {t_import:.2f}s, load {t_load:.2f}s")
        del probe

        # 1. full builds into fresh folders; the first one with a fresh Embedder (pays the model load)
        embedder = Embedder()
        index_settings = settings.index_settings(embedder)
        runs: list[dict[str, Any]] = []
        for i in range(repeats + 1):
            folder = tmp / f"full-{i}"
            report, secs = timed(build_index, corpus, folder, index_settings, embedder)
            runs.append({"seconds": secs, "chunks": report.chunk_count, "embedded": report.embedded})
            log(f"  full build {i}: {secs:.2f}s ({report.chunk_count} chunks, {report.embedded} embedded)"
                + (" [includes model load]" if i == 0 else ""))
        baseline = tmp / "full-0"
        res["chunks"] = runs[0]["chunks"]
        res["full_build_first_s"] = runs[0]["seconds"]
        res["full_build_warm_runs_s"] = [r["seconds"] for r in runs[1:]]
        res["full_build_warm_median_s"] = statistics.median(res["full_build_warm_runs_s"])
        res["faiss_index_type"] = json.loads((baseline / "manifest.json").read_text())["faiss_index"]

        # 2. no-op rebuilds, each with a fresh Embedder that must stay unloaded
        noop_s: list[float] = []
        statuses: set[str] = set()
        loaded = False
        for _ in range(noop_runs):
            fresh = Embedder()
            fresh_settings = settings.index_settings(fresh)
            report, secs = timed(build_index, corpus, baseline, fresh_settings, fresh)
            noop_s.append(secs)
            statuses.add(report.status)
            loaded |= "model" in fresh.__dict__
        res["noop"] = {**summary_of_seconds(noop_s), "statuses": sorted(statuses), "model_loaded": loaded}
        log(f"  no-op rebuild: p50 {res['noop']['p50_ms']:.1f} ms, statuses {sorted(statuses)}, model loaded: {loaded}")

        # 3. one file changed: each edit starts from a copy of the pristine baseline index
        originals = {p.name: p.read_bytes() for p in corpus.iterdir()}
        edits = []
        for i, (name, new_text) in enumerate(_edits(corpus), 1):
            work = tmp / f"edit-{i}"
            shutil.copytree(baseline, work)
            (corpus / name).write_text(new_text, encoding="utf-8")
            report, secs = timed(build_index, corpus, work, index_settings, embedder)
            edits.append({
                "file": name, "seconds": secs, "status": report.status, "changed": report.changed,
                "chunks": report.chunk_count, "embedded": report.embedded, "reused": report.reused,
            })
            log(f"  edit {i} ({name}): {secs:.3f}s, embedded {report.embedded}, reused {report.reused}, "
                f"changed {report.changed}")
            (corpus / name).write_bytes(originals[name])
            shutil.rmtree(work)
        res["one_file_changed"] = {
            "edits": edits,
            "median_s": statistics.median(e["seconds"] for e in edits),
            "median_embedded": statistics.median(e["embedded"] for e in edits),
            "median_reused": statistics.median(e["reused"] for e in edits),
        }

        # 4. warm search latency over the golden questions
        questions = [json.loads(line)["question"] for line in GOLDEN.read_text(encoding="utf-8").splitlines() if line.strip()]
        index = load_index(baseline, index_settings)
        search: dict[str, Any] = {"questions": len(questions), "repeats": search_repeats}
        retrievers = {mode: settings.retriever(index, embedder, mode) for mode in ("dense", "bm25", "hybrid")}
        ops = {"encode_query": lambda q: embedder.encode_queries([q])} | {
            mode: (lambda q, r=r: r.retrieve(q, K)) for mode, r in retrievers.items()
        }
        for q in questions:  # warm-up: model, tokenizers, BM25 stemmer, FAISS
            for op in ops.values():
                op(q)
        # interleaved (each question through every op in turn, order rotating), so a
        # change in machine load hits all four figures alike and the ratio stays fair
        times: dict[str, list[float]] = {name: [] for name in ops}
        names = list(ops)
        for r in range(search_repeats):
            for j, q in enumerate(questions):
                shift = (r + j) % len(names)
                for name in names[shift:] + names[:shift]:
                    _, t = timed(ops[name], q)
                    times[name].append(t)
        for name in names:
            search[name] = summary_of_seconds(times[name])
            log(f"  {name}: p50 {search[name]['p50_ms']:.2f} ms, p95 {search[name]['p95_ms']:.2f} ms")
        # the same floor with torch on one thread: on a shared machine, two threads can be far slower
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            times1 = []
            for _ in range(search_repeats):
                for q in questions:
                    _, t = timed(embedder.encode_queries, [q])
                    times1.append(t)
        finally:
            torch.set_num_threads(before)
        search["encode_query_1thread"] = summary_of_seconds(times1)
        log(f"  encode_query, torch 1 thread: p50 {search['encode_query_1thread']['p50_ms']:.2f} ms")
        search["hybrid_over_encode_p50"] = search["hybrid"]["p50_ms"] / search["encode_query"]["p50_ms"]
        res["search"] = search
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return res


# ---------------------------------------------------------------- part 2: synthetic vectors


def vector_stats(x: np.ndarray, seed: int = 0, n: int = 2000) -> dict[str, float]:
    """Shape of a set of unit vectors: random-pair cosine, nearest-neighbour cosine, effective dimension."""
    rng = np.random.default_rng(seed)
    rows = x[rng.choice(len(x), size=min(n, len(x)), replace=False)].astype(np.float64)
    sims = rows @ rows.T
    iu = np.triu_indices(len(rows), 1)
    np.fill_diagonal(sims, -np.inf)
    eig = np.clip(np.linalg.eigvalsh(np.cov(rows.T)), 0, None)
    return {
        "pair_cos_mean": float(sims[iu].mean()),
        "nn1_cos_mean": float(sims.max(axis=1).mean()),
        "effective_dim": float(eig.sum() ** 2 / (eig ** 2).sum()),
        "sample": len(rows),
    }


def single_query_latency(
    index: faiss.Index, queries: np.ndarray, k: int = K, warmup: int = 10, threads: int | None = None
) -> dict[str, float]:
    """One query per search() call, as the service does; `threads` sets FAISS's OpenMP threads for the run."""
    before = faiss.omp_get_max_threads()
    if threads:
        faiss.omp_set_num_threads(threads)
    try:
        for q in queries[:warmup]:
            index.search(q[None, :], k)
        times = []
        for q in queries:
            _, t = timed(index.search, q[None, :], k)
            times.append(t)
    finally:
        faiss.omp_set_num_threads(before)
    return summary_of_seconds(times)


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(np.mean([len(set(f) & set(t)) / k for f, t in zip(found, truth)]))


def build_hnsw(data: np.ndarray, budget_s: float, batch: int) -> tuple[faiss.Index, int, float, bool]:
    """Add `data` to an HNSW index in batches, printing progress; stop once over `budget_s`.

    Returns (index, rows added, seconds, complete).
    """
    index = faiss.IndexHNSWFlat(data.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.hnsw.efSearch = HNSW_EF_SEARCH
    start = time.perf_counter()
    n = len(data)
    added = 0
    while added < n:
        m = min(batch, n - added)
        index.add(data[added:added + m])
        added += m
        elapsed = time.perf_counter() - start
        rate = added / elapsed
        eta = (n - added) / rate
        log(f"    HNSW add {added:>9,}/{n:,}  {elapsed:7.1f}s  {rate:8.0f} vec/s  ETA {eta:6.0f}s")
        if added < n and elapsed > budget_s:
            log(f"    HNSW build over its {budget_s:.0f}s budget: stopping at {added:,} of {n:,} vectors")
            return index, added, elapsed, False
    return index, added, time.perf_counter() - start, True


def bench_synthetic_size(mix: Mixture, n: int, queries: np.ndarray, budget_s: float) -> dict[str, Any]:
    res: dict[str, Any] = {"n": n, "dim": DIM}
    log(f"part 2: n={n:,}: generating data ({mib(n * DIM * 4):.0f} MiB)")
    data, t_gen = timed(mix.sample, n, SEED + n)
    res["generate_s"] = t_gen
    res["data_stats"] = vector_stats(data)
    log(f"  generated in {t_gen:.1f}s; stats {res['data_stats']}")

    # exact
    rss0 = rss_bytes()
    flat = faiss.IndexFlatIP(DIM)
    _, t_build = timed(flat.add, data)
    exact: dict[str, Any] = {"build_s": t_build, "rss_delta_bytes": rss_bytes() - rss0}
    exact["serialized_bytes"] = int(faiss.serialize_index(flat).nbytes)
    log(f"  exact: built in {t_build:.2f}s, {mib(exact['serialized_bytes']):.0f} MiB")
    _, truth = flat.search(queries, K)
    exact["latency"] = single_query_latency(flat, queries)
    exact["latency_1thread"] = single_query_latency(flat, queries, threads=1)
    log(f"  exact: single query p50 {exact['latency']['p50_ms']:.2f} ms, p95 {exact['latency']['p95_ms']:.2f} ms; "
        f"with 1 OpenMP thread p50 {exact['latency_1thread']['p50_ms']:.2f} ms")
    res["exact"] = exact

    # HNSW with the project's constants
    rss0 = rss_bytes()
    log(f"  HNSW M={HNSW_M} efConstruction={HNSW_EF_CONSTRUCTION}: building (budget {budget_s:.0f}s)")
    hnsw, added, t_build, complete = build_hnsw(data, budget_s, batch=max(10_000, min(50_000, n // 20)))
    approx: dict[str, Any] = {
        "build_s": t_build, "complete": complete, "rows": added, "rss_delta_bytes": rss_bytes() - rss0,
        "M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION, "efSearch_default": HNSW_EF_SEARCH,
    }
    if not complete:
        approx["projected_full_build_s"] = t_build * n / added
        # the partial index is compared with exact search over the same rows
        del flat
        flat = faiss.IndexFlatIP(DIM)
        flat.add(data[:added])
        _, truth = flat.search(queries, K)
        approx["exact_latency_same_rows"] = single_query_latency(flat, queries)
    del flat
    approx["serialized_bytes"] = int(faiss.serialize_index(hnsw).nbytes)
    sweep = []
    for ef in sorted(set(EF_SEARCH_SWEEP) | {HNSW_EF_SEARCH}):
        hnsw.hnsw.efSearch = ef
        found = hnsw.search(queries, K)[1]
        lat = single_query_latency(hnsw, queries)
        sweep.append({"efSearch": ef, "recall_at_10": recall_at_k(found, truth), **lat})
        log(f"  HNSW efSearch={ef:>3}: recall@10 {sweep[-1]['recall_at_10']:.4f}, "
            f"p50 {lat['p50_ms']:.3f} ms, p95 {lat['p95_ms']:.3f} ms")
    hnsw.hnsw.efSearch = HNSW_EF_SEARCH
    approx["ef_sweep"] = sweep
    default = next(s for s in sweep if s["efSearch"] == HNSW_EF_SEARCH)
    approx["recall_at_10"] = default["recall_at_10"]
    approx["latency"] = {k: default[k] for k in ("p50_ms", "p95_ms", "mean_ms", "count")}
    res["hnsw"] = approx
    del hnsw, data
    return res


def exact_scan(mix: Mixture, max_n: int, queries: np.ndarray) -> list[dict[str, Any]]:
    """Exact single-query latency against corpus size, to place EXACT_SEARCH_LIMIT."""
    sizes = [s for s in (10_000, 30_000, 100_000, 200_000, 300_000, 500_000, 1_000_000) if s <= max_n]
    if not sizes:
        return []
    data = mix.sample(max(sizes), SEED + 7)
    out = []
    for n in sizes:
        flat = faiss.IndexFlatIP(DIM)
        flat.add(data[:n])
        row: dict[str, Any] = {"n": n}
        for threads in (1, 2):
            row[f"threads_{threads}"] = single_query_latency(flat, queries[:100], threads=threads)
        out.append(row)
        log(f"  exact scan n={n:>9,}: p50 {row['threads_1']['p50_ms']:.2f} ms (1 thread), "
            f"{row['threads_2']['p50_ms']:.2f} ms (2 threads)")
        del flat
    del data
    return out


def bench_synthetic(sizes: list[int], budget_s: float) -> dict[str, Any]:
    faiss.omp_set_num_threads(2)
    mix = Mixture()
    queries = mix.sample(N_QUERIES, SEED - 1)  # a separate draw: never copies of database rows
    res: dict[str, Any] = {"queries": N_QUERIES, "k": K, "omp_threads": faiss.omp_get_max_threads(), "sizes": []}
    for n in sizes:
        res["sizes"].append(bench_synthetic_size(mix, n, queries, budget_s))
    log("part 2: exact latency against size")
    res["exact_scan"] = exact_scan(mix, max(sizes), queries)
    return res


def chunk_vectors(index_dir: Path) -> np.ndarray:
    """An index's chunk vectors, its segments stacked (rag.index.segments)."""
    return np.asarray(vector_files(index_dir, read_manifest(index_dir).segments)[0])


def real_vector_stats() -> dict[str, float] | None:
    """The same shape figures for the guides' own chunk vectors, if an index is at hand."""
    tmp = Path(tempfile.mkdtemp(prefix="guides-qa-bench-"))
    try:
        embedder = Embedder()
        settings = Settings()
        build_index(CORPUS_DIR, tmp / "index", settings.index_settings(embedder), embedder)
        return vector_stats(chunk_vectors(tmp / "index"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- part 3: updatable, memory-mapped indexes

UPDATE_ROWS = 60  # one guide's worth of chunks: removed, and UPDATE_ROWS + 5 new ones put in their place
NPROBE_SWEEP = (8, 16, 32, 64, 128)


@contextmanager
def index_kind(kind: str, n: int) -> Iterator[None]:
    """rag.index.ann as if EXACT_SEARCH_LIMIT put `n` vectors under it ("flat") or over it ("ivf")."""
    limit = ann.EXACT_SEARCH_LIMIT
    ann.EXACT_SEARCH_LIMIT = n if kind == "flat" else 0
    try:
        yield
    finally:
        ann.EXACT_SEARCH_LIMIT = limit


class Reranked:
    """An index searched as the service searches it (rag.index.ann.search): a compressed index's
    shortlist re-ranked exactly with the float32 `vectors`."""

    def __init__(self, index: faiss.Index, vectors: np.ndarray) -> None:
        self.index, self.vectors = index, vectors

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return ann.search(self.index, queries, k, self.vectors)


def make_kind(kind: str, data: np.ndarray) -> faiss.Index:
    with index_kind(kind, len(data)):
        return ann.make_index(data)


def one_file_update(path: Path, data: np.ndarray, mix: Mixture, kind: str) -> dict[str, float]:
    """What `rag index build` does to the FAISS index when one file in the middle changes: read the
    serving index (memory-mapped), drop that file's rows, renumber the rows after them, add the new
    ones (rag.index.ann.updated_index), write the result beside it. Returns seconds per step."""
    n, at = len(data), len(data) // 2
    fresh = mix.sample(UPDATE_ROWS + 5, SEED + 99)
    new_data = np.concatenate([data[:at], fresh, data[at + UPDATE_ROWS:]])
    new_rows = np.concatenate([np.arange(at), np.full(UPDATE_ROWS, -1), np.arange(at + 5 + UPDATE_ROWS, n + 5)])
    added = np.arange(at, at + UPDATE_ROWS + 5)
    with index_kind(kind, len(new_data)):
        start = time.perf_counter()
        old = ann.read_index(path)
        updated, t_update = timed(ann.updated_index, old, new_rows, added, new_data)
        _, t_write = timed(ann.write_index, updated, path.with_suffix(".new"))
    total = time.perf_counter() - start
    if kind == "ivf":
        updated.nprobe = updated.nlist
        check = fresh[:5]
        assert (ann.search(updated, check, 1, new_data)[1][:, 0] == added[:5]).all(), "updated index lost the new rows"
    path.with_suffix(".new").unlink()
    return {"update_s": total, "update_compute_s": t_update, "update_write_s": t_write}


def bench_updatable_size(mix: Mixture, n: int, queries: np.ndarray, folder: Path) -> list[dict[str, Any]]:
    log(f"part 3: n={n:,}: generating data")
    data = mix.sample(n, SEED + n)
    flat = faiss.IndexFlatIP(DIM)
    flat.add(data)
    truth = flat.search(queries, K)[1]
    del flat
    rows = []
    for kind in ("flat", "ivf"):
        index, t_build = timed(make_kind, kind, data)
        path = folder / f"{kind}-{n}.index"
        ann.write_index(index, path)
        del index
        rss0 = rss_bytes()
        loaded, t_load = timed(ann.read_index, path)
        row: dict[str, Any] = {"n": n, "index": type(loaded).__name__, "build_s": t_build, "load_s": t_load,
                               "rss_after_load_bytes": rss_bytes() - rss0,
                               "used_by_rag": (kind == "flat") == (n <= EXACT_SEARCH_LIMIT)}
        if kind == "ivf":
            row["nlist"] = loaded.nlist
            sweep = []
            for nprobe in NPROBE_SWEEP:
                loaded.nprobe = nprobe
                searched = Reranked(loaded, data)
                found = searched.search(queries, K)[1]
                sweep.append({"nprobe": nprobe, "recall_at_10": recall_at_k(found, truth),
                              **single_query_latency(searched, queries, threads=1)})  # type: ignore[arg-type]
                log(f"  IVF{loaded.nlist} nprobe={nprobe}: recall@10 {sweep[-1]['recall_at_10']:.4f}, "
                    f"p50 {sweep[-1]['p50_ms']:.3f} ms")
            used = next(s for s in sweep if s["nprobe"] == ann.IVF_NPROBE)
            row.update(nprobe=ann.IVF_NPROBE, recall_at_10=used["recall_at_10"], p50_ms=used["p50_ms"], sweep=sweep)
        else:
            row.update(recall_at_10=recall_at_k(loaded.search(queries, K)[1], truth),
                       p50_ms=single_query_latency(loaded, queries, threads=1)["p50_ms"])
        row["rss_after_queries_bytes"] = rss_bytes() - rss0
        del loaded
        row.update(one_file_update(path, data, mix, kind))
        path.unlink()
        log(f"  {row['index']}: load {row['load_s']:.2f}s, p50 {row['p50_ms']:.3f} ms, recall@10 {row['recall_at_10']:.4f}, "
            f"RSS +{mib(row['rss_after_queries_bytes']):.0f} MiB, one-file update {row['update_s']:.2f}s "
            f"(update {row['update_compute_s']:.2f}s, write {row['update_write_s']:.2f}s)")
        rows.append(row)
    del data
    return rows


def bench_updatable(sizes: list[int]) -> list[dict[str, Any]]:
    mix = Mixture()
    queries = mix.sample(N_QUERIES, SEED - 1)
    folder = Path(tempfile.mkdtemp(prefix="guides-qa-bench-upd-"))
    try:
        return [row for n in sizes for row in bench_updatable_size(mix, n, queries, folder)]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def print_updatable(console, rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    t = Table(title="Part 3: rag.index.ann indexes, memory-mapped (1 OpenMP thread per query; * = what rag uses at this size)")
    for c in ("n", "index", "build s", "load s", "p50 ms", "recall@10", "nprobe", "RSS MiB", "1-file update s",
              "of it: write s"):
        t.add_column(c, justify="right")
    for r in rows:
        t.add_row(f"{r['n']:,}", r["index"] + (" *" if r["used_by_rag"] else ""), f"{r['build_s']:.1f}",
                  f"{r['load_s']:.2f}", f"{r['p50_ms']:.3f}", f"{r['recall_at_10']:.4f}", str(r.get("nprobe", "-")),
                  f"{mib(r['rss_after_queries_bytes']):.0f}", f"{r['update_s']:.2f}", f"{r['update_write_s']:.2f}")
    console.print(t)


# ---------------------------------------------------------------- part 4: build against bare encode


def embedded_texts(index_dir: Path, template) -> list[str]:
    """Every distinct text a build embedded: chunk passages and their sentences (as rag.index.build makes them)."""
    from dataclasses import replace

    from rag.core.types import Chunk
    from rag.encoders.embedding import passage_text

    chunks = [Chunk.from_json(json.loads(line)) for line in (index_dir / "chunks.jsonl").read_text().splitlines()]
    texts = [passage_text(c, template) for c in chunks]
    texts += [passage_text(replace(c, text=q.text), template) for c in chunks for q in c.quotes()]
    return list(dict.fromkeys(texts))


def bench_build_ratio(corpus: Path, ray_address: str | None) -> dict[str, Any]:
    """A first build of `corpus` (model warm) against the bare encode of everything it embedded,
    one after the other in this run; with `ray_address`, the same build with the embedding on Ray."""
    from rag.encoders.distributed import RayEncoder

    embedder = Embedder()
    settings = Settings()
    embedder.encode_passages(["warm up"])
    tmp = Path(tempfile.mkdtemp(prefix="guides-qa-bench-build-"))
    try:
        log(f"part 4: first build of {corpus}")
        report, t_build = timed(build_index, corpus, tmp / "plain", settings.index_settings(embedder), embedder)
        texts = embedded_texts(tmp / "plain", settings.passage_template)
        log(f"  built {report.chunk_count} chunks ({len(texts)} texts embedded) in {t_build:.1f}s; bare encode")
        with embedder.precision():  # the precision the build embedded in
            _, t_bare = timed(embedder.model.encode, texts, batch_size=embedder.batch_size, normalize_embeddings=True)
        res: dict[str, Any] = {"corpus": str(corpus), "files": len(list(corpus.iterdir())), "chunks": report.chunk_count,
                               "texts_embedded": len(texts), "build_s": t_build, "bare_encode_s": t_bare,
                               "build_over_bare": t_build / t_bare}
        log(f"  bare encode {t_bare:.1f}s: build / bare = {res['build_over_bare']:.2f}x")
        if ray_address:
            encoder = RayEncoder(ray_address, batch_size=embedder.batch_size, embed_dtype=embedder.embed_dtype)
            _, t_ray = timed(build_index, corpus, tmp / "ray", settings.index_settings(embedder), embedder, encoder=encoder)
            diff = float(np.abs(chunk_vectors(tmp / "plain") - chunk_vectors(tmp / "ray")).max())
            res.update(ray_address=ray_address, ray_build_s=t_ray, ray_max_vector_diff=diff,
                       ray_same_chunks=(tmp / "plain" / "chunks.jsonl").read_bytes() == (tmp / "ray" / "chunks.jsonl").read_bytes())
            log(f"  Ray build ({ray_address}) {t_ray:.1f}s, max vector difference {diff:.2e}")
        return res
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def print_build_ratio(console, r: dict[str, Any]) -> None:
    from rich.table import Table

    t = Table(title=f"Part 4: first build vs bare encode — {r['files']} files, {r['chunks']} chunks, "
                    f"{r['texts_embedded']} texts embedded")
    t.add_column("figure")
    t.add_column("value", justify="right")
    t.add_row("first build s (model warm)", f"{r['build_s']:.1f}")
    t.add_row("bare encode of the same texts s", f"{r['bare_encode_s']:.1f}")
    t.add_row("build / bare encode", f"{r['build_over_bare']:.2f}x")
    t.add_row("chunks/s", f"{r['chunks'] / r['build_s']:.1f}")
    if "ray_build_s" in r:
        t.add_row(f"Ray build s ({r['ray_address']})", f"{r['ray_build_s']:.1f}")
        t.add_row("Ray: same chunks, max |Δ vector|", f"{r['ray_same_chunks']}, {r['ray_max_vector_diff']:.1e}")
    console.print(t)


# ---------------------------------------------------------------- report


def print_tables(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=132)
    m = results["machine"]
    console.print(f"python {m['python']}, faiss {m['faiss']}, numpy {m['numpy']}, {m['cpus']} CPUs, "
                  f"torch threads {m.get('torch_threads', '?')}; load average at start "
                  f"{m['loadavg_start'][0]:.2f}, at end {m['loadavg_end'][0]:.2f} (above ~0.5, other work "
                  f"shared the CPUs and every time is inflated)")
    g = results.get("guides")
    if g:
        t = Table(title=f"Guides ({g['chunks']} chunks, {g['faiss_index_type']})", show_lines=False)
        t.add_column("figure")
        t.add_column("value", justify="right")
        t.add_column("note")
        t.add_row("model import", f"{g['model_import_s']:.2f} s", "import sentence_transformers (cold)")
        t.add_row("model load", f"{g['model_load_s']:.2f} s", "Embedder().model, imports done")
        t.add_row("full build, first", f"{g['full_build_first_s']:.2f} s", "fresh Embedder: includes model load")
        t.add_row("full build, warm median", f"{g['full_build_warm_median_s']:.2f} s",
                  "runs: " + ", ".join(f"{s:.2f}" for s in g["full_build_warm_runs_s"]))
        n = g["noop"]
        t.add_row("no-op rebuild p50 / p95", f"{n['p50_ms']:.1f} / {n['p95_ms']:.1f} ms",
                  f"{n['count']} runs, status {','.join(n['statuses'])}, model loaded: {n['model_loaded']}")
        o = g["one_file_changed"]
        t.add_row("one file changed, median", f"{o['median_s']:.3f} s",
                  f"embedded {o['median_embedded']:.0f} / reused {o['median_reused']:.0f} (median, warm model)")
        for i, e in enumerate(o["edits"], 1):
            t.add_row(f"  edit {i}", f"{e['seconds']:.3f} s",
                      f"{e['file']}: embedded {e['embedded']}, reused {e['reused']}, changed {e['changed']}")
        s = g["search"]
        t.add_row("encode_queries p50 / p95", f"{s['encode_query']['p50_ms']:.2f} / {s['encode_query']['p95_ms']:.2f} ms",
                  f"{s['questions']} questions x {s['repeats']}, warm")
        e1 = s["encode_query_1thread"]
        t.add_row("  same, torch 1 thread", f"{e1['p50_ms']:.2f} / {e1['p95_ms']:.2f} ms",
                  f"torch default is {results['machine'].get('torch_threads', '?')} threads")
        for mode in ("dense", "bm25", "hybrid"):
            t.add_row(f"search {mode} p50 / p95", f"{s[mode]['p50_ms']:.2f} / {s[mode]['p95_ms']:.2f} ms", f"k={K}")
        t.add_row("hybrid p50 / encode p50", f"{s['hybrid_over_encode_p50']:.2f}x", "")
        console.print(t)

    if results.get("updatable"):
        print_updatable(console, results["updatable"])
    if results.get("build_ratio"):
        print_build_ratio(console, results["build_ratio"])
    syn = results.get("synthetic")
    if syn:
        t = Table(title=f"Synthetic {DIM}-d vectors: exact vs HNSW (M={HNSW_M}, efC={HNSW_EF_CONSTRUCTION}, "
                        f"efSearch={HNSW_EF_SEARCH}), {syn['queries']} queries, k={K}, {syn['omp_threads']} threads")
        for col in ("n", "index", "rows", "build s", "p50 ms", "p95 ms", "p50 ms 1 thr", "serialized MiB",
                    "RSS delta MiB", "recall@10"):
            t.add_column(col, justify="right")
        for r in syn["sizes"]:
            e, h = r["exact"], r["hnsw"]
            t.add_row(f"{r['n']:,}", "FlatIP", f"{r['n']:,}", f"{e['build_s']:.2f}", f"{e['latency']['p50_ms']:.2f}",
                      f"{e['latency']['p95_ms']:.2f}", f"{e['latency_1thread']['p50_ms']:.2f}",
                      f"{mib(e['serialized_bytes']):.0f}",
                      f"{mib(e['rss_delta_bytes']):.0f}", "1.0000")
            build = f"{h['build_s']:.1f}" + ("" if h["complete"] else f" (partial; ~{h['projected_full_build_s']:.0f} full)")
            t.add_row("", "HNSW", f"{h['rows']:,}", build, f"{h['latency']['p50_ms']:.3f}",
                      f"{h['latency']['p95_ms']:.3f}", "", f"{mib(h['serialized_bytes']):.0f}",
                      f"{mib(h['rss_delta_bytes']):.0f}", f"{h['recall_at_10']:.4f}")
            if not h["complete"]:
                x = h["exact_latency_same_rows"]
                t.add_row("", "FlatIP (same rows)", f"{h['rows']:,}", "", f"{x['p50_ms']:.2f}", f"{x['p95_ms']:.2f}",
                          "", "", "", "")
        console.print(t)

        t = Table(title="HNSW efSearch sweep (single-query latency)")
        for col in ("n", "efSearch", "recall@10", "p50 ms", "p95 ms"):
            t.add_column(col, justify="right")
        for r in syn["sizes"]:
            for s in r["hnsw"]["ef_sweep"]:
                mark = " *" if s["efSearch"] == HNSW_EF_SEARCH else ""
                t.add_row(f"{r['hnsw']['rows']:,}", f"{s['efSearch']}{mark}", f"{s['recall_at_10']:.4f}",
                          f"{s['p50_ms']:.3f}", f"{s['p95_ms']:.3f}")
        console.print(t)

        if syn["exact_scan"]:
            t = Table(title=f"Exact (FlatIP) single-query latency vs size, 100 queries "
                            f"(EXACT_SEARCH_LIMIT = {EXACT_SEARCH_LIMIT:,})")
            for col in ("n", "p50 ms, 1 thread", "p95 ms, 1 thread", "p50 ms, 2 threads", "p95 ms, 2 threads"):
                t.add_column(col, justify="right")
            for r in syn["exact_scan"]:
                a, b = r["threads_1"], r["threads_2"]
                t.add_row(f"{r['n']:,}", f"{a['p50_ms']:.2f}", f"{a['p95_ms']:.2f}", f"{b['p50_ms']:.2f}", f"{b['p95_ms']:.2f}")
            console.print(t)

        shapes = {"guides (real)": syn.get("real_stats")} | {f"synthetic {r['n']:,}": r["data_stats"] for r in syn["sizes"]}
        t = Table(title="Vector shape: do the synthetic vectors resemble the real ones?")
        for col in ("set", "mean pair cos", "mean NN-1 cos (2000-row sample)", "effective dim"):
            t.add_column(col, justify="right")
        for name, s in shapes.items():
            if s:
                t.add_row(name, f"{s['pair_cos_mean']:.3f}", f"{s['nn1_cos_mean']:.3f}", f"{s['effective_dim']:.1f}")
        console.print(t)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--synthetic", default="100000,1000000", help="comma-separated sizes (default 100000,1000000)")
    parser.add_argument("--skip-synthetic", action="store_true", help="only part 1, the guides")
    parser.add_argument("--skip-guides", action="store_true", help="only part 2, synthetic vectors")
    parser.add_argument("--repeats", type=int, default=3, help="full builds after the first (default 3); "
                        "search runs each golden question this many times")
    parser.add_argument("--noop-runs", type=int, default=20)
    parser.add_argument("--hnsw-budget", type=float, default=900.0,
                        help="seconds an HNSW build may take before it stops and reports a partial index (default 900)")
    parser.add_argument("--updatable", default="", help="part 3 sizes, e.g. 100000,1000000: remove/add-able, "
                        "memory-mapped indexes (load, p50, recall, RSS, one-file update)")
    parser.add_argument("--build-corpus", type=Path, help="part 4: time a first build of this folder against the "
                        "bare encode of everything it embeds")
    parser.add_argument("--ray", help="part 4 also builds with the embedding on this Ray address ('local' starts one)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)

    results: dict[str, Any] = {"machine": machine_facts(faiss=faiss.__version__)}
    if not args.skip_guides:
        results["guides"] = bench_guides(args.repeats, args.noop_runs, max(1, args.repeats))
    if not args.skip_synthetic:
        sizes = [int(s.replace("_", "")) for s in args.synthetic.split(",") if s.strip()]
        results["synthetic"] = bench_synthetic(sizes, args.hnsw_budget)
        results["synthetic"]["real_stats"] = real_vector_stats()
    if args.build_corpus:
        results["build_ratio"] = bench_build_ratio(args.build_corpus, args.ray)
    if args.updatable:
        results["updatable"] = bench_updatable([int(s.replace("_", "")) for s in args.updatable.split(",") if s.strip()])
    try:
        import torch

        results["machine"]["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    return finish(results, print_tables, args.json)


if __name__ == "__main__":
    sys.exit(main())
