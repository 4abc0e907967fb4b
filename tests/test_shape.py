"""The fitted answer shape: a list is taken only when the model predicts it beats the one fact."""

import json

import numpy as np

from eval.tune_shape import ShapeCase, fit_shape
from rag.answer.extractive.model import DEFAULT_MODEL
from rag.answer.extractive.shape import SHAPE_FEATURES, ListOption, ShapeModel, choose

N = len(SHAPE_FEATURES)


def _model(weights: list[float], intercept: float) -> ShapeModel:
    return ShapeModel(np.array(weights), intercept, np.zeros(N), np.ones(N))


def test_the_list_with_the_largest_positive_gain_is_chosen():
    model = _model([1.0] + [0.0] * (N - 1), -0.5)
    weak, strong = ListOption([], np.array([0.2] + [0.0] * (N - 1))), ListOption([], np.array([0.9] + [0.0] * (N - 1)))
    assert choose([weak, strong], model) is strong
    assert choose([weak], model) is None  # predicted worse than the fact
    assert choose([strong], None) is None  # no fitted model: one fact


def test_fitting_learns_which_lists_beat_the_fact():
    rng = np.random.default_rng(0)
    shapes = []
    for i in range(60):
        good = i % 2 == 0
        row = rng.normal(size=N) * 0.1
        row[0] = 1.0 if good else 0.0
        shapes.append(ShapeCase(f"q{i}", row[None, :], np.array([2.5 if good else 0.0]), 1.0, True))
    model = fit_shape(shapes)
    assert all((model.gain(s.rows)[0] > 0) == (s.lists[0] > s.fact) for s in shapes)
    assert np.mean([s.value(model.gain(s.rows)) for s in shapes]) > np.mean([s.fact for s in shapes])


def test_the_shipped_model_carries_a_shape_model_on_these_features():
    shape = json.loads(DEFAULT_MODEL.read_text(encoding="utf-8"))["shape"]
    assert shape["features"] == list(SHAPE_FEATURES) and any(w != 0 for w in shape["weights"])
