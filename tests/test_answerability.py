"""The answerability checks: evidence strength and the expected answer type."""

import pytest

from rag.answerability import asks_for_quantity, evidence_strength, has_quantity, is_answerable
from rag.types import Chunk, ScoredChunk


def _passage(text: str, dense: float) -> ScoredChunk:
    return ScoredChunk(Chunk("g:0001", "g.txt", "S", text, 0, len(text)), score=1.0, dense=dense)


@pytest.mark.parametrize("question", ["How much does the course cost?", "What is the exam fee?",
                                      "How many GPUs were used?", "When does the act take effect?",
                                      "What hourly rate should I charge?"])
def test_quantity_questions_are_recognised(question):
    assert asks_for_quantity(question)


@pytest.mark.parametrize("question", ["Which MLOps tools should I learn?", "Is my better score real or a fluke?"])
def test_other_questions_are_not_quantity_questions(question):
    assert not asks_for_quantity(question)


@pytest.mark.parametrize(("text", "expected"), [
    ("80% of an engineer's time is spent here.", True),
    ("from 32-bit to 8-bit", True),
    ("It costs $300 a month.", True),
    ("models like GPT-4, Claude 3.5, or Llama 3", False),
    ("In 2026, AI is infrastructure.", False),
])
def test_quantities_exclude_years_and_model_names(text, expected):
    assert has_quantity(text) is expected


def test_weak_evidence_is_not_answerable():
    assert evidence_strength([_passage("a", 0.1), _passage("b", 0.3)]) == 0.3
    assert not is_answerable("Which tools?", [_passage("Docker and Kubernetes.", 0.1)], min_strength=0.2)
    assert is_answerable("Which tools?", [_passage("Docker and Kubernetes.", 0.5)], min_strength=0.2)


def test_quantity_question_needs_a_number_in_the_top_passages():
    no_number = [_passage("The AWS certification is a good first step.", 0.6)]
    with_number = [_passage("The exam costs 150 dollars.", 0.6)]
    assert not is_answerable("What is the exam fee?", no_number, min_strength=0.2)
    assert is_answerable("What is the exam fee?", with_number, min_strength=0.2)
