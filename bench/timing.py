"""Shared helpers of the benchmark scripts: progress lines and latency summaries."""

from __future__ import annotations

import time

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
