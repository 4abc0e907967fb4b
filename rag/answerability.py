"""Whether retrieved passages can answer a question at all.

Two checks, each cheap and explainable:
- evidence strength: the best passage's dense similarity to the question must
  reach a threshold calibrated on labelled unanswerable questions;
- expected answer type: a question that asks for a quantity ("how much", "what
  is the fee", "when does") needs a number in the top passages. Embedding
  similarity cannot see this: "What is the exam fee for the AWS certification?"
  sits close to the passage that names the certification but gives no fee.
"""

from __future__ import annotations

import re

from rag.types import ScoredChunk

QUANTITY_PASSAGES = 3

_ASKS_QUANTITY = re.compile(
    r"\b(?:how (?:much|many|large|big|long|often)|cost|costs|price|prices|pricing|fee|fees|salary|salaries"
    r"|rate|rates|what score|when (?:do|does|did|will|is|are))\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"(?<![\w.-])[$€£]?\d[\d,.]*")
_YEAR = re.compile(r"(?:19|20)\d\d")
_NAME_BEFORE = re.compile(r"[A-Z][A-Za-z]*\s$")


def asks_for_quantity(question: str) -> bool:
    return bool(_ASKS_QUANTITY.search(question))


def has_quantity(text: str) -> bool:
    """A number that is not a year or part of a name ("GPT-4", "Claude 3.5", "Llama 3")."""
    return any(
        not _YEAR.fullmatch(m.group(0).rstrip(".,")) and not _NAME_BEFORE.search(text[max(0, m.start() - 20) : m.start()])
        for m in _NUMBER.finditer(text)
    )


def evidence_strength(passages: list[ScoredChunk]) -> float:
    """How well the best passage matches the question (max dense cosine)."""
    return max((p.dense for p in passages if p.dense is not None), default=0.0)


def is_answerable(question: str, passages: list[ScoredChunk], min_strength: float) -> bool:
    if evidence_strength(passages) < min_strength:
        return False
    if asks_for_quantity(question):
        return any(has_quantity(p.chunk.text) for p in passages[:QUANTITY_PASSAGES])
    return True
