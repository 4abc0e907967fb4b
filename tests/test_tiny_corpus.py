"""The answer path on a tiny guide about another topic, with a stand-in embedder: no model, no
rule tied to the ML guides. Structure, editions, declines and follow-ups must work on any guide."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rag.answer.abstention import FEATURES, MODEL_FILE, AbstentionModel
from rag.core.types import Turn
from rag.service import QAService
from rag.settings import Settings
from tests.fakes import HashingEmbedder

TINY = Path(__file__).resolve().parent / "data" / "tiny_corpus"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> QAService:
    # No strength threshold either: it is calibrated on the real model's cosines.
    settings = Settings(corpus_dir=TINY, index_dir=tmp_path_factory.mktemp("tiny") / "index", abstain_threshold=0.0)
    service = QAService(settings, HashingEmbedder())  # type: ignore[arg-type]
    service.build()
    # The shipped decline model is fitted on the real model's cosines; an index folder carries its own.
    never = AbstentionModel(np.zeros(len(FEATURES)), 0.0, threshold=1.0)
    (settings.index_dir / MODEL_FILE).write_text(json.dumps(never.to_json()), encoding="utf-8")
    return service


def ask(service: QAService, question: str, history: list[Turn] | None = None):
    return service.engine.pipeline.ask(question, k=5, history=history or [])


def test_markdown_headings_become_sections_and_editions_come_from_the_catalogue(tiny: QAService):
    chunks = tiny.engine.index.chunks
    assert {c.edition for c in chunks} == {"2024", "2025"}
    assert any(c.section.endswith("Knife work") for c in chunks)
    assert not any(c.section.endswith("Knife") for c in chunks)


def test_a_list_question_gets_every_item_of_the_list(tiny: QAService):
    result = ask(tiny, "Which cuts does the 2024 guide list?")
    answer = result.answer.answer
    assert not result.answer.abstained
    for cut in ("Julienne", "Brunoise", "Chiffonade"):
        assert cut in answer
    assert "Tourne" not in answer  # the 2025 edition's item is not the 2024 guide's


def test_the_one_item_labelled_with_the_kind_asked_for_answers_without_its_list(tiny: QAService):
    answer = ask(tiny, "Which sanitisers does the 2025 guide mention?").answer.answer
    assert "bleach" in answer
    assert "Glove" not in answer and "Hand Washing" not in answer


def test_a_name_the_guides_never_use_is_declined_with_the_name(tiny: QAService):
    result = ask(tiny, "Is a Thermomix worth buying for a line cook?")
    assert result.answer.abstained and "Thermomix" in result.answer.answer


def test_a_followup_that_switches_topic_answers_the_new_topic(tiny: QAService):
    history = [Turn("user", "What does the 2025 guide say about fermentation?"), Turn("assistant", "Kimchi … [1]")]
    result = ask(tiny, "And about equipment?", history)
    assert not result.answer.abstained
    text = result.answer.answer.lower()
    assert "induction" in text or "vacuum" in text
    assert "kimchi" not in text


def test_citations_point_into_the_guide_they_quote(tiny: QAService):
    result = ask(tiny, "How often do you keep your knives sharp?")
    assert not result.answer.abstained and "whetstone" in result.answer.answer
    raw = (TINY / "kitchen-2024.md").read_text(encoding="utf-8")
    for citation in result.answer.citations:
        for quote in citation.quotes:
            assert raw[quote.start : quote.end] == quote.text


def test_the_short_items_of_a_list_of_names_are_quotable_as_items(tiny: QAService):
    from rag.answer.extractive.selection import quotable

    passages = tiny.engine.retriever.retrieve("Which dry goods should a pantry keep in stock?", k=5)
    with_outline = {q.text.strip("- ") for _, _, q in quotable(passages, tiny.engine.index.outline)}
    without = {q.text.strip("- ") for _, _, q in quotable(passages)}
    assert {"Rice", "Lentils", "Rolled oats"} <= with_outline
    assert not {"Rice", "Lentils", "Rolled oats"} & without  # bare fragments are not quoted
