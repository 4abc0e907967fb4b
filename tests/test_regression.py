"""Regression gate: the dev-set retrieval scores must not drop more than the tolerance
below those pinned in eval/expected.json (re-pin deliberately when retrieval improves)."""

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


@pytest.mark.parametrize("metric", GATED)
def test_dev_set_score_has_not_regressed(dev_scores, metric):
    floor = EXPECTED["overall"][metric] - EXPECTED["tolerance"]
    assert dev_scores[metric] >= floor, f"{metric} fell to {dev_scores[metric]:.3f} (pinned {EXPECTED['overall'][metric]:.3f})"
