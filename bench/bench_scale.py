"""How the index scales: a synthetic index of N chunks, written by the project's own build, served cold.

    python bench/bench_scale.py --chunks 100000 [--json OUT] [--keep DIR]

No model is involved. Synthetic guides (CHUNKS_PER_GUIDE one-sentence sections each,
words drawn from a Zipf vocabulary) go through `rag.index.build.update_index`, with
an encoder that returns embedding-like vectors (bench/synthetic.py). Then:

- cold_start_s: a fresh Python process (`--probe`) from its start to its first
  answered hybrid search (`HybridRetriever.retrieve`, as /search does minus the
  question encoder), imports included;
- rss_mb: that process's resident memory right after the first search;
- search_p50_ms: hybrid retrieve over 200 queries in the same process;
- recall_at_10: the dense search's top 10 against an exact scan of the vectors;
- one_file_update_s: `update_index` again after one guide in the middle changed;
- index_mb, faiss_mb: the index folder and its FAISS file after that update.

See bench/README.md ("Scale") for the figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from synthetic import DIM, SEED, Mixture  # noqa: E402
from timing import finish, log, machine_facts, summary_of_seconds  # noqa: E402

from rag.core.types import Document, Unit  # noqa: E402

CHUNKS_PER_GUIDE = 100
WORDS_PER_SENTENCE = 30
VOCABULARY = 30_000
N_QUERIES = 200
K = 10


class SyntheticEncoder:
    """Stands in for the Embedder: every text fits, passages get mixture vectors, no model."""

    model_name = "synthetic-mixture"
    dim = DIM
    max_wordpieces = 256
    embed_dtype = "float32"

    def __init__(self) -> None:
        self._mix = Mixture()
        self._calls = 0

    def fits(self, text: str) -> bool:
        return True

    def encode_passages(self, passages: Sequence[str], on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        self._calls += 1
        return self._mix.sample(len(passages), SEED + 1000 * self._calls)

    def encode_queries(self, queries: list[str]) -> np.ndarray:
        """The build aligns editions with it (rag.index.alignment; synthetic guides have none) and encodes the guides'
        words with it (rag.index.words)."""
        return self.encode_passages(queries)


class QueryVectors:
    """A query encoder that hands out precomputed vectors, one per call, in turn."""

    def __init__(self, vectors: np.ndarray) -> None:
        self._vectors = vectors
        self._next = 0

    def encode_queries(self, queries: list[str]) -> np.ndarray:
        out = self._vectors[[(self._next + i) % len(self._vectors) for i in range(len(queries))]]
        self._next += len(queries)
        return out


def index_settings():
    from rag.settings import Settings

    return Settings().index_settings(SyntheticEncoder())  # type: ignore[arg-type]


def vocabulary(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Made-up words and their Zipf frequencies."""
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = np.array(["".join(rng.choice(letters, size=rng.integers(4, 10))) for _ in range(VOCABULARY)])
    weights = 1.0 / np.arange(1, VOCABULARY + 1)
    return words, weights / weights.sum()


def guide(number: int, words: np.ndarray, p: np.ndarray, edit: int = 0) -> Document:
    """A synthetic guide of CHUNKS_PER_GUIDE one-sentence sections; `edit` > 0 changes `edit` of its sentences."""
    rng = np.random.default_rng(SEED + number)
    drawn = words[rng.choice(len(words), size=(CHUNKS_PER_GUIDE, WORDS_PER_SENTENCE), p=p)]
    sentences = [" ".join(row).capitalize() + "." for row in drawn]
    for i in range(edit):
        sentences[i * 7 % CHUNKS_PER_GUIDE] += " Revised."
    units, raw, pos = [], [], 0
    for j, sentence in enumerate(sentences):
        heading = f"## Section {j}\n"
        start = pos + len(heading)
        units.append(Unit(f"Section {j}", start, start + len(sentence), sentence, block=j))
        raw.append(heading + sentence + "\n")
        pos = start + len(sentence) + 1
    text = "".join(raw)
    return Document(f"guide_{number:06d}.md", f"Guide {number}", None, hashlib.sha256(text.encode()).hexdigest(), text,
                    tuple(units))


def corpus(n_chunks: int) -> tuple[list[Document], np.ndarray, np.ndarray]:
    """Guides enough for `n_chunks`, and the vocabulary and word frequencies they were drawn from."""
    words, p = vocabulary(np.random.default_rng(SEED))
    return [guide(i, words, p) for i in range((n_chunks + CHUNKS_PER_GUIDE - 1) // CHUNKS_PER_GUIDE)], words, p


def build(index_dir: Path, docs: list[Document], encoder: SyntheticEncoder) -> float:
    from rag.index.build import update_index

    files = {d.doc: d.sha256 for d in docs}
    start = time.perf_counter()
    report = update_index(index_dir, index_settings(), encoder, files, lambda: docs)  # type: ignore[arg-type]
    seconds = time.perf_counter() - start
    log(f"  {report.status}: {report.chunk_count:,} chunks, {report.embedded:,} embedded, {report.reused:,} reused, "
        f"{seconds:.1f} s")
    return seconds


def probe(index_dir: Path, queries_file: Path) -> None:
    """The child process: load the index cold, search once, report; then time and score searches."""
    from rag.index.store import load_index
    from rag.settings import Settings

    data = np.load(queries_file)
    vectors, texts = data["vectors"], [str(t) for t in data["texts"]]
    index = load_index(index_dir, index_settings())
    retriever = Settings().retriever(index, QueryVectors(vectors))  # type: ignore[arg-type]
    retriever.retrieve(texts[0], k=K)
    first = time.time()
    rss = _rss_mb()
    times = []
    for text in texts:
        start = time.perf_counter()
        retriever.retrieve(text, k=K)
        times.append(time.perf_counter() - start)
    dense_times, found = [], []
    for v in vectors:
        start = time.perf_counter()
        found.append(index.dense_search(v[None, :], K)[1][0])
        dense_times.append(time.perf_counter() - start)
    print(json.dumps({"first_search_at": first, "rss_mb": rss, "search": summary_of_seconds(times),
                      "dense": summary_of_seconds(dense_times), "rss_mb_after_searches": _rss_mb(),
                      "recall_at_10": _recall(index_dir, vectors, np.array(found))}), flush=True)


def _recall(index_dir: Path, queries: np.ndarray, found: np.ndarray) -> float:
    """Share of the exact top K (a scan of the chunk vectors, in blocks) that the dense search returned."""
    from rag.index.segments import vector_files
    from rag.index.store import read_manifest

    vectors = vector_files(index_dir, read_manifest(index_dir).segments)[0]
    scores = np.empty((len(queries), len(vectors)), dtype=np.float32)
    for start in range(0, len(vectors), 100_000):
        scores[:, start:start + 100_000] = queries @ vectors[start:start + 100_000].T
    truth = np.argpartition(-scores, K, axis=1)[:, :K]
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth)]))


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:"))


def cold_start(index_dir: Path, queries_file: Path) -> dict[str, Any]:
    """Time a fresh probe process, from spawn to its first answer (the page cache is warm: the index was just written)."""
    started = time.time()
    out = subprocess.run([sys.executable, __file__, "--probe", str(index_dir), "--queries", str(queries_file)],
                         check=True, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["cold_start_s"] = result.pop("first_search_at") - started
    return result


def run(n_chunks: int, folder: Path) -> dict[str, Any]:
    from rag.index.store import FAISS_FILE

    log(f"synthesising {n_chunks:,} chunks")
    docs, words, p = corpus(n_chunks)
    rng = np.random.default_rng(SEED - 1)
    queries_file = folder / "queries.npz"
    texts = [" ".join(words[rng.choice(len(words), size=3, p=p)]) for _ in range(N_QUERIES)]
    np.savez(queries_file, vectors=Mixture().sample(N_QUERIES, SEED - 1), texts=np.array(texts))
    index_dir = folder / "index"
    encoder = SyntheticEncoder()
    log("full build")
    build_s = build(index_dir, docs, encoder)
    log("cold start probe")
    result = cold_start(index_dir, queries_file)
    log(f"  cold start {result['cold_start_s']:.2f} s, RSS {result['rss_mb']:.0f} MB, "
        f"search p50 {result['search']['p50_ms']:.1f} ms, recall@10 {result['recall_at_10']:.4f}")
    middle = len(docs) // 2
    docs[middle] = guide(middle, words, p, edit=3)
    log("one-file update")
    update_s = build(index_dir, docs, encoder)
    folder_mb = sum(f.stat().st_size for f in index_dir.rglob("*") if f.is_file()) / 2**20
    faiss_mb = (index_dir / FAISS_FILE).stat().st_size / 2**20
    return {"chunks": n_chunks, "build_s": build_s, "cold_start_s": result["cold_start_s"], "rss_mb": result["rss_mb"],
            "search_p50_ms": result["search"]["p50_ms"], "dense_p50_ms": result["dense"]["p50_ms"],
            "recall_at_10": result["recall_at_10"], "one_file_update_s": update_s, "index_mb": folder_mb,
            "faiss_mb": faiss_mb, "probe": result}


def print_table(results: dict[str, Any]) -> None:
    r = results["scale"]
    print(f"load average: start {results['machine']['loadavg_start']}, end {results['machine']['loadavg_end']}")
    for key in ("chunks", "build_s", "cold_start_s", "rss_mb", "search_p50_ms", "dense_p50_ms", "recall_at_10",
                "one_file_update_s", "index_mb", "faiss_mb"):
        value = r[key]
        print(f"{key:>18}  {value:,.4f}" if isinstance(value, float) else f"{key:>18}  {value:,}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    parser.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it (default: a temp one)")
    parser.add_argument("--probe", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--queries", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        probe(args.probe, args.queries)
        return 0
    folder = args.keep or Path(tempfile.mkdtemp(prefix="guides-qa-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"machine": machine_facts()}
    try:
        results["scale"] = run(args.chunks, folder)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    return finish(results, print_table, args.json)


if __name__ == "__main__":
    sys.exit(main())
