"""The edition check on generated sentences: what a sentence says an edition names, that edition's
cited text must name.

A generated sentence (one the answer writes rather than quotes, such as a comparison
of two editions) carries the names it attributes to each edition. It passes when each
of those names is in the sentence and, word for word (case, punctuation, stop-words and
word endings aside: "Feature Stores" is in "a Feature Store"), in the text of a passage
the sentence cites that belongs to that edition. A sentence
that fails is dropped from the answer.

An LLM's sentences get the same check (`holds_for_editions`): a sentence that says what
an edition says ("Only the 2026 guide adds Weights & Biases [2]", "Both guides name
MLflow [1][3]") must find each name it mentions in the cited text of each edition it
speaks of; the names are read off the sentence (item terms, enumerations, acronyms and
capitalised phrases), since nothing else attributes them.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from rag.answer.extractive.names import named_terms
from rag.core.text import terms
from rag.core.types import Citation
from rag.query.editions import edition_references, spans_editions

_MARKER = re.compile(r"\[(\d+)\]")
# A run of capitalised words ("Weights & Biases", "Comet ML") not at the start of the sentence.
_CAPITALISED = re.compile(r"(?<=[\s(\"“])[A-Z][\w.+#-]*(?:\s+(?:&\s+)?[A-Z][\w.+#-]*)*")


@dataclass(frozen=True)
class Statement:
    """A generated sentence with its [n] markers, and the names it attributes to each edition."""

    text: str
    names: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class Checked:
    """The statements that passed, and those that failed (dropped)."""

    kept: tuple[Statement, ...]
    failed: tuple[Statement, ...]


def check(statements: Sequence[Statement], citations: Sequence[Citation]) -> Checked:
    """Split `statements` into those whose every attributed name is in its edition's cited text
    and those that are not."""
    by_number = {c.n: c for c in citations}
    kept: list[Statement] = []
    failed: list[Statement] = []
    for s in statements:
        (kept if supported(s, by_number) else failed).append(s)
    return Checked(tuple(kept), tuple(failed))


def supported(statement: Statement, citations: Mapping[int, Citation]) -> bool:
    """Every name the statement attributes to an edition is in the statement and in the text of
    a passage of that edition that the statement cites."""
    cited = [citations[int(n)] for n in _MARKER.findall(statement.text) if int(n) in citations]
    sentence = _normal(_MARKER.sub(" ", statement.text))
    for edition, names in statement.names.items():
        text = " ".join(_normal(c.text) for c in cited if c.edition == edition)
        if not all(_contains(sentence, name) and _contains(text, name) for name in names):
            return False
    return True


def mentions(text: str, name: str) -> bool:
    """Whether `text` names `name`: its content words, in order, as whole words (case,
    punctuation, stop-words and word endings aside)."""
    return _contains(_normal(text), name)


def _contains(normal_text: str, name: str) -> bool:
    words = _normal(name)
    return bool(words) and f" {words} " in f" {normal_text} "


@lru_cache(maxsize=1024)
def _normal(text: str) -> str:
    return " ".join(terms([text])[0])


def holds_for_editions(sentence: str, cited: Sequence[tuple[str, str | None]], editions: Collection[str]) -> bool:
    """Whether a written sentence's names are in the cited text of every edition it speaks of: those
    of `editions` (the ones the answer's passages are from) it names by year, or all of them when it
    speaks of several ("both guides"). `cited` are the (text, edition) of the passages it cites. A
    sentence that speaks of no edition, or names nothing, holds."""
    plain = _MARKER.sub(" ", sentence)
    spoken = set(editions) if spans_editions(plain) else set(edition_references(plain)) & set(editions)
    names = [n for n in named_terms(plain) + _CAPITALISED.findall(plain) if _normal(n) and not edition_references(n)]
    for edition in spoken:
        text = _normal(" ".join(t for t, e in cited if e == edition))
        if not all(_contains(text, name) for name in names):
            return False
    return True
