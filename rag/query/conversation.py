"""Follow-up questions: the last question read in the light of the conversation before it.

No LLM rewrites the question; three retrieval-side steps do the work instead:

1. *Detect* a follow-up: it points back ("does it", "those", "ones"…), it is an
   ellipsis ("And the 2026 one?", "What about pruning?"), or it is too short to
   stand alone. A question that stands alone is answered exactly as without history.
2. *Contextualise*: the earlier question's topic (itself resolved the same way,
   so a chain of follow-ups keeps its subject) is put before the new question,
   and the edition the conversation was about is carried over unless the new
   question names another. A follow-up that names an edition and nothing else
   ("And the 2026 one?", "What does the newer edition list?") is the earlier
   question asked of that edition, its frame ("Which … does it list") kept.
3. *Retrieve and answer* the contextualised question.

The earlier question enters as its topic words only (`topic_terms`), not whole:
its frame ("What does the 2026 guide say about…") pulled the passages that had
answered it back to the top. Fusing the rankings of the contextualised question
and of the new question alone was tried and dropped: the new question alone
("Which techniques does it list?") matches generic passages, and fused in it
lowered context_recall@2000 on eval/golden/followups.jsonl from 1.00 to 0.92
(half weight) or 0.88 (equal weight).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.core.types import Turn
from rag.query.editions import (
    edition_free,
    edition_references,
    spans_editions,
    with_edition,
    without_edition_references,
)
from rag.query.reading import FRAME_WORDS, answer_type

# A pronoun that points back: as the subject right after the verb ("Which ones does it name?",
# "Why does that matter?"), "ones" / "which one" / "the second one" / "Amazon's one", or as the
# last word ("How can you defend against them?", "… relevant there?"). Any "it" anywhere flagged
# 23 of the 136 standalone golden questions ("What is DVC and why would I use it?"); this flags 4
# of them, and 4 of the 44 of holdout 3.
_POINTS_BACK = re.compile(
    r"\b(?:does|do|did|is|are|was|were|can|could|would|should|will|has|have)\s+(?:it|they|that|this|these|those)\b"
    r"|\b(?:ones|(?:which|the\s+(?:other|first|second|third|last|former|latter))\s+one|\w+'s\s+one)\b"
    r"|\b(?:for|of|about|against|with|on|from|in)\s+(?:it|them|that|those|these|this)\s*[?.!]?$"
    r"|\b(?:it|them|that|this)\s+the\s+same\s+way\b"
    # "which of those" — unless a relative clause says which ("those tools that turn text into images")
    r"|\b(?:of|among)\s+(?:them|those|these)\b(?!\s+\w+\s+(?:that|which|who)\b)|\bthere\s*[?.!]?$",
    re.IGNORECASE,
)
_ELLIPSIS = re.compile(r"^\s*(?:and|or|but|also|what\s+about|how\s+about|same\s+(?:for|question)|then)\b", re.IGNORECASE)
# A question of this many words or fewer (edition references aside) cannot stand alone.
SHORT_QUESTION_WORDS = 2
# Nor can a short one that ends on a pronoun ("Does the 2026 edition still mention it?"); a longer one
# usually names what the pronoun stands for ("What is DVC and why would I use it?").
ENDS_ON_PRONOUN = re.compile(r"\b(?:it|them|those|these)\s*[?.!]?$", re.IGNORECASE)
SHORT_POINTING_WORDS = 6


@dataclass(frozen=True)
class Contextualised:
    """A question as asked, and as the conversation means it (`question` itself when it stands alone)."""

    asked: str
    question: str
    followup: bool
    # What a follow-up takes from the earlier question: its topic, and the edition in brackets
    # ("vector databases (the 2024 guide)"); empty when the question stands alone.
    carried: str = ""
    # A follow-up about the earlier answer's place ("What else is in that section?"): the earlier
    # question as the conversation meant it, whose best passage's section is that place.
    place_of: str = ""


def is_followup(question: str) -> bool:
    """True when the question points back, is an ellipsis, or is too short to stand alone."""
    words = re.findall(r"[A-Za-z0-9][\w.+#-]*", without_edition_references(question))
    points_back = _POINTS_BACK.search(question) or _ELLIPSIS.match(question) or _STRUCTURE_REFERENCE.search(question)
    short_pointing = len(words) <= SHORT_POINTING_WORDS and ENDS_ON_PRONOUN.search(question)
    return bool(points_back or short_pointing or _edition_only(question)) or len(words) <= SHORT_QUESTION_WORDS


def _edition_only(question: str) -> bool:
    """The question names an edition and nothing it is about ("What does the 2026 edition list?")."""
    return bool(edition_references(question)) and not _own_topic(question)


def contextualise(question: str, history: Sequence[Turn]) -> Contextualised:
    """The question with the earlier topic and edition it leaves out (see the module docstring)."""
    turns = [i for i, t in enumerate(history) if t.role == "user" and t.content.strip()]
    if not turns or not is_followup(question):
        return Contextualised(question, question, False)
    last = turns[-1]
    before = contextualise(history[last].content, history[:last])
    earlier = before.question
    if _edition_only(question) and not _STRUCTURE_REFERENCE.search(question):
        # "And the 2026 guide?": the earlier question, asked of that edition (its frame, "Which … list", kept);
        # one about a place ("What else is in that section?") is asked in that place of the other edition.
        edition = edition_phrase(question)
        place_of = with_edition(before.place_of, edition) if before.place_of else ""
        carried = f"{topic_terms(before.place_of or earlier)} ({edition})"
        return Contextualised(question, with_edition(earlier, edition), True, carried, place_of)
    switched = switched_topic(question, earlier)
    if switched is not None:
        return Contextualised(question, *switched)
    topic = topic_terms(earlier)
    edition = "" if edition_references(question) else edition_phrase(earlier)
    carried = topic + (f" ({edition})" if edition else "")
    place_of = earlier if _STRUCTURE_REFERENCE.search(question) else ""
    # About a place, the question is looked up inside it (rag.pipeline): the earlier topic would only
    # bring back the earlier answer.
    joined = (question if place_of else f"{topic} {_mid_sentence(question)}") + (f" ({edition})" if edition else "")
    return Contextualised(question, joined, True, carried, place_of)


def _mid_sentence(question: str) -> str:
    """The question as it reads after the carried topic: its first word lower-cased unless it is a
    name, so that "And" or "Which" is not read as a name ("Grid Search and the other methods …")."""
    first = question.split(maxsplit=1)[0] if question.strip() else ""
    common = first.lower().strip(",.?!") in FRAME_WORDS or _ELLIPSIS.match(first)
    return question[0].lower() + question[1:] if common else question


def switched_topic(question: str, earlier: str) -> tuple[str, bool, str] | None:
    """An ellipsis that brings its own topic ("And for monitoring?", "What about pruning?") asks
    the earlier question again about that topic, with the kind of thing the earlier question asked
    for and its edition ("Which experiment tracking tools does the 2026 guide mention?" → "Which
    tools does the 2026 guide name for monitoring?"), as (question, followup, carried). None when the follow-up points back (to a
    thing, a section or a list), names an edition, or brings no topic of its own."""
    if not _ELLIPSIS.match(question) or _POINTS_BACK.search(question) or _STRUCTURE_REFERENCE.search(question):
        return None
    rest = _ELLIPSIS.sub("", question, count=1).strip(" ,?.!")
    if edition_references(question) or _points_back_first(rest) or not topic_terms(rest):
        return None
    where = edition_phrase(earlier) or "the guides"
    if rest.lower().startswith(("which ", "what ")):
        return f"{rest} does {where} name?", True, where
    wh = _WH.search(earlier)
    kind = answer_type(earlier[wh.start():]) if wh else None
    if kind:
        return f"Which {kind} does {where} name {rest}?", True, f"{kind} ({where})"
    asked = f"What does {where} say {rest}?" if _PREPOSITION.match(rest) else f"What does {where} say about {rest}?"
    return asked, True, where


_PRONOUN = re.compile(r"\b(?:it|its|they|them|their|that|those|these|this|there)\b", re.IGNORECASE)

_WH = re.compile(r"\b(?:which|what)\b", re.IGNORECASE)
_PREPOSITION = re.compile(r"(?:for|about|on|in|of|with|to|when)\b", re.IGNORECASE)
# "that section", "the other methods in that list", "the item right after it": the earlier answer's place.
_STRUCTURE_REFERENCE = re.compile(
    r"\b(?:that|this|the\s+same|those|these)\s+(?:[\w-]+\s+)?(?:sections?|lists?|parts?|chapters?|items?)\b"
    r"|\b(?:listed|named|mentioned)\s+there\b|\b(?:right\s+)?(?:after|before)\s+(?:it|that)\b",
    re.IGNORECASE,
)


def _own_topic(question: str) -> str:
    """What a follow-up is about beyond its opening "And" / "What about", its frame and its editions."""
    return _unframed(edition_free(_ELLIPSIS.sub("", question, count=1)))


def _points_back_first(rest: str) -> bool:
    """A pronoun comes before any topic word of its own: "its price" points back to the earlier
    topic; in "models once they're deployed" the pronoun stands for a noun the question names."""
    pronoun = _PRONOUN.search(rest)
    return pronoun is not None and not topic_terms(rest[: pronoun.start()])


def topic_terms(question: str) -> str:
    """What a question is about: its words without the question's frame ("What does the 2026 guide
    say about causal inference?" → "causal inference"). The frame words matched the earlier question's
    own answer so well that a follow-up ("Which techniques does it list?") got that answer again."""
    return _unframed(without_edition_references(question))


def _unframed(text: str) -> str:
    """The words of `text` that are not frame words."""
    return " ".join(w for w in re.findall(r"[\w.+#&/-]+", text) if w.lower() not in FRAME_WORDS)


def edition_phrase(question: str) -> str:
    """The guide edition(s) a question is about, as words the retriever reads ("the 2024 guide")."""
    if spans_editions(question):
        return "both guides"
    names = {"oldest": "the older guide", "newest": "the newer guide"}
    references = sorted(edition_references(question))
    return names.get(references[0], f"the {references[0]} guide") if len(references) == 1 else ""
