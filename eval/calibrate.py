"""Calibrate the abstention threshold on a golden set's labelled questions.

    python -m eval.calibrate --golden eval/golden/guides.jsonl

For each question it takes the evidence strength the pipeline uses (the best
passage's dense cosine), then picks the threshold with the best abstain
accuracy on unanswerable questions among those whose false-abstain rate on
answerable ones is at most --max-false-abstain.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from eval.golden import load_golden
from rag.pipeline import evidence_strength
from rag.service import QAService
from rag.settings import Settings


def choose_threshold(answerable: list[float], unanswerable: list[float], max_false_abstain: float) -> tuple[float, float, float]:
    """(threshold, abstain_accuracy, false_abstain_rate) of the best admissible threshold."""
    best = (0.0, 0.0, 0.0)
    for t in sorted(set(answerable + unanswerable)):
        false_abstain = sum(s < t for s in answerable) / len(answerable)
        accuracy = sum(s < t for s in unanswerable) / len(unanswerable)
        if false_abstain <= max_false_abstain and accuracy > best[1]:
            best = (t, accuracy, false_abstain)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--golden", type=Path, default=Path("eval/golden/guides.jsonl"))
    parser.add_argument("--max-false-abstain", type=float, default=0.05)
    args = parser.parse_args()
    service = QAService(Settings())
    service.ensure_index()
    strengths = {True: [], False: []}
    for q in load_golden(args.golden):
        strengths[q.answerable].append(evidence_strength(service.retriever().retrieve(q.question, k=10)))
    threshold, accuracy, false_abstain = choose_threshold(strengths[True], strengths[False], args.max_false_abstain)
    print(f"answerable strengths:   min {min(strengths[True]):.3f}  sorted {sorted(round(s, 3) for s in strengths[True])[:8]} …")
    print(f"unanswerable strengths: {sorted(round(s, 3) for s in strengths[False])}")
    print(f"threshold {threshold:.3f}: abstain_accuracy {accuracy:.3f}, false_abstain_rate {false_abstain:.3f}")


if __name__ == "__main__":
    main()
