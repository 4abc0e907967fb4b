"""Score a golden set: retrieval metrics per question, answer metrics, and their means.

Outputs follow CONTRACTS §2: `metrics.json` ({"overall", "by_type"}),
`retrieved.jsonl` and `answers.jsonl`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean
from typing import Literal

from eval import metrics as m
from eval.golden import GoldenQuestion
from rag.core.types import Answer, ScoredChunk, Turn
from rag.pipeline import QAPipeline, retrieve_in_context
from rag.query.conversation import Contextualised
from rag.retrieve.hybrid import Retriever

CONTEXT_BUDGETS = (2000, 4000)
CUTOFFS = (1, 3, 5, 10)
# Enough passages to fill the largest context budget even with small chunks.
CONTEXT_PASSAGES = 40
# How a follow-up (a question with `history`) is read: alone, naively prefixed with the
# earlier user questions, or in context (rag.query.conversation, what the service does).
FollowupMode = Literal["alone", "prefix", "context"]
ANSWER_METRICS = ("keyword_recall", "citation_precision", "abstain_accuracy", "false_abstain_rate")
# edition_check_fail_rate: of an answer's generated comparison sentences, the share that named something
# the edition it was attributed to does not say (dropped before the reader sees them; should stay 0).
SHAPE_METRICS = ("answer_precision", "lead_hit", "answer_words", "edition_check_fail_rate")


@dataclass
class EvalRun:
    """Per-question scores and outputs of one evaluation."""

    rows: list[tuple[GoldenQuestion, dict[str, float]]] = field(default_factory=list)
    retrieved: list[dict] = field(default_factory=list)
    answers: list[dict] = field(default_factory=list)

    def summary(self) -> dict[str, dict]:
        """Means over questions, overall and by type; a metric is averaged where defined."""
        by_type: dict[str, list[dict[str, float]]] = defaultdict(list)
        for question, scores in self.rows:
            by_type[question.type].append(scores)
        return {
            "overall": mean_scores(scores for _, scores in self.rows),
            "by_type": {t: mean_scores(rows) for t, rows in sorted(by_type.items())},
        }


def score_retrieval(question: GoldenQuestion, passages: list[str], k: int = 10) -> dict[str, float]:
    """The contract's retrieval metrics of one answerable question's ranked passages."""
    spans = question.spans
    cov = m.coverage(passages, spans)
    scores = {f"context_recall@{c}": m.context_recall_at_chars(passages, spans, c, cov=cov) for c in CONTEXT_BUDGETS}
    for cut in sorted({*CUTOFFS, k}):
        scores[f"recall@{cut}"] = m.recall_at_k(passages, spans, cut, cov=cov)
        scores[f"hit@{cut}"] = m.hit_at_k(passages, spans, cut, cov=cov)
    scores["mrr@10"] = m.mrr_at_k(passages, spans, 10, cov=cov)
    scores["ndcg@10"] = m.ndcg_at_k(passages, spans, 10, cov=cov)
    return scores


def score_answer(question: GoldenQuestion, answer: Answer) -> dict[str, float]:
    """Answer metrics of one question; abstention scored as a 0/1 per question."""
    if not question.answerable:
        return {"abstain_accuracy": float(answer.abstained)}
    scores = {"false_abstain_rate": float(answer.abstained)}
    if question.answer_keywords:
        scores["keyword_recall"] = m.keyword_recall(answer.answer, question.answer_keywords)
    precision = m.citation_precision([c.text for c in answer.citations], question.spans)
    if precision is not None:
        scores["citation_precision"] = precision
    if not answer.abstained:
        scores |= score_shape(answer.answer, question.spans)
    if answer.checked_sentences:
        scores["edition_check_fail_rate"] = answer.failed_sentences / answer.checked_sentences
    return scores


def score_shape(answer: str, spans: list[str]) -> dict[str, float]:
    """The answer-shape metrics (CONTRACTS §1) of one answer that did not abstain."""
    scores: dict[str, float] = {"answer_words": float(m.answer_words(answer))}
    precision, lead = m.answer_precision(answer, spans), m.lead_hit(answer, spans)
    if precision is not None:
        scores["answer_precision"] = precision
    if lead is not None:
        scores["lead_hit"] = lead
    return scores


def evaluate(
    questions: list[GoldenQuestion],
    retriever: Retriever,
    k: int = 10,
    pipeline: QAPipeline | None = None,
    progress: Callable[[Iterable], Iterable] = lambda it: it,
    followup: FollowupMode = "context",
) -> EvalRun:
    """Retrieve (and, with a pipeline, answer) every question and score it."""
    run = EvalRun()
    for question in progress(questions):
        asked, passages = _retrieve(question, retriever, max(k, CONTEXT_PASSAGES), followup)
        scores = score_retrieval(question, [p.chunk.text for p in passages], k) if question.answerable else {}
        run.retrieved.append({"id": question.id, "retrieved": [_passage_row(p) for p in passages]})
        if pipeline is not None:
            # As served (QAPipeline.steps): passages found in the place an earlier answer named are answered
            # from, and the fitted decline is not applied to follow-ups.
            answer = pipeline.answer(asked.question, passages, placed=bool(asked.place_of), followup=asked.followup)
            scores |= score_answer(question, answer)
            run.answers.append({"id": question.id, **answer.to_json()})
        run.rows.append((question, scores))
    return run


def _retrieve(question: GoldenQuestion, retriever: Retriever, k: int, followup: FollowupMode) -> tuple[Contextualised, list[ScoredChunk]]:
    """The question as read and its passages; a question without history is read alone in every mode."""
    if followup == "prefix" and question.history:
        asked = " ".join([t.content for t in question.history if t.role == "user"] + [question.question])
        return Contextualised(asked, asked, followup=True), retriever.retrieve(asked, k=k)
    history = [Turn(t.role, t.content) for t in question.history] if followup == "context" else []
    return retrieve_in_context(retriever, question.question, history, k)


def write_run(run: EvalRun, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(run.summary(), indent=2) + "\n", encoding="utf-8")
    for name, rows in (("retrieved.jsonl", run.retrieved), ("answers.jsonl", run.answers)):
        with (out_dir / name).open("w", encoding="utf-8") as f:
            f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def _passage_row(p: ScoredChunk) -> dict:
    c = p.chunk
    return {"text": c.text, "doc": c.doc, "chunk_id": c.chunk_id, "score": p.score, "section": c.section}


def mean_scores(rows: Iterable[dict[str, float]]) -> dict[str, float]:
    values: dict[str, list[float]] = defaultdict(list)
    for scores in rows:
        for name, value in scores.items():
            values[name].append(value)
    return {name: round(mean(v), 4) for name, v in values.items()}
