"""Lexical retrieval with bm25s: English stemming and stop-words, saved as plain arrays."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import bm25s
import numpy as np
from pydantic import BaseModel, Field

from rag.core.text import terms

logging.getLogger("bm25s").setLevel(logging.WARNING)


class BM25Settings(BaseModel, frozen=True):
    """BM25 parameters; recorded in the index manifest."""

    k1: float = Field(default=1.2, gt=0)
    b: float = Field(default=0.75, ge=0, le=1)
    stemmer: str = "english"
    stopwords: str = "en"


# Endings that make a name into the adjective or people of it: Europe → European, Asia → Asian.
_DERIVED = ("an", "ean", "ian", "n", "ese", "ic", "ish", "i")


def variants(word: str) -> list[str]:
    """`word` and the words that name the same thing in another form: its derived adjectives
    and the base they come from ("europe" ↔ "european", "asia" ↔ "asian")."""
    found = [word]
    if len(word) >= 4:
        found += [word + ending for ending in _DERIVED]
        found += [word[: -len(ending)] for ending in _DERIVED if word.endswith(ending) and len(word) - len(ending) >= 4]
        found += [word[: -len(ending)] + "e" for ending in ("an", "ean") if word.endswith(ending)]
    return found


class BM25Index:
    """A bm25s index over passages, scoring every passage for a query."""

    def __init__(self, model: bm25s.BM25, settings: BM25Settings) -> None:
        self._model = model
        self.settings = settings

    @classmethod
    def build(cls, passages: list[str], settings: BM25Settings) -> BM25Index:
        model = bm25s.BM25(k1=settings.k1, b=settings.b)
        model.index(terms(passages, settings.stemmer, settings.stopwords), show_progress=False)
        return cls(model, settings)

    def save(self, folder: Path) -> None:
        self._model.save(str(folder))

    @classmethod
    def load(cls, folder: Path, settings: BM25Settings) -> BM25Index:
        """Memory-mapped: a query reads only its terms' postings, so a large index costs no memory to load."""
        return cls(bm25s.BM25.load(str(folder), mmap=True), settings)

    @property
    def size(self) -> int:
        return int(self._model.scores["num_docs"])

    def mentions(self, text: str) -> bool:
        """True when every term of `text` (stemmed, stop-words dropped) occurs in some passage,
        as itself or as a variant: "Europe" is mentioned by "European", "Wi-Fi" by "wifi"."""
        vocabulary = self._model.vocab_dict
        if all(t in vocabulary for t in terms([text], self.settings.stemmer, self.settings.stopwords)[0]):
            return True
        words = re.findall(r"[a-z0-9]+", text.lower())
        forms = [" ".join(variants(w)) for w in words] + ["".join(words)]
        known = [any(t in vocabulary for t in stems) for stems in terms(forms, self.settings.stemmer, self.settings.stopwords)]
        return all(known[: len(words)]) or known[-1]

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every passage for `query` (zeros when no query term is known)."""
        tokens = terms([query], self.settings.stemmer, self.settings.stopwords)[0]
        known = [t for t in tokens if t in self._model.vocab_dict]
        if not known:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._model.get_scores(known), dtype=np.float32)
