"""Sweep settings on a golden set and print one row per setting.

    python -m eval.tune --golden eval/golden/guides.jsonl --out runs/tune

It sweeps index and retrieval settings (chunk size, overlap, embedded text,
fusion): each chunking setting gets its own index folder under --out and
embeddings are reused across re-runs. This is how the defaults in
rag/settings.py were chosen (README, "How the defaults were chosen"); the
extractive generator's sentence scorer is fitted by `rag tune selection`
(eval/tune_selection.py).
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

from eval.golden import load_golden
from eval.harness import evaluate
from rag.encoders.embedding import Embedder
from rag.index.build import build_index
from rag.index.store import load_index
from rag.retrieve.hybrid import HybridRetriever
from rag.settings import Settings

COLUMNS = ("context_recall@2000", "context_recall@4000", "mrr@10", "ndcg@10", "hit@1", "recall@10")


def sweep(golden: Path, out: Path, sizes: list[int], overlaps: list[float], templates: list[str]) -> list[dict]:
    questions = [q for q in load_golden(golden) if q.answerable]
    embedder = Embedder()
    rows = []
    for size, overlap, template in itertools.product(sizes, overlaps, templates):
        settings = Settings(chunk_max_tokens=size, chunk_overlap_tokens=int(size * overlap), passage_template=template)
        folder = out / f"index-{size}-{int(size * overlap)}-{template}"
        build_index(settings.corpus_dir, folder, settings.index_settings(embedder), embedder)
        index = load_index(folder, settings.index_settings(embedder))
        for mode, fusion, weight in _retrievers():
            retriever = HybridRetriever(index, embedder, mode=mode, fusion=fusion, dense_weight=weight)
            summary = evaluate(questions, retriever).summary()["overall"]
            row = {"size": size, "overlap": int(size * overlap), "template": template, "mode": mode,
                   "fusion": fusion if mode == "hybrid" else "-", "w": weight if mode == "hybrid" else "-",
                   "chunks": len(index), **{c: summary[c] for c in COLUMNS}}
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def _retrievers():
    yield "dense", "weighted", 1.0
    yield "bm25", "weighted", 0.0
    yield "hybrid", "rrf", 0.5
    for weight in (0.6, 0.7, 0.8):
        yield "hybrid", "weighted", weight



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--golden", type=Path, default=Path("eval/golden/guides.jsonl"))
    parser.add_argument("--out", type=Path, default=Path("runs/tune"))
    parser.add_argument("--sizes", default="64,96,128,192")
    parser.add_argument("--overlaps", default="0")
    parser.add_argument("--templates", default="section,title_section")
    args = parser.parse_args()
    sweep(
        args.golden,
        args.out,
        [int(s) for s in args.sizes.split(",")],
        [float(o) for o in args.overlaps.split(",")],
        args.templates.split(","),
    )


if __name__ == "__main__":
    main()
