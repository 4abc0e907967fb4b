"""The README's sample answer is what the code answers now (eval/readme_examples.py)."""

from __future__ import annotations

from eval.readme_examples import README, sample_answer, with_sample
from rag.service import QAService


def test_the_readme_sample_answer_is_current(service: QAService) -> None:
    readme = README.read_text(encoding="utf-8")
    expected = with_sample(readme, sample_answer(service.engine.pipeline))
    assert readme == expected, "README.md is out of date: run python -m eval.readme_examples"
