"""`rag tune` refits models whose features changed: it serves without them, where serving refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.core.errors import IndexIncompatibleError
from rag.service import QAService
from rag.settings import Settings
from tests.conftest import CORPUS


def _stale_models(index: Path) -> None:
    """Fitted models of an older feature set, in the index folder (read before the shipped ones)."""
    (index / "selection.json").write_text(json.dumps({"features": ["old"], "weights": [1.0]}), encoding="utf-8")
    (index / "abstention.json").write_text(json.dumps({"features": ["old"], "weights": [1.0]}), encoding="utf-8")


def test_serving_refuses_models_fitted_on_other_features_and_tuning_does_without_them(index_copy: Path,
                                                                                      embedder) -> None:
    _stale_models(index_copy)
    settings = Settings(corpus_dir=CORPUS, index_dir=index_copy)
    with pytest.raises(IndexIncompatibleError, match="rag tune"):
        QAService(settings, embedder).engine  # noqa: B018 - loading is the point
    untrained = QAService(settings, embedder, fitted=False)
    engine = untrained.engine
    assert engine.pipeline.abstention is None and not engine.pipeline.generator.model.weights.any()
    passages = engine.retriever.retrieve("Which MLOps tools should I learn?", k=10)
    assert engine.pipeline.answer("Which MLOps tools should I learn?", passages).citations
