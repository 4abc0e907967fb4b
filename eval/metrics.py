"""Retrieval and answer metrics for guides-qa.

Relevance rule
--------------
Texts are normalised by :func:`normalize`: markdown link targets are dropped
(``](...)`` becomes ``]``), the text is lower-cased, and only runs of
``[a-z0-9]`` are kept, joined by single spaces.

A retrieved passage *covers* an evidence span (:func:`covers`) when the
normalised span is a substring of the normalised passage, or when the longest
common contiguous run (longest common substring, in characters) of the two
normalised strings is at least 60% of the length of the normalised span.
An evidence span that normalises to the empty string is never covered.

Ranked metrics (answerable questions only) are defined over evidence spans,
not document ids: a span is "found" by the first passage that covers it.
They all raise ``ValueError("no evidence spans")`` when ``spans`` is empty,
because answerable questions always carry evidence.

To avoid recomputing the relevance rule for every metric, build the matrix
once with :func:`coverage` and pass it as the keyword-only ``cov`` argument;
normalisation and pairwise coverage are also memoised.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from difflib import SequenceMatcher
from functools import lru_cache

__all__ = [
    "CoverageMatrix",
    "normalize",
    "longest_common_run",
    "covers",
    "coverage",
    "context_recall_at_chars",
    "recall_at_k",
    "hit_at_k",
    "mrr_at_k",
    "ndcg_at_k",
    "keyword_recall",
    "citation_precision",
    "abstain_accuracy",
    "false_abstain_rate",
    "answer_sentences",
    "answer_precision",
    "lead_hit",
    "answer_words",
]

#: ``cov[i][j]`` is True when passage ``i`` (rank ``i + 1``) covers span ``j``.
CoverageMatrix = Sequence[Sequence[bool]]

_LINK_TARGET = re.compile(r"\]\([^)]*\)")
_TOKEN = re.compile(r"[a-z0-9]+")


# --------------------------------------------------------------------------
# Relevance rule
# --------------------------------------------------------------------------


@lru_cache(maxsize=16384)
def normalize(text: str) -> str:
    """Normalise ``text`` for matching.

    ``](target)`` -> ``]``, then lower-case, then keep only the runs of
    ``[a-z0-9]`` joined by single spaces, e.g.
    ``"See [Lisbon](/cities/lisbon)!"`` -> ``"see lisbon"``.
    """
    text = _LINK_TARGET.sub("]", text).lower()
    return " ".join(_TOKEN.findall(text))


def longest_common_run(a: str, b: str) -> int:
    """Length in characters of the longest common substring of ``a`` and ``b``.

    Reference implementation (``difflib.SequenceMatcher`` without autojunk);
    :func:`covers` uses an equivalent but faster threshold test.
    """
    if not a or not b:
        return 0
    return SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b)).size


def _min_run(n: int) -> int:
    """Smallest integer L with L >= 0.6 * n, i.e. ceil(3n / 5), in exact integer arithmetic."""
    return (3 * n + 4) // 5


@lru_cache(maxsize=65536)
def _covers_normalized(p: str, s: str) -> bool:
    """Relevance rule on already-normalised texts (exact, no approximation).

    covers iff ``s in p`` or some substring of ``s`` of length exactly
    L = ceil(0.6 * len(s)) occurs in ``p`` (a common run >= L contains one).
    To avoid testing every window, cut ``s`` into aligned blocks of length
    b = ceil(L / 2): every length-L window contains a whole aligned block
    (since L >= 2b - 1), so only windows around blocks found in ``p`` need
    checking.  All substring searches run in C (``str.__contains__``).
    """
    if not s:
        return False
    if s in p:
        return True
    n = len(s)
    need = _min_run(n)
    if need > len(p):
        return False
    block = (need + 1) // 2
    checked: set[int] = set()
    for start in range(0, n - block + 1, block):
        if s[start : start + block] not in p:
            continue
        # windows [i, i + need) that contain the block [start, start + block)
        for i in range(max(0, start + block - need), min(start, n - need) + 1):
            if i in checked:
                continue
            checked.add(i)
            if s[i : i + need] in p:
                return True
    return False


def covers(passage: str, span: str) -> bool:
    """True when ``passage`` covers the evidence ``span``.

    With P = normalize(passage), S = normalize(span):
    covers = S != "" and (S in P or LCS(P, S) >= 0.6 * len(S)),
    where LCS is the longest common contiguous run in characters.
    """
    return _covers_normalized(normalize(passage), normalize(span))


def coverage(passages: Sequence[str], spans: Sequence[str]) -> list[list[bool]]:
    """Coverage matrix: ``cov[i][j] = covers(passages[i], spans[j])`` (row per passage)."""
    norm_spans = [normalize(s) for s in spans]
    rows = []
    for passage in passages:
        p = normalize(passage)
        rows.append([_covers_normalized(p, s) for s in norm_spans])
    return rows


# --------------------------------------------------------------------------
# Retrieval metrics (answerable questions only)
# --------------------------------------------------------------------------


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")


def _matrix(
    passages: Sequence[str], spans: Sequence[str], cov: CoverageMatrix | None
) -> CoverageMatrix:
    """Return the coverage matrix, computing it unless a valid ``cov`` is given."""
    if not spans:
        raise ValueError("no evidence spans")
    if cov is None:
        return coverage(passages, spans)
    if len(cov) != len(passages) or any(len(row) != len(spans) for row in cov):
        raise ValueError("coverage matrix shape does not match passages x spans")
    return cov


def _covered_spans(cov: CoverageMatrix, n_spans: int, k: int) -> int:
    """Number of spans covered by at least one of the first ``k`` rows."""
    top = cov[:k]
    return sum(1 for j in range(n_spans) if any(row[j] for row in top))


def context_recall_at_chars(
    passages: Sequence[str],
    spans: Sequence[str],
    budget: int,
    *,
    cov: CoverageMatrix | None = None,
) -> float:
    """context_recall@C = |{spans covered within the first C characters}| / |spans|.

    Passages are taken in rank order, in raw characters, until ``budget``
    characters are used; the last one is cut to the remaining budget.
    Coverage is judged per passage (prefix): a span is never covered by text
    straddling two passages.  ``cov``, if given, is the full-passage coverage
    matrix; only the truncated passage is re-checked.
    """
    if budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}")
    cov = _matrix(passages, spans, cov)
    norm_spans = [normalize(s) for s in spans]
    covered = [False] * len(spans)
    remaining = budget
    for passage, row in zip(passages, cov):
        if remaining <= 0:
            break
        if len(passage) <= remaining:
            hits = row
            remaining -= len(passage)
        else:
            prefix = normalize(passage[:remaining])
            hits = [_covers_normalized(prefix, s) for s in norm_spans]
            remaining = 0
        covered = [c or h for c, h in zip(covered, hits)]
    return sum(covered) / len(spans)


def recall_at_k(
    passages: Sequence[str],
    spans: Sequence[str],
    k: int,
    *,
    cov: CoverageMatrix | None = None,
) -> float:
    """recall@k = |{spans covered by any of the top-k passages}| / |spans|."""
    _check_k(k)
    cov = _matrix(passages, spans, cov)
    return _covered_spans(cov, len(spans), k) / len(spans)


def hit_at_k(
    passages: Sequence[str],
    spans: Sequence[str],
    k: int,
    *,
    cov: CoverageMatrix | None = None,
) -> float:
    """hit@k = 1.0 if at least one span is covered by the top-k passages, else 0.0."""
    _check_k(k)
    cov = _matrix(passages, spans, cov)
    return 1.0 if any(any(row) for row in cov[:k]) else 0.0


def mrr_at_k(
    passages: Sequence[str],
    spans: Sequence[str],
    k: int = 10,
    *,
    cov: CoverageMatrix | None = None,
) -> float:
    """mrr@k = 1 / rank of the first top-k passage covering any span (ranks from 1), else 0."""
    _check_k(k)
    cov = _matrix(passages, spans, cov)
    for rank, row in enumerate(cov[:k], start=1):
        if any(row):
            return 1.0 / rank
    return 0.0


def ndcg_at_k(
    passages: Sequence[str],
    spans: Sequence[str],
    k: int = 10,
    *,
    cov: CoverageMatrix | None = None,
) -> float:
    """ndcg@k = min(1, DCG / IDCG).

    gain_i = number of spans that passage i covers and no higher-ranked
    passage covered (a span earns gain once);
    DCG = sum_{i=1..k} gain_i / log2(i + 1);
    IDCG = sum_{i=1..min(|spans|, k)} 1 / log2(i + 1).
    """
    _check_k(k)
    cov = _matrix(passages, spans, cov)
    seen = [False] * len(spans)
    dcg = 0.0
    for rank, row in enumerate(cov[:k], start=1):
        gain = 0
        for j, hit in enumerate(row):
            if hit and not seen[j]:
                seen[j] = True
                gain += 1
        if gain:
            dcg += gain / math.log2(rank + 1)
    idcg = sum(1.0 / math.log2(i + 1) for i in range(1, min(len(spans), k) + 1))
    return min(1.0, dcg / idcg)


# --------------------------------------------------------------------------
# Answer metrics
# --------------------------------------------------------------------------


def keyword_recall(answer: str, keywords: Sequence[str]) -> float:
    """keyword_recall = |{kw in keywords : kw.casefold() is a substring of answer.casefold()}| / |keywords|.

    Raises ValueError when ``keywords`` is empty (the share is undefined).
    """
    if not keywords:
        raise ValueError("no answer keywords")
    folded = answer.casefold()
    return sum(1 for kw in keywords if kw.casefold() in folded) / len(keywords)


def citation_precision(cited: Sequence[str], spans: Sequence[str]) -> float | None:
    """citation_precision = |{c in cited : exists s with covers(c, s) or covers(s, c)}| / |cited|.

    ``covers(s, c)`` is the rule with roles swapped (the citation lies inside
    the span).  Returns None (undefined) when nothing is cited; raises
    ValueError("no evidence spans") when ``spans`` is empty.
    """
    if not spans:
        raise ValueError("no evidence spans")
    if not cited:
        return None
    good = sum(1 for c in cited if any(covers(c, s) or covers(s, c) for s in spans))
    return good / len(cited)


def abstain_accuracy(abstained_on_unanswerable: Sequence[bool]) -> float | None:
    """abstain_accuracy = |{abstained}| / |unanswerable questions|; None if the list is empty."""
    if not abstained_on_unanswerable:
        return None
    return sum(1 for a in abstained_on_unanswerable if a) / len(abstained_on_unanswerable)


def false_abstain_rate(abstained_on_answerable: Sequence[bool]) -> float | None:
    """false_abstain_rate = |{abstained}| / |answerable questions|; None if the list is empty."""
    if not abstained_on_answerable:
        return None
    return sum(1 for a in abstained_on_answerable if a) / len(abstained_on_answerable)


# --------------------------------------------------------------------------
# Answer shape (answerable questions the answer did not abstain on)
# --------------------------------------------------------------------------

_MARKERS = re.compile(r"(?:\s*\[\d{1,3}\])+")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])[\"”’)]?\s+(?=[\"“(]?[A-Z0-9])")
_EDITION_LEAD = re.compile(
    r"^\s*(?:according to the [^:\n]{1,40}?|the [^:\n]{1,40}? says|[^:\n]{1,60}? adds)\s*:\s*", re.IGNORECASE
)
MIN_SENTENCE_CHARS = 12


def answer_sentences(answer: str) -> list[str]:
    """The answer's sentences, as the answer-shape metrics read them.

    The ``[n]`` markers are removed and each one ends a sentence; text between
    markers is further split after ``.``, ``!`` or ``?`` followed by a capital
    or digit. A leading "According to the 2024 guide:", "The 2026 guide says:"
    or "... adds:" is dropped from each piece, and pieces under 12 normalised
    characters are ignored.
    """
    sentences = []
    for piece in _MARKERS.split(answer):
        for sentence in _SENTENCE_BREAK.split(piece):
            sentence = _EDITION_LEAD.sub("", sentence).strip()
            if len(normalize(sentence)) >= MIN_SENTENCE_CHARS:
                sentences.append(sentence)
    return sentences


def _inside_evidence(sentence: str, spans: Sequence[str]) -> bool:
    return any(covers(span, sentence) for span in spans)


def answer_precision(answer: str, spans: Sequence[str]) -> float | None:
    """answer_precision = |{sentences s : some span covers s}| / |sentences|, over
    :func:`answer_sentences`; None when the answer has no sentence."""
    sentences = answer_sentences(answer)
    if not sentences:
        return None
    return sum(_inside_evidence(s, spans) for s in sentences) / len(sentences)


def lead_hit(answer: str, spans: Sequence[str]) -> float | None:
    """lead_hit = 1.0 when some span covers the answer's first sentence, else 0.0;
    None when the answer has no sentence."""
    sentences = answer_sentences(answer)
    if not sentences:
        return None
    return float(_inside_evidence(sentences[0], spans))


def answer_words(answer: str) -> int:
    """answer_words = the number of whitespace-separated words that hold a letter or digit,
    ``[n]`` markers removed (a lone "." or "-" is no word)."""
    return sum(1 for w in _MARKERS.sub(" ", answer).split() if re.search(r"[A-Za-z0-9]", w))
