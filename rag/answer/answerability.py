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
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_EN_PLUS

from rag.core.text import has_money, has_quantity, terms
from rag.core.types import ScoredChunk
from rag.query.reading import (
    ASKS_QUANTITY,
    FRAME_WORDS,
    SYMBOL_NAME,
    WORD,
    answer_type,
    asks_for_price,
    asks_for_quantity,
    names,
)

QUANTITY_PASSAGES = 3
#: Never an aspect of a question: its frame, and function words ("my", "from") that BM25's short stop list keeps.
NOT_ASPECT = FRAME_WORDS | frozenset(STOPWORDS_EN_PLUS)

#: Whether the guides mention a term anywhere (e.g. `BM25Index.mentions`).
Mentions = Callable[[str], bool]
#: Whether some word of these passages means nearly the same as a term (`rag.answer.neighbours.NearTerms`).
NearTerms = Callable[[str, list[ScoredChunk]], bool]



def gives_figure(question: str, passages: list[ScoredChunk]) -> bool:
    """Whether a sentence of the passages gives a figure about what the question asks: it has a
    quantity (an amount of money, for a price) and shares a term with the question ("How many
    projects …?" / "Build 3 projects")."""
    asked = set(terms([ASKS_QUANTITY.sub(" ", question)])[0])
    figure = has_money if asks_for_price(question) else has_quantity
    sentences = _sentences(passages)
    return any(figure(text) and asked & set(words) for text, words in zip(sentences, terms(sentences)))


def unknown_terms(question: str, mentions: Mentions, passages: Sequence[ScoredChunk] = ()) -> list[str]:
    """The question's names and answer type that the guides never mention. A name written with
    symbols ("c++") is looked for literally in the passages, since the vocabulary drops them."""
    kind = answer_type(question)
    terms = names(question) + ([kind] if kind else [])
    text = " ".join(p.chunk.text.lower() for p in passages)
    return list(dict.fromkeys(
        t for t in terms if (t.lower() not in text if SYMBOL_NAME.fullmatch(t) else not mentions(t))
    ))


def content_free(question: str, mentions: Mentions | None = None) -> bool:
    """True when the question holds no word to look up: only symbols or digits ("?!?!;;;"), or only
    words the guides never use ("lorem ipsum"). Stop words do not count: any text "mentions" them."""
    words = [w for w in WORD.findall(question) if len(w) >= 2 and w.lower() not in STOPWORDS_EN]
    if not words:
        return True
    return mentions is not None and not any(mentions(w) for w in words)


def evidence_strength(passages: list[ScoredChunk]) -> float:
    """How well the best passage matches the question (max dense cosine, of the question as encoded:
    the query map ranks evidence first, it does not say how close the guides come)."""
    return max((p.plain_dense if p.plain_dense is not None else p.dense for p in passages
                if p.dense is not None), default=0.0)


def abstain_reason(
    question: str,
    passages: list[ScoredChunk],
    min_strength: float,
    mentions: Mentions | None = None,
    near: NearTerms | None = None,
) -> str | None:
    """Why the passages cannot answer the question, in a sentence for the reader; None when they can.

    A name the vocabulary lacks still counts as mentioned when `near` finds a word of the top
    passages that means nearly the same ("European" and "EU"); a kind of thing asked for does not
    ("Which books …?" is not answered by a passage on courses)."""
    if content_free(question, mentions):
        return "The question has no words the guides could answer about."
    unknown = unknown_terms(question, mentions, passages) if mentions else []
    if unknown and near is not None:
        asked_names = set(names(question))
        unknown = [t for t in unknown if t not in asked_names or not near(t, passages[:QUANTITY_PASSAGES])]
    if unknown:
        return f"They never mention {', '.join(unknown)}."
    unmade = unmade_comparison(question, passages[:QUANTITY_PASSAGES])
    if unmade:
        return f"They never compare {' and '.join(unmade)}."
    if evidence_strength(passages) < min_strength:
        return "No passage is close enough to the question."
    if asks_for_quantity(question) and not gives_figure(question, passages[:QUANTITY_PASSAGES]):
        return "The closest passages give no figure for it."
    return None


def is_answerable(
    question: str, passages: list[ScoredChunk], min_strength: float, mentions: Mentions | None = None
) -> bool:
    return abstain_reason(question, passages, min_strength, mentions) is None


# "Is Kubeflow or Argo the better choice?", "Which is more accurate, Prophet or ARIMA?", "X vs Y".
_COMPARES = re.compile(
    r"\b(?:better|best|worse|worst|more \w+|less \w+|faster|slower|easier|harder|preferable|superior|versus|vs\.?)"
    r"(?=\W|$)",
    re.IGNORECASE,
)
_CHOICE = re.compile(r"\b(?:or|vs\.?|versus)\b", re.IGNORECASE)
# What a sentence that compares two things says: "X is better than Y", "preferred over", "unlike".
_COMPARISON_CUE = re.compile(
    r"\b(?:better|worse|more|less|than|over|instead|prefer\w*|faster|slower|superior|outperform\w*|unlike|vs\.?|versus|whereas)\b",
    re.IGNORECASE,
)


def unmade_comparison(question: str, passages: list[ScoredChunk]) -> list[str]:
    """The two names a question asks to choose between ("Prophet or ARIMA?"), when no sentence of
    the passages names both and compares; empty for any other question. The guides list tools
    side by side far more often than they rank them, and a list is no answer to "which is better"."""
    options = names(question)
    if len(options) < 2 or not (_COMPARES.search(question) and _CHOICE.search(question)):
        return []
    first, second = options[0].lower(), options[1].lower()
    for sentence in _sentences(passages):
        text = sentence.lower()
        if first in text and second in text and _COMPARISON_CUE.search(text):
            return []
    return options[:2]


@dataclass(frozen=True)
class AspectGap:
    """What a question asks about a thing the passages name: the aspect words ("version",
    "install" in "Which version of PyTorch should I install?") and those that no sentence
    naming the thing contains. A detail the guides do not give leaves its words uncovered."""

    named: tuple[str, ...]
    aspect: tuple[str, ...]
    missing: tuple[str, ...]

    @property
    def coverage(self) -> float:
        return 1.0 - len(self.missing) / len(self.aspect) if self.aspect else 1.0


def aspect_gap(question: str, passages: Sequence[ScoredChunk]) -> AspectGap:
    """The question's aspect words (content words, neither names nor frame words) and those missing
    from the passages' sentences that name one of its names (from all the passages' sentences
    when none names one)."""
    asked = names(question)
    name_stems = set(terms([" ".join(asked)])[0]) if asked else set()
    words = [w for w in WORD.findall(question) if w.lower() not in NOT_ASPECT]
    stems = terms(words) if words else []
    aspect = {s[0]: w for w, s in zip(words, stems) if s and s[0] not in name_stems}
    sentences = _sentences(list(passages))
    bare = [n.removesuffix("'s").removesuffix("’s") for n in asked]  # "Weaviate's" names Weaviate
    lowered = [n.lower() for n in bare]
    naming = [s for s in sentences if any(n and n in s.lower() for n in lowered)]
    present = set(terms([" ".join(naming or sentences)])[0]) if sentences else set()
    named = tuple(dict.fromkeys(n for n, low in zip(bare, lowered) if any(low in s.lower() for s in naming)))
    return AspectGap(named, tuple(aspect.values()), tuple(w for stem, w in aspect.items() if stem not in present))


def _sentences(passages: list[ScoredChunk]) -> list[str]:
    """The passages' sentences (a passage with no sentence boundaries is one sentence)."""
    return [text for p in passages for text in ([q.text for q in p.chunk.quotes()] or [p.chunk.text])]
