"""The edition check: a generated sentence's names must be in the cited text of the edition it
attributes them to — on hand-made sentences, and on every comparison answer of every golden set."""

from __future__ import annotations

from eval.golden import load_golden
from eval.suite import load_suite, service_for
from rag.answer.attribution import Statement, check, mentions
from rag.core.types import Citation, Turn
from rag.service import QAService

CITATIONS = [
    Citation(1, "old.txt", "Tools", "Quantization: fewer bits. Use a Feature Store.", "old:1", 1.0, 0, 40, "2024"),
    Citation(2, "new.txt", "Tools", "Model Pruning: fewer weights.", "new:1", 1.0, 0, 30, "2026"),
]


def test_names_must_be_in_the_cited_text_of_their_own_edition():
    good = Statement("Only the 2024 guide names Quantization [1].", {"2024": ("Quantization",)})
    wrong_edition = Statement("Only the 2026 guide names Quantization [1][2].", {"2026": ("Quantization",)})
    uncited = Statement("Only the 2024 guide names Quantization [2].", {"2024": ("Quantization",)})
    not_said = Statement("Both guides name it [1][2].", {"2024": ("Quantization",), "2026": ("Quantization",)})
    result = check([good, wrong_edition, uncited, not_said], CITATIONS)
    assert result.kept == (good,)
    assert result.failed == (wrong_edition, uncited, not_said)


def test_word_endings_case_and_punctuation_aside():
    assert mentions("Use a Feature Store.", "feature stores")
    assert mentions("CI/CD for ML pipelines", "CI/CD for ML")
    assert not mentions("Model Pruning", "Quantization")
    assert not mentions("anything", "")


def test_every_comparison_answer_of_every_golden_set_passes(service: QAService, tmp_path_factory) -> None:
    """Sets on other guides are asked of their own index (corpus/ and those guides), as `rag eval --all` does."""
    work = tmp_path_factory.mktemp("suite")
    checked = failed = asked = 0
    for spec in load_suite():
        comparisons = [q for q in load_golden(spec.file) if q.type == "cross-guide"]
        if not comparisons:
            continue
        pipeline = service_for(service, spec, work).engine.pipeline
        for q in comparisons:
            history = [Turn(t.role, t.content) for t in q.history]
            answer = pipeline.ask(q.question, history=history).answer
            checked += answer.checked_sentences
            failed += answer.failed_sentences
            asked += 1
    assert asked >= 50
    assert checked > 0
    assert failed == 0
