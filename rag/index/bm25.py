"""Lexical retrieval: BM25 (Lucene's variant) over stemmed, stop-worded terms, with IDF applied at query time.

The index keeps term frequencies, not scores: postings of (row, term count) per term,
and each row's length. IDF and the length norm, which depend on the whole corpus,
are computed when a query is scored, so an update that changes one guide replaces
that guide's postings (`updated`) instead of re-scoring every passage (issue 18: at
100k passages re-making bm25s's precomputed scores was a third of a one-file update).
The scores are bm25s's "lucene" ones: idf = ln(1 + (N - df + 0.5) / (df + 0.5)),
tf / (tf + k1 · (1 - b + b · len / avg len)). The files are plain arrays and JSON.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from rag.core.text import terms


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


_VOCABULARY = "vocab.json"
_PARAMS = "params.json"
_ARRAYS = ("indptr", "rows", "counts", "lengths")
_BLOCK = 1 << 20  # postings read at a time when looking for those of rows that are gone


class BM25Index:
    """BM25 over passages: `indptr[t]:indptr[t + 1]` of `rows`/`counts` are term t's postings
    (the passage rows it occurs in, and how often), `lengths` each passage's term count."""

    def __init__(self, vocabulary: list[str], arrays: dict[str, np.ndarray], settings: BM25Settings) -> None:
        self.settings = settings
        self._vocabulary = vocabulary
        self._ids = {term: i for i, term in enumerate(vocabulary)}
        self._indptr, self._rows, self._counts, self._lengths = (arrays[name] for name in _ARRAYS)
        average = float(self._lengths.sum()) / max(len(self._lengths), 1)
        # k1 · (1 - b + b · len / avg len), per row: the length norm of every passage, made once per load.
        self._norm = (settings.k1 * (1 - settings.b + settings.b * self._lengths / max(average, 1e-9))).astype(np.float32)

    @classmethod
    def build(cls, passages: list[str], settings: BM25Settings) -> BM25Index:
        return cls.empty(settings).updated(np.zeros(0, dtype=np.int64), len(passages), np.arange(len(passages)), passages)

    @classmethod
    def empty(cls, settings: BM25Settings) -> BM25Index:
        arrays: dict[str, np.ndarray] = {"indptr": np.zeros(1, dtype=np.int64), "rows": np.zeros(0, dtype=np.int32),
                  "counts": np.zeros(0, dtype=np.uint16), "lengths": np.zeros(0, dtype=np.int32)}
        return cls([], arrays, settings)

    def updated(self, new_rows: np.ndarray, size: int, added_rows: np.ndarray, added: list[str]) -> BM25Index:
        """The index of `size` passages: old row r becomes `new_rows[r]` (-1: gone), and
        `added[i]` is the passage at row `added_rows[i]`. The old postings are spliced, not
        re-made: those of gone rows dropped, the added passages' inserted after their terms'
        old ones, the rest copied piece by piece between those places (`_splice`). An update
        drops and adds a few thousand of a million passages' tens of millions of postings, so
        its work is a pass over the old rows to find the gone ones, and the copy."""
        vocabulary = list(self._vocabulary)
        ids = dict(self._ids)
        tokens = terms(added, self.settings.stemmer, self.settings.stopwords) if added else []
        flat = np.fromiter((ids.setdefault(t, len(ids)) for doc in tokens for t in doc), dtype=np.int64)
        vocabulary += sorted(ids, key=ids.__getitem__)[len(vocabulary):]
        lengths = np.zeros(size, dtype=np.int32)
        kept = new_rows >= 0
        lengths[new_rows[kept]] = self._lengths[kept]
        lengths[added_rows] = [len(doc) for doc in tokens]
        pairs, added_counts = np.unique(flat * size + np.repeat(added_rows, [len(doc) for doc in tokens]),
                                        return_counts=True)
        added_terms = pairs // max(size, 1)
        renumber = new_rows.astype(np.int32)
        gone = self._postings_of_gone_rows(renumber)
        kept_per_term = np.zeros(len(vocabulary), dtype=np.int64)
        kept_per_term[: len(self._vocabulary)] = np.diff(self._indptr)
        kept_per_term -= np.bincount(np.searchsorted(self._indptr, gone, side="right") - 1, minlength=len(vocabulary))
        kept_ends = np.cumsum(kept_per_term)  # where each term's kept postings end, in the kept ones
        at = kept_ends[added_terms] + np.arange(len(pairs))  # a term's added postings go after its kept ones
        indptr = np.concatenate([[0], kept_ends + np.cumsum(np.bincount(added_terms, minlength=len(vocabulary)))])
        arrays = {"indptr": indptr.astype(np.int64),
                  "rows": _splice(self._rows, gone, at, (pairs % max(size, 1)).astype(np.int32), renumber),
                  "counts": _splice(self._counts, gone, at, added_counts.astype(np.uint16)),
                  "lengths": lengths}
        return BM25Index(vocabulary, arrays, self.settings)

    def _postings_of_gone_rows(self, renumber: np.ndarray) -> np.ndarray:
        """Where the postings of rows that are gone (`renumber[row]` < 0) are, ascending; the rows are
        read a block at a time (they may be memory-mapped, and tens of millions)."""
        found = [np.flatnonzero(renumber[self._rows[start : start + _BLOCK]] < 0) + start
                 for start in range(0, len(self._rows), _BLOCK)]
        return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        arrays = (self._indptr, self._rows, self._counts, self._lengths)
        for name, array in zip(_ARRAYS, arrays, strict=True):
            np.save(folder / f"{name}.npy", array)
        (folder / _VOCABULARY).write_text(json.dumps(self._vocabulary, ensure_ascii=False), encoding="utf-8")
        params = {**self.settings.model_dump(), "method": "lucene", "documents": self.size}
        (folder / _PARAMS).write_text(json.dumps(params, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, settings: BM25Settings) -> BM25Index:
        """Memory-mapped: a query reads only its terms' postings, so a large index costs no memory to load
        (but the per-row length norm, 4 bytes a passage)."""
        vocabulary = json.loads((folder / _VOCABULARY).read_text(encoding="utf-8"))
        arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in _ARRAYS}
        return cls(vocabulary, arrays, settings)

    @property
    def size(self) -> int:
        return len(self._lengths)

    def _known(self, term: str) -> bool:
        """In some passage (a term whose passages were all removed stays in the vocabulary, with no postings)."""
        i = self._ids.get(term)
        return i is not None and self._indptr[i + 1] > self._indptr[i]

    def mentions(self, text: str) -> bool:
        """True when every term of `text` (stemmed, stop-words dropped) occurs in some passage,
        as itself or as a variant: "Europe" is mentioned by "European", "Wi-Fi" by "wifi"."""
        if all(self._known(t) for t in terms([text], self.settings.stemmer, self.settings.stopwords)[0]):
            return True
        words = re.findall(r"[a-z0-9]+", text.lower())
        forms = [" ".join(variants(w)) for w in words] + ["".join(words)]
        known = [any(self._known(t) for t in stems) for stems in terms(forms, self.settings.stemmer, self.settings.stopwords)]
        return all(known[: len(words)]) or known[-1]

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every passage for `query` (zeros when no query term is known); a term
        repeated in the query counts as often as it occurs."""
        out = np.zeros(self.size, dtype=np.float32)
        for term in terms([query], self.settings.stemmer, self.settings.stopwords)[0]:
            if self._known(term):
                i = self._ids[term]
                start, end = int(self._indptr[i]), int(self._indptr[i + 1])
                rows, counts = self._rows[start:end], self._counts[start:end].astype(np.float32)
                idf = np.float32(np.log(1 + (self.size - (end - start) + 0.5) / (end - start + 0.5)))
                out[rows] += idf * counts / (counts + self._norm[rows])
        return out


def _splice(old: np.ndarray, dropped: np.ndarray, at: np.ndarray, inserted: np.ndarray,
            renumber: np.ndarray | None = None) -> np.ndarray:
    """`old` without its elements at the indices `dropped`, with `inserted[i]` at index `at[i]` of the
    result (both ascending), and the elements kept mapped through `renumber` when given. The kept
    elements are copied in runs, one per place where something is dropped or inserted: those are
    few and `old` is long, so no mask or index array of its length is made."""
    size = len(old) - len(dropped)
    out = np.empty(size + len(inserted), dtype=old.dtype)
    out[at] = inserted
    skips_in = dropped - np.arange(len(dropped))  # the kept elements before each dropped one
    skips_out = at - np.arange(len(at))  # the kept elements before each inserted one
    cuts = np.unique(np.concatenate([[0, size], skips_in, skips_out]))
    sources = cuts + np.searchsorted(skips_in, cuts, side="right")
    targets = cuts + np.searchsorted(skips_out, cuts, side="right")
    for start, stop, source, target in zip(cuts[:-1].tolist(), cuts[1:].tolist(), sources.tolist(), targets.tolist()):
        run = old[source : source + stop - start]
        out[target : target + stop - start] = run if renumber is None else renumber[run]
    return out
