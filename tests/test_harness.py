"""The eval harness: per-question scores, summaries by type, and the contract's output files."""

import json

from conftest import ROOT

from eval.golden import GoldenQuestion, load_golden
from eval.harness import evaluate, score_answer, score_retrieval, write_run
from rag.core.types import Answer, Chunk, Citation, ScoredChunk


def _q(**kw) -> GoldenQuestion:
    base = {"id": "t1", "question": "Q?", "answerable": True, "answer_keywords": ["docker"], "type": "lookup",
            "evidence": [{"doc": "g.txt", "text": "Docker and Kubernetes are essential tools."}]}
    return GoldenQuestion.model_validate(base | kw)


def test_retrieval_scores_of_a_hit_at_rank_two():
    scores = score_retrieval(_q(), ["Something else entirely.", "Docker and Kubernetes are essential tools. More."])
    assert scores["mrr@10"] == 0.5 and scores["hit@1"] == 0.0 and scores["recall@3"] == 1.0
    assert scores["context_recall@2000"] == 1.0


def test_answer_scores_and_abstention_scores():
    chunk = Chunk("g:1", "g.txt", "S", "Docker and Kubernetes are essential tools.", 0, 42)
    answer = Answer("Use Docker [1].", False, [Citation.of(1, ScoredChunk(chunk, 1.0))])
    # "Use Docker" is under 12 normalised characters: no sentence for the shape metrics, 2 words.
    assert score_answer(_q(), answer) == {
        "false_abstain_rate": 0.0, "keyword_recall": 1.0, "citation_precision": 1.0, "answer_words": 2.0}
    longer = Answer("Docker and Kubernetes are essential tools. [1] Museums close on Mondays. [1]", False,
                    [Citation.of(1, ScoredChunk(chunk, 1.0))])
    scores = score_answer(_q(), longer)
    assert scores["answer_precision"] == 0.5 and scores["lead_hit"] == 1.0 and scores["answer_words"] == 10.0
    unanswerable = _q(answerable=False, evidence=[], answer_keywords=[], type="unanswerable")
    assert score_answer(unanswerable, Answer("The guides don't cover this.", True)) == {"abstain_accuracy": 1.0}


def test_run_writes_the_contract_files(service, tmp_path):
    questions = load_golden(ROOT / "eval" / "golden" / "guides.jsonl")[:3]
    run = evaluate(questions, service.retriever(), pipeline=service.engine.pipeline)
    write_run(run, tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert {"overall", "by_type"} <= set(metrics) and "context_recall@4000" in metrics["overall"]
    retrieved = [json.loads(line) for line in (tmp_path / "retrieved.jsonl").read_text().splitlines()]
    assert len(retrieved) == 3 and all(len(r["retrieved"]) >= 10 for r in retrieved)
    assert {"text", "doc", "chunk_id", "score"} <= set(retrieved[0]["retrieved"][0])
    answers = [json.loads(line) for line in (tmp_path / "answers.jsonl").read_text().splitlines()]
    assert {"id", "answer", "abstained", "citations"} <= set(answers[0])


def test_edition_check_failures_are_scored_per_answer_that_ran_the_check():
    question = GoldenQuestion(id="q", question="How do the editions differ on MLOps?", answerable=True,
                              evidence=[{"doc": "g.txt", "text": "MLflow tracks experiments."}],
                              answer_keywords=["mlflow"], type="cross-guide")
    checked = Answer(answer="Both name MLflow [1].", abstained=False, citations=[], generator="extractive",
                     checked_sentences=4, failed_sentences=1)
    assert score_answer(question, checked)["edition_check_fail_rate"] == 0.25
    unchecked = Answer(answer="MLflow [1].", abstained=False, citations=[], generator="extractive")
    assert "edition_check_fail_rate" not in score_answer(question, unchecked)
