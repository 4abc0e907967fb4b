"""Fit the edition-alignment thresholds on labelled pairs, cross-validated.

    python -m eval.tune_alignment [--golden eval/golden/alignment.jsonl] [--out rag/profiles/alignment.json]

Each labelled pair (eval/golden/alignment.jsonl) is a section or an item of one
edition, one of the other, and whether they say the same thing. Both texts are
embedded as the build embeds alignment nodes (rag.index.alignment), and a pair
counts as matched when its cosine reaches the threshold of its kind. The threshold
of each kind is the one with the best F1 on the pairs; stratified k-fold
cross-validation (threshold chosen on the other folds) reports the precision,
recall and F1 to expect. The thresholds and the report go to the profile file the
build reads.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.encoders.embedding import Embedder
from rag.index.alignment import ITEM, PROFILE, SECTION

GOLDEN = Path(__file__).resolve().parent / "golden" / "alignment.jsonl"
FOLDS = 5
SEED = 0


@dataclass(frozen=True)
class Labelled:
    """One kind's pairs: their cosines and whether each is the same thing."""

    cosines: np.ndarray
    same: np.ndarray


def load_pairs(path: Path, embedder: Embedder) -> dict[str, Labelled]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    found = {}
    for kind in (SECTION, ITEM):
        mine = [r for r in rows if r["kind"] == kind]
        a = embedder.encode_queries([r["a"]["text"] for r in mine])
        b = embedder.encode_queries([r["b"]["text"] for r in mine])
        found[kind] = Labelled((a * b).sum(axis=1), np.array([bool(r["same"]) for r in mine]))
    return found


def best_threshold(cosines: np.ndarray, same: np.ndarray) -> float:
    """The cut with the best F1: midway between two neighbouring cosines (ties: the higher cut)."""
    values = np.unique(cosines)
    cuts = np.concatenate([[values[0] - 1e-6], (values[:-1] + values[1:]) / 2, [values[-1] + 1e-6]])
    scores = [_prf(cosines >= cut, same)[2] for cut in cuts]
    best = max(range(len(cuts)), key=lambda i: (scores[i], cuts[i]))
    return round(float(cuts[best]), 4)


def cross_validate(pairs: Labelled, folds: int = FOLDS, seed: int = SEED) -> dict[str, float]:
    """Precision, recall and F1 of held-out predictions, each fold's threshold fitted on the others."""
    rng = np.random.default_rng(seed)
    fold_of = np.empty(len(pairs.same), dtype=int)
    for label in (True, False):  # stratified: each fold gets its share of both labels
        rows = rng.permutation(np.flatnonzero(pairs.same == label))
        fold_of[rows] = np.arange(len(rows)) % folds
    predicted = np.zeros(len(pairs.same), dtype=bool)
    for k in range(folds):
        train, test = fold_of != k, fold_of == k
        predicted[test] = pairs.cosines[test] >= best_threshold(pairs.cosines[train], pairs.same[train])
    precision, recall, f1 = _prf(predicted, pairs.same)
    return {"precision": round(precision, 3), "recall": round(recall, 3), "f1": round(f1, 3),
            "pairs": int(len(pairs.same)), "same": int(pairs.same.sum())}


def _prf(predicted: np.ndarray, same: np.ndarray) -> tuple[float, float, float]:
    hits = float((predicted & same).sum())
    precision = hits / predicted.sum() if predicted.sum() else 0.0
    recall = hits / same.sum() if same.sum() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def run(golden: Path, out: Path) -> dict:
    """Fit both thresholds, cross-validate them, write `out`; returns what was written."""
    pairs = load_pairs(golden, Embedder())
    data = {
        "thresholds": {kind: best_threshold(p.cosines, p.same) for kind, p in pairs.items()},
        "cross_validation": {kind: cross_validate(p) for kind, p in pairs.items()},
        "fitted_on": golden.name,
        "folds": FOLDS,
    }
    out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--golden", type=Path, default=GOLDEN)
    parser.add_argument("--out", type=Path, default=PROFILE)
    args = parser.parse_args()
    print(json.dumps(run(args.golden, args.out), indent=2))


if __name__ == "__main__":
    main()
