"""Synthetic, embedding-like vectors shared by the benchmarks (bench_index.py, bench_scale.py)."""

from __future__ import annotations

import numpy as np

DIM = 384
N_CENTRES = 1000
SEED = 20240611


class Mixture:
    """Embedding-like vectors: a seeded two-level Gaussian mixture, rows normalised.

    50 topics, each with 20 sub-topic centres (1000 centres in all), all leaning
    towards one shared direction (sentence embeddings are not centred: random
    pairs have a positive cosine). Centres and noise have a per-axis scale that
    decays like axis**-0.4, so most variance sits in a few dozen directions, as
    in real embeddings, rather than spreading evenly over all 384. A point is its
    centre plus noise of norm ~0.7, renormalised. Cluster sizes follow a
    Zipf-like law (a few big topics, many small). Calibrated so the shape
    figures (mean pair cosine ~0.19, effective dimension ~40) sit between the
    guides' own vectors and a broader corpus; see the "Vector shape" table.
    """

    def __init__(self, dim: int = DIM, n_centres: int = N_CENTRES, seed: int = SEED) -> None:
        rng = np.random.default_rng(seed)
        n_topics = 50
        spectrum = (1.0 / np.arange(1, dim + 1) ** 0.4).astype(np.float32)
        shared = normalise(rng.standard_normal((1, dim), dtype=np.float32))
        topics = normalise(rng.standard_normal((n_topics, dim), dtype=np.float32) * spectrum)
        parent = np.repeat(np.arange(n_topics), n_centres // n_topics)
        offsets = normalise(rng.standard_normal((len(parent), dim), dtype=np.float32) * spectrum)
        self.centres = normalise(normalise(topics[parent] + 0.8 * offsets) + 0.6 * shared)
        weights = 1.0 / np.arange(1, len(self.centres) + 1) ** 0.7
        self.weights = rng.permutation(weights / weights.sum())
        noise = 1.0 / np.sqrt(np.arange(1, dim + 1, dtype=np.float32))
        self.noise = (noise * (0.7 / np.linalg.norm(noise))).astype(np.float32)
        self.dim = dim

    def sample(self, n: int, seed: int, chunk: int = 100_000) -> np.ndarray:
        rng = np.random.default_rng(seed)
        out = np.empty((n, self.dim), dtype=np.float32)
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            which = rng.choice(len(self.centres), size=m, p=self.weights)
            block = rng.standard_normal((m, self.dim), dtype=np.float32)
            block *= self.noise
            block += self.centres[which]
            out[start:start + m] = normalise(block)
        return out


def normalise(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
