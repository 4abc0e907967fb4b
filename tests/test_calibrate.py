"""Threshold calibration picks the best abstention within the false-abstain budget."""

from eval.calibrate import choose_threshold
from rag.core.types import Chunk, ScoredChunk


def _case(question: str, dense: float):
    return question, [ScoredChunk(Chunk("g:1", "g.txt", "S", "Docker is a tool.", 0, 17), 1.0, dense=dense)]


def test_threshold_separates_weak_from_strong_evidence_within_budget():
    answerable = [_case("Which tools?", d) for d in (0.5, 0.6, 0.7, 0.8)]
    unanswerable = [_case("Which books?", d) for d in (0.2, 0.3, 0.55)]
    threshold, accuracy, false_abstain = choose_threshold(answerable, unanswerable, max_false_abstain=0.0)
    assert threshold == 0.5 and accuracy == 2 / 3 and false_abstain == 0.0


def test_quantity_questions_abstain_without_numbers_at_any_threshold():
    answerable = [_case("Which tools?", 0.6)]
    unanswerable = [_case("How much does it cost?", 0.9)]
    assert choose_threshold(answerable, unanswerable, max_false_abstain=0.0)[1] == 1.0


def test_questions_about_unmentioned_names_abstain_at_any_threshold():
    answerable = [_case("Which tools?", 0.6)]
    unanswerable = [_case("Is Rust good?", 0.9)]
    assert choose_threshold(answerable, unanswerable, max_false_abstain=0.0)[1] == 0.0
    assert choose_threshold(answerable, unanswerable, 0.0, mentions=lambda term: term != "Rust")[1] == 1.0
