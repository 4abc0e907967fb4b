"""Cold-start wall time of the `rag` command: `rag --help` and one `rag ask`, each in a fresh process.

    python bench/bench_cold.py [--runs 5] [--index DIR] [--question "…"]

Each command runs --runs times in a new Python process (no warm model, no warm
imports besides the OS page cache; one unmeasured run first fills it), and the
median wall time is printed with the load average, which inflates every figure
on a busy machine. Without --index, the guides in corpus/ are indexed into a
temporary folder first (not timed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "Which optimizers besides gradient descent should I know?"


def wall_seconds(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(["rag", *args], env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def median_seconds(args: list[str], env: dict[str, str], runs: int) -> float:
    wall_seconds(args, env)  # unmeasured: fills the page cache
    return statistics.median(wall_seconds(args, env) for _ in range(runs))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--index", type=Path, help="an index folder (default: build one from corpus/ first)")
    parser.add_argument("--question", default=QUESTION)
    options = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAG_CORPUS_DIR": str(ROOT / "corpus")}
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as scratch:
        index = options.index or Path(scratch) / "index"
        env["RAG_INDEX_DIR"] = str(index)
        if options.index is None:
            subprocess.run(["rag", "index", "build"], env=env, check=True, stdout=subprocess.DEVNULL)
        load = os.getloadavg()[0]
        figures = {
            "rag --help": median_seconds(["--help"], env, options.runs),
            f'rag ask "{options.question}"': median_seconds(["ask", options.question], env, options.runs),
        }
    print(f"cold start, median of {options.runs} fresh processes (1-min load average {load:.2f} at the start, "
          f"{os.getloadavg()[0]:.2f} at the end, {os.cpu_count()} CPUs)")
    for command, seconds in figures.items():
        print(f"  {seconds:6.2f} s  {command}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
