"""Which guide edition a question names ("the 2024 guide", "the newer edition").

A reader who names one edition wants that edition's advice first; the retriever
uses this to rank that edition's passages ahead of the others'. A bare year
("skills for 2026") is a topic, not an edition, so it is not read as one; and a
question about several editions ("both guides", "each edition", "the 2024 and
2026 guides", "the older guide ... the newer one") prefers none, but its answer
should draw on each. Either way the references are taken out of the text that is
matched against the passages: they say where to look, not what about.
"""

from __future__ import annotations

import re

_YEAR = r"((?:19|20)\d\d)"
# Words that name a document, for any kind of guide; "one" as in "the 2024 one".
_EDITION_WORD = r"(?:guide|edition|article|version|handbook|document|one)"
_NAMED = re.compile(
    rf"\b{_YEAR}(?:'s)?\s+(?:[a-z-]+\s+)?{_EDITION_WORD}\b|\b{_EDITION_WORD}\s+(?:for|of|from)\s+{_YEAR}\b",
    re.IGNORECASE,
)
# "the 2022 to the 2025 handbook", "the 2024 and 2026 guides": both years name editions.
_JOINED = re.compile(
    rf"\b{_YEAR}\s+(?:and|or|to|vs\.?|versus)\s+(?:the\s+)?{_YEAR}(?:'s)?\s+(?:[a-z-]+\s+)?{_EDITION_WORD}s?\b",
    re.IGNORECASE,
)
_AGE = {"older": "oldest", "earlier": "oldest", "previous": "oldest", "original": "oldest", "oldest": "oldest",
        "newer": "newest", "newest": "newest", "latest": "newest", "updated": "newest", "current": "newest"}
_RELATIVE = re.compile(rf"\b({'|'.join(_AGE)})\s+(?:[a-z-]+\s+)?{_EDITION_WORD}\b", re.IGNORECASE)
_REFERENCE = re.compile(
    rf"\b(?:(?:the|each|both|either|two|all|per)\s+)*"
    rf"(?:(?:{_YEAR[1:-1]}|{'|'.join(_AGE)})(?:'s)?\s+(?:(?:and|or|to|vs\.?|versus)\s+(?:the\s+)?{_YEAR[1:-1]}\s+)?)?"
    rf"(?:guides?|editions?|articles?|versions?|handbooks?|documents?)\b"
    rf"|\b(?:the\s+)?(?:{_YEAR[1:-1]}|{'|'.join(_AGE)})\s+one\b",
    re.IGNORECASE,
)
# "both guides", "each edition", "the guides": several editions. Not a bare "versions" or "each"
# ("my library versions", "each feature").
_SEVERAL = re.compile(
    r"\b(?:both|each|either|all|two)\s+(?:of\s+the\s+)?(?:guides?|editions?|articles?|versions?|handbooks?)\b|\b(?:guides|editions|handbooks)\b",
    re.IGNORECASE,
)


def edition_references(question: str) -> frozenset[str]:
    """The editions a question names: years, and "oldest"/"newest" for relative names."""
    years = {a or b for a, b in _NAMED.findall(question)} | {y for pair in _JOINED.findall(question) for y in pair}
    return frozenset(years | {_AGE[word.lower()] for word in _RELATIVE.findall(question)})


def without_edition_references(question: str) -> str:
    """The question with its references to guide editions taken out ("Compare how the 2024
    and 2026 guides describe CI/CD" → "Compare how describe CI/CD"): they say where to look,
    not what about, and left in they match the guides' introductions."""
    stripped = edition_free(question)
    return stripped if len(stripped.split()) >= 2 else question


def edition_free(question: str) -> str:
    """The question with every reference to a guide edition taken out, whatever is left."""
    return " ".join(_REFERENCE.sub(" ", question).split())


def with_edition(question: str, edition: str) -> str:
    """The question asked of another edition: its first edition reference replaced by `edition` ("the 2026
    guide") and any others dropped; `edition` in brackets after a question that names none."""
    references = list(_REFERENCE.finditer(question))
    if not references or not edition_references(question):
        return f"{question} ({edition})"
    first = references[0]
    rest = _REFERENCE.sub(" ", question[first.end():])
    return " ".join(f"{question[:first.start()]}{edition}{rest}".split())


def spans_editions(question: str) -> bool:
    """True when the question asks about several editions."""
    return len(edition_references(question)) > 1 or bool(_SEVERAL.search(question))


def preferred_edition(question: str, available: frozenset[str]) -> str | None:
    """The one available edition the question asks about; None when it names none or several."""
    references = edition_references(question)
    if len(references) != 1 or spans_editions(question) or not available:
        return None
    (reference,) = references
    relative = {"oldest": min(available), "newest": max(available)}
    edition = relative.get(reference, reference)
    return edition if edition in available else None
