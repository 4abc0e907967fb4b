"""The decline model's fit: the threshold keeps false abstention within budget, out of fold too."""

from __future__ import annotations

import numpy as np

from eval.tune_abstention import Labelled, cross_validate, fit
from rag.answer.abstention import AbstentionModel


def _data(seed: int = 0, n: int = 200) -> Labelled:
    rng = np.random.default_rng(seed)
    unanswerable = rng.random(n) < 0.25
    strength = np.where(unanswerable, rng.normal(0.35, 0.1, n), rng.normal(0.55, 0.1, n))
    named = (rng.random(n) < 0.6).astype(float)
    gap = named * np.where(unanswerable, rng.uniform(0.5, 1.0, n), rng.uniform(0.0, 0.6, n))
    return Labelled(np.column_stack([strength, named, gap]), unanswerable, np.zeros(n, dtype=bool))


def test_fitted_threshold_keeps_false_abstention_within_budget():
    data = _data()
    model = fit(data, budget=0.05)
    declined = np.array([model.probability(r) >= model.threshold for r in data.features])
    assert declined[~data.unanswerable].mean() <= 0.05
    assert declined[data.unanswerable].mean() > 0.3  # and it does decline: the signals separate
    assert model.weights[0] < 0 < model.weights[2]  # weak evidence and a wide gap both mean "decline"


def test_cross_validation_reports_rules_and_model_and_the_model_adds_declines():
    report = cross_validate(_data(1), folds=4, seeds=1)
    assert report["rules"] == {"abstain_accuracy": 0.0, "false_abstain_rate": 0.0}
    assert report["rules + model"]["abstain_accuracy"] > 0.3
    assert report["rules + model"]["false_abstain_rate"] <= 0.1


def test_model_round_trips_through_json():
    model = AbstentionModel(np.array([-2.0, 0.1, 2.0]), 0.5, 0.7)
    again = AbstentionModel.from_json(model.to_json())
    assert again.threshold == 0.7 and np.allclose(again.weights, model.weights)
