"""Shared helpers of the benchmark scripts: progress lines, latency summaries, machine facts, output."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:8.1f}s] {msg}", flush=True)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def summary_ms(ms: list[float]) -> dict[str, float]:
    """p50 / p95 / mean of times in milliseconds."""
    return {"p50_ms": pct(ms, 50), "p95_ms": pct(ms, 95), "mean_ms": float(np.mean(ms)), "count": len(ms)}


def summary_of_seconds(seconds: list[float]) -> dict[str, float]:
    return summary_ms([s * 1e3 for s in seconds])


def write_figures(path: Path | None, results: dict) -> None:
    """Write the figures as JSON when --json was given."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    log(f"figures written to {path}")


def machine_facts(**versions: str) -> dict:
    """Python, CPUs, platform, numpy and the load average at the start, plus `versions`."""
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
            "numpy": np.__version__, **versions, "loadavg_start": os.getloadavg()}


def finish(results: dict, print_tables: Callable[[dict], None], json_path: Path | None) -> int:
    """Record the total time and the load average at the end, print the tables, write the JSON."""
    results["total_s"] = time.perf_counter() - T0
    results["machine"]["loadavg_end"] = os.getloadavg()
    print()
    print_tables(results)
    write_figures(json_path, results)
    return 0
