"""Where a server's CPU goes, from py-spy's folded stacks (bench_load.py --profile FILE).

    python bench/profile_summary.py FILE [--cpu-ms-per-request X]

Each sample is charged to the innermost frame that belongs to a known component
(the model, FAISS, BM25, JSON and pydantic, HTTP, ...), so a json.dumps called by
FastAPI counts as JSON, and a torch op under the batching worker as the model.
With the CPU ms per request that bench_load.py measured, shares become milliseconds.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

# (component, path fragments of its frames); the first component whose fragment a frame holds wins.
COMPONENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # rag's own forward pass (plain torch ops, whose C frames py-spy does not show) is the model too.
    ("model forward (torch, transformers)", ("torch/", "transformers/", "sentence_transformers/", "onnxruntime",
                                             "rag/encoders/minilm.py", "rag/encoders/onnx.py")),
    ("tokenizer", ("tokenizers",)),
    ("FAISS search", ("faiss/",)),
    ("bm25s: BM25 scores, tokenizing, stemming", ("bm25s/", "rag/index/bm25.py", "Stemmer")),
    ("passages (SQLite)", ("rag/index/passages.py", "sqlite3")),
    ("answer: sentence scoring, selection", ("rag/answer/",)),
    ("retrieval: fusion, dedup, sentence cosines", ("rag/retrieve/", "rag/index/store.py")),
    ("question analysis (rag/query)", ("rag/query/", "rag/pipeline.py", "rag/core/text.py")),
    ("batching worker (queue, threads)", ("rag/encoders/",)),
    ("JSON, pydantic", ("pydantic", "json/", "fastapi/encoders", "fastapi/_compat", "api/schemas.py")),
    ("metrics", ("prometheus_client", "api/metrics.py")),
    ("HTTP: uvicorn, h11, starlette, FastAPI", ("uvicorn/", "h11/", "starlette/", "fastapi/", "anyio/", "api/")),
    ("asyncio, threads", ("asyncio/", "threading.py", "concurrent/")),
)


# Leaf frames of a thread that waits (on a lock, a queue, the event loop's select): no CPU, though py-spy's
# non-blocking sampling can count them.
WAITS = ("Condition.wait", "Event.wait", "Queue.get", "Runner.run", "select (selectors.py", "_worker (concurrent")
WAITING = "waiting (not CPU; left out of the shares)"


def component(stack: list[str]) -> str:
    if any(w in stack[-1] for w in WAITS):
        return WAITING
    for frame in reversed(stack):
        for name, fragments in COMPONENTS:
            if any(f in frame for f in fragments):
                return name
    return "other"


def breakdown(path: Path) -> Counter[str]:
    """Samples per component, from lines 'frame;frame;...;frame COUNT'."""
    counts: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if stack and n.isdigit():
            counts[component(stack.split(";"))] += int(n)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folded", type=Path)
    parser.add_argument("--cpu-ms-per-request", type=float, default=None)
    args = parser.parse_args(argv)
    counts = breakdown(args.folded)
    waiting = counts.pop(WAITING, 0)
    total = sum(counts.values())
    print(f"| component | share of CPU samples |{' CPU ms / request |' if args.cpu_ms_per_request else ''}")
    print(f"|---|---:|{'---:|' if args.cpu_ms_per_request else ''}")
    for name, n in counts.most_common():
        ms = f" {args.cpu_ms_per_request * n / total:.1f} |" if args.cpu_ms_per_request else ""
        print(f"| {name} | {100 * n / total:.1f}% |{ms}")
    print(f"\n{total} samples on CPU, {waiting} waiting")
    return 0


if __name__ == "__main__":
    sys.exit(main())
