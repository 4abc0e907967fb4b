"""Whether the passages a written answer cites support what each of its sentences says.

An LLM may cite the wrong passage, or none that says what it wrote. The rule, on
content words (stemmed, stopwords out, and the words that frame an answer —
"guide", "edition", the years, "both", "only", "adds", "mentions"… — out too):

- a marker `[n]` stays on a sentence when passage n shares at least one of the
  sentence's content words; otherwise it is taken off (and so is a marker that
  points at no passage);
- a sentence stays when at least `SUPPORT_MIN` of its content words occur in the
  passages its remaining markers cite (a sentence without markers: in the
  passages the answer cites anywhere); otherwise it is dropped, however it was
  marked;
- a sentence without content words ("Yes.") claims nothing checkable and stays;
- given the passages' editions, a sentence that says what an edition says must find each
  name it mentions in that edition's cited text (rag.answer.attribution, the edition check
  every generated comparison passes); otherwise it is dropped.

A reply being streamed is checked as it arrives (`settled_text`): a sentence is
passed on once the next one has begun, if the rule keeps it; only a sentence
without markers must wait for the whole reply, since it is checked against every
passage the reply cites.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from rag.answer.attribution import holds_for_editions
from rag.core.text import terms as stemmed_terms

SUPPORT_MIN = 0.5

# Markers of one to three digits: "[2024]" is a year the writer quoted, not a passage number.
MARKER = re.compile(r"([ \t]*)\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
# A sentence: up to . ! ? (not of "e.g." / "i.e." / "vs.") and the markers right after it, or to the end of
# its line; then its trailing whitespace, so the sentences join back into the text.
_SENTENCE = re.compile(
    r"[^\n]+?(?:(?<!e\.g)(?<!i\.e)(?<!\bvs)[.!?](?:[ \t]*\[[\d,\s]+\])*(?=\s|$)|(?=\n)|$)\s*|\s+"
)
_FRAMING = "guide guides edition editions article version both only add adds added mention mentions say says name names list lists also"
_YEAR = re.compile(r"^(?:19|20)\d\d$")


def check_citations(text: str, passages: Sequence[str], editions: Sequence[str | None] = ()) -> tuple[str, list[int]]:
    """`text` with unsupported sentences dropped and wrong markers taken off (see the module
    docstring), and the passage numbers (1-based, into `passages`) it still cites, in order.
    `editions`, when given, are the passages' editions, in the same order."""
    cited_anywhere = {n for match in MARKER.finditer(text) for n in _numbers(match) if 1 <= n <= len(passages)}
    kept: list[str] = []
    for sentence in sentences(text):
        checked = _check_sentence(sentence, passages, cited_anywhere, editions)
        if checked is not None:
            kept.append(checked)
    result = "".join(kept).strip()
    cited = [n for match in MARKER.finditer(result) for n in _numbers(match)]
    return result, list(dict.fromkeys(cited))


def settled_text(partial: str, passages: Sequence[str], editions: Sequence[str | None] = ()) -> str:
    """What `check_citations` will keep of the start of a reply of which `partial` has arrived,
    as far as that is decided already: the checked sentences before the last one (which may
    still grow), up to the first claim without markers, and up to the last one that cites a
    passage (a reply that ends up citing nothing abstains as a whole)."""
    kept: list[str] = []
    settled = 0
    for sentence in sentences(partial)[:-1]:
        terms = content_terms(sentence)
        if terms and MARKER.search(sentence) is None:
            break
        checked = _check_sentence(sentence, passages, set(), editions)
        if checked is not None:
            kept.append(checked)
            if terms:
                settled = len(kept)
    return "".join(kept[:settled]).lstrip()


def sentences(text: str) -> list[str]:
    """The sentences and list lines of `text`, each with its markers and trailing whitespace."""
    return [m.group() for m in _SENTENCE.finditer(text) if m.group()]


def content_terms(text: str) -> frozenset[str]:
    """Stemmed content words, without markers and the words that frame an answer."""
    words = stemmed_terms([MARKER.sub(" ", text)])[0]
    return frozenset(w for w in words if w not in _framing() and not _YEAR.match(w))


def _check_sentence(sentence: str, passages: Sequence[str], cited_anywhere: set[int],
                    editions: Sequence[str | None] = ()) -> str | None:
    terms = content_terms(sentence)
    supporting: list[int] = []

    def keep_supporting(match: re.Match[str]) -> str:
        lead = match.group(1)
        valid = [n for n in dict.fromkeys(_numbers(match)) if 1 <= n <= len(passages)]
        shares = [n for n in valid if not terms or terms & _passage_terms(passages[n - 1])]
        supporting.extend(shares)
        if shares:
            return f"{lead}[{', '.join(map(str, shares))}]"
        return lead if MARKER.match(match.string, match.end()) else ""  # "[2][3]" → " [3]", not "[3]"

    marked = MARKER.search(sentence) is not None
    rewritten = MARKER.sub(keep_supporting, sentence)
    if not terms:
        return rewritten
    sources = supporting if marked else sorted(cited_anywhere)
    known = frozenset().union(*(_passage_terms(passages[n - 1]) for n in sources))
    if len(terms & known) < SUPPORT_MIN * len(terms):
        return None
    if editions and not holds_for_editions(sentence, [(passages[n - 1], editions[n - 1]) for n in sources],
                                           {e for e in editions if e}):
        return None
    return rewritten


def _numbers(match: re.Match[str]) -> list[int]:
    return [int(n) for n in match.group(2).split(",")]


@lru_cache(maxsize=1024)
def _passage_terms(passage: str) -> frozenset[str]:
    return frozenset(stemmed_terms([passage])[0])


@lru_cache(maxsize=1)
def _framing() -> frozenset[str]:
    return frozenset(stemmed_terms([_FRAMING])[0])
