"""Regression gate: the dev-set scores must not drop more than the tolerance below those
pinned in eval/expected.json (re-pin deliberately when they improve): retrieval, and the
answers' keywords, citations, abstentions (false abstentions must not rise above it) and
shape: the share of answer sentences inside the evidence, the first sentence's hits, and the
answers' length in words (which must not grow by more than `word_tolerance`)."""

import json
from pathlib import Path

import pytest

from eval.golden import load_golden
from eval.harness import evaluate

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = json.loads((ROOT / "eval" / "expected.json").read_text())
GATED = ("context_recall@4000", "mrr@10")


@pytest.fixture(scope="module")
def dev_scores(service):
    questions = load_golden(ROOT / EXPECTED["golden"])
    return evaluate(questions, service.retriever(EXPECTED["mode"])).summary()["overall"]


@pytest.fixture(scope="module")
def dev_answer_scores(service):
    questions = load_golden(ROOT / EXPECTED["golden"])
    engine = service.engine
    return evaluate(questions, engine.retriever, pipeline=engine.pipeline).summary()["overall"]


@pytest.mark.parametrize("metric", GATED)
def test_dev_set_score_has_not_regressed(dev_scores, metric):
    floor = EXPECTED["overall"][metric] - EXPECTED["tolerance"]
    assert dev_scores[metric] >= floor, f"{metric} fell to {dev_scores[metric]:.3f} (pinned {EXPECTED['overall'][metric]:.3f})"


@pytest.mark.parametrize(
    "metric", ["keyword_recall", "citation_precision", "abstain_accuracy", "answer_precision", "lead_hit"]
)
def test_dev_set_answers_have_not_regressed(dev_answer_scores, metric):
    pinned = EXPECTED["answers"][metric]
    assert dev_answer_scores[metric] >= pinned - EXPECTED["tolerance"], f"{metric} fell to {dev_answer_scores[metric]:.3f} (pinned {pinned:.3f})"


def test_dev_set_false_abstentions_have_not_risen(dev_answer_scores):
    pinned = EXPECTED["answers"]["false_abstain_rate"]
    assert dev_answer_scores["false_abstain_rate"] <= pinned + EXPECTED["tolerance"]


def test_dev_set_answers_have_not_grown(dev_answer_scores):
    pinned = EXPECTED["answers"]["answer_words"]
    assert dev_answer_scores["answer_words"] <= pinned + EXPECTED["word_tolerance"], (
        f"answers grew to {dev_answer_scores['answer_words']:.1f} words (pinned {pinned:.1f})"
    )
