"""Whether retrieved passages can answer a question at all.

Three checks, each cheap and explainable:
- vocabulary: a question about something the guides never name ("Is Rust good
  for ML?", "How does LoRA work?") or asking for a kind of thing they never
  mention ("Which books should I read?", "What visa do I need?") cannot be
  answered from them, however close the passages about neighbouring things
  (Python, fine-tuning, learning resources) look;
- evidence strength: the best passage's dense similarity to the question must
  reach a threshold calibrated on labelled unanswerable questions;
- expected answer type: a question that asks for a quantity ("how much", "what
  is the fee", "when does") needs a number in the top passages. Embedding
  similarity cannot see this: "What is the exam fee for the AWS certification?"
  sits close to the passage that names the certification but gives no fee.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bm25s.stopwords import STOPWORDS_EN

from rag.types import ScoredChunk

QUANTITY_PASSAGES = 3

#: Whether the guides mention a term anywhere (e.g. `BM25Index.mentions`).
Mentions = Callable[[str], bool]

_ASKS_QUANTITY = re.compile(
    # "how much weight/emphasis ..." asks how important, not for a figure
    r"\b(?:how (?:much(?! (?:weight|emphasis|importance|attention|focus|priority))|many|large|big|long|often)"
    r"|cost|costs|price|prices|pricing|fee|fees|salary|salaries|cheaper|cheapest|(?:more|less|most|least) expensive"
    r"|rate|rates|what (?:score|percentage|percent|proportion|fraction|share)"
    r"|when (?:do|does|did|will|is|are|was|were))\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"(?<![\w.-])[$€£]?\d[\d,.]*")
_YEAR = re.compile(r"(?:19|20)\d\d")
_NAME_BEFORE = re.compile(r"[A-Z][A-Za-z]*\s$")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-.'’][A-Za-z0-9]+)*")
_SENTENCE_START = re.compile(r"(?:^|[.?!:;\"“(]\s*)$")
_PRONOUN = re.compile(r"I(?:['’](?:m|ve|d|ll))?")
_AUX = r"(?:do|does|did|should|can|could|would|will|is|are|was|were|has|have|had|must|might|may)\b"
# "Which [vector] databases should ...", "At which stages can ...": the noun before the verb.
_ANSWER_TYPE = re.compile(
    rf"^\s*(?:[a-z]+\s+)?(?:which|what)\s+(?:(?!{_AUX})[\w'-]+\s+){{0,4}}?((?!{_AUX})[\w-]+)\s+{_AUX}", re.IGNORECASE
)


def asks_for_quantity(question: str) -> bool:
    return bool(_ASKS_QUANTITY.search(question))


def has_quantity(text: str) -> bool:
    """A number that is not a year or part of a name ("GPT-4", "Claude 3.5", "Llama 3")."""
    return any(
        not _YEAR.fullmatch(m.group(0).rstrip(".,")) and not _NAME_BEFORE.search(text[max(0, m.start() - 20) : m.start()])
        for m in _NUMBER.finditer(text)
    )


def names(question: str) -> list[str]:
    """Words written as names: capitalised mid-sentence ("Rust") or with inner capitals
    ("LoRA", "CUDA", "PhD") anywhere; not the pronoun "I". None in a question written in
    Title Case or capitals, where capitals say nothing."""
    words = list(_WORD.finditer(question))
    long_words = [m.group(0) for m in words if len(m.group(0)) >= 4]
    if long_words and all(w[0].isupper() for w in long_words):
        return []
    found = []
    for m in words:
        word = m.group(0)
        inner_capitals = any(c.isupper() for c in word[1:])
        mid_sentence = word[0].isupper() and not _SENTENCE_START.search(question[: m.start()])
        if (inner_capitals or mid_sentence) and not _PRONOUN.fullmatch(word):
            found.append(word)
    return found


def answer_type(question: str) -> str | None:
    """The kind of thing a which/what question asks for: "books" in "Which books should I read?"."""
    match = _ANSWER_TYPE.search(question)
    return match.group(1) if match else None


def unknown_terms(question: str, mentions: Mentions) -> list[str]:
    """The question's names and answer type that the guides never mention."""
    kind = answer_type(question)
    terms = names(question) + ([kind] if kind else [])
    return list(dict.fromkeys(t for t in terms if not mentions(t)))


def content_free(question: str, mentions: Mentions | None = None) -> bool:
    """True when the question holds no word to look up: only symbols or digits ("?!?!;;;"), or only
    words the guides never use ("lorem ipsum"). Stop words do not count: any text "mentions" them."""
    words = [w for w in _WORD.findall(question) if len(w) >= 2 and w.lower() not in STOPWORDS_EN]
    if not words:
        return True
    return mentions is not None and not any(mentions(w) for w in words)


def evidence_strength(passages: list[ScoredChunk]) -> float:
    """How well the best passage matches the question (max dense cosine)."""
    return max((p.dense for p in passages if p.dense is not None), default=0.0)


def abstain_reason(
    question: str, passages: list[ScoredChunk], min_strength: float, mentions: Mentions | None = None
) -> str | None:
    """Why the passages cannot answer the question, in a sentence for the reader; None when they can."""
    if content_free(question, mentions):
        return "The question has no words the guides could answer about."
    unknown = unknown_terms(question, mentions) if mentions else []
    if unknown:
        return f"They never mention {', '.join(unknown)}."
    if evidence_strength(passages) < min_strength:
        return "No passage is close enough to the question."
    if asks_for_quantity(question) and not any(has_quantity(p.chunk.text) for p in passages[:QUANTITY_PASSAGES]):
        return "The closest passages give no figure for it."
    return None


def is_answerable(
    question: str, passages: list[ScoredChunk], min_strength: float, mentions: Mentions | None = None
) -> bool:
    return abstain_reason(question, passages, min_strength, mentions) is None
