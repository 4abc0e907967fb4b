"""Calibrate the abstention threshold on a golden set's labelled questions.

    python -m eval.calibrate --golden eval/golden/guides.jsonl

For each question it runs the pipeline's answerability test (rag.answer.answerability)
at every candidate strength threshold, then picks the threshold with the best
abstain accuracy on unanswerable questions among those whose false-abstain
rate on answerable ones is at most --max-false-abstain.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from eval.golden import load_golden
from rag.answer.answerability import Mentions, evidence_strength, is_answerable
from rag.core.types import ScoredChunk
from rag.service import QAService
from rag.settings import Settings

Case = tuple[str, list[ScoredChunk]]


def choose_threshold(
    answerable: list[Case], unanswerable: list[Case], max_false_abstain: float, mentions: Mentions | None = None
) -> tuple[float, float, float]:
    """(threshold, abstain_accuracy, false_abstain_rate) of the best admissible threshold."""

    def abstain_rate(cases: list[Case], t: float) -> float:
        return sum(not is_answerable(q, passages, t, mentions) for q, passages in cases) / len(cases)

    best = (0.0, abstain_rate(unanswerable, 0.0), abstain_rate(answerable, 0.0))
    for t in sorted({evidence_strength(p) for _, p in answerable + unanswerable}):
        false_abstain, accuracy = abstain_rate(answerable, t), abstain_rate(unanswerable, t)
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
    cases: dict[bool, list[Case]] = {True: [], False: []}
    for q in load_golden(args.golden):
        cases[q.answerable].append((q.question, service.retriever().retrieve(q.question, k=10)))
    mentions = service.engine.index.bm25.mentions
    threshold, accuracy, false_abstain = choose_threshold(cases[True], cases[False], args.max_false_abstain, mentions)
    print(f"threshold {threshold:.3f}: abstain_accuracy {accuracy:.3f}, false_abstain_rate {false_abstain:.3f}")


if __name__ == "__main__":
    main()
