"""What a question's wording asks for: a figure, a kind of thing, or things it names.

Read from the words alone, before any passage is seen: "How many projects …?" asks
for a figure, "Which books should I read?" for books, "Is Rust good for ML?" names
Rust. Answerability and intent both read questions through these functions.
"""

from __future__ import annotations

import re

ASKS_QUANTITY = re.compile(
    r"\b(?:how (?:much|many|large|big|long|often)"
    r"|cost|costs|price|prices|pricing|fee|fees|salary|salaries|cheaper|cheapest|(?:more|less|most|least) expensive"
    # "What hourly rate should I charge?" asks for a figure; "What is the error rate of …?" may not
    r"|what (?:score|percentage|percent|proportion|fraction|share|(?:[\w-]+ )?rate(?= (?:should|do|does|can)\b)))\b",
    re.IGNORECASE,
)
# Words that frame a question rather than say what it is about.
FRAME_WORDS = frozenset(
    "what which how why when where who does do did is are was were the a an say says said about mention mentions "
    "describe describes list lists name names mean means by to in of on for guide should i you me tell according "
    "give kinds kind it its they them their ones those these that this else "
    # words for a part of the guide's own subject matter, not a kind of thing ("Which RL topics …?")
    "topic topics family families type types area areas aspect aspects part parts "
    # "Is it OK to …?" asks whether one should: a frame, though written in capitals
    "ok okay".split()
)
# A word holds a letter; digits it starts with are part of it ("2000AB", "3D": not "AB", "D").
WORD = re.compile(r"[0-9]*[A-Za-z][A-Za-z0-9]*(?:[-.'’][A-Za-z0-9]+)*(?:\+\+|#)?")
# "c++", "C#", "F#": written with symbols the index's tokenizer drops, so looked for literally.
SYMBOL_NAME = re.compile(r"[A-Za-z]+(?:\+\+|#)")
_SENTENCE_START = re.compile(r"(?:^|[.?!:;\"“(]\s*)$")
_PRONOUN = re.compile(r"I(?:['’](?:m|ve|d|ll))?")
_AUX = r"(?:do|does|did|should|can|could|would|will|is|are|was|were|has|have|had|must|might|may)\b"
# "Which [vector] databases should ...", "At which stages can ...": the noun before the verb.
_ANSWER_TYPE = re.compile(
    rf"^\s*(?:[a-z]+\s+)?(?:which|what)\s+(?:(?!{_AUX})[\w'-]+\s+){{0,4}}?((?!{_AUX})[\w-]+)\s+{_AUX}", re.IGNORECASE
)


def asks_for_quantity(question: str) -> bool:
    return bool(ASKS_QUANTITY.search(question))


# "How much does X cost?", "the price of X", "What does X cost?" ask for an amount of money;
# "How can I keep hosting costs low?" does not.
ASKS_PRICE = re.compile(
    r"\bhow much\b[^?]*\b(?:cost|costs|charge|charges|pay|paid|priced)\b|\b(?:price|cost|fee|fees|pricing) (?:of|for)\b"
    r"|\bwhat does\b[^?]*\bcost\b",
    re.IGNORECASE,
)


def asks_for_price(question: str) -> bool:
    return bool(ASKS_PRICE.search(question))


def names(question: str) -> list[str]:
    """Words written as names: capitalised mid-sentence ("Rust"), with inner capitals
    ("LoRA", "CUDA", "PhD") or with the symbols of a language name ("c++", "C#") anywhere; not
    the pronoun "I" or a word that frames the question ("Is it OK to …?"). Only the symbol names
    in a question written in Title Case or capitals, where capitals say nothing."""
    words = list(WORD.finditer(question))
    long_words = [m.group(0) for m in words if len(m.group(0)) >= 4]
    if long_words and all(w[0].isupper() for w in long_words):
        return [m.group(0) for m in words if SYMBOL_NAME.fullmatch(m.group(0))]
    found = []
    for m in words:
        word = m.group(0)
        inner_capitals = any(c.isupper() for c in word[1:])
        mid_sentence = word[0].isupper() and not _SENTENCE_START.search(question[: m.start()])
        framing = _PRONOUN.fullmatch(word) or word.lower() in FRAME_WORDS
        if (inner_capitals or mid_sentence or SYMBOL_NAME.fullmatch(word)) and not framing:
            found.append(word)
    return found


def answer_type(question: str) -> str | None:
    """The kind of thing a which/what question asks for: "books" in "Which books should I read?"."""
    match = _ANSWER_TYPE.search(question)
    return match.group(1) if match and match.group(1).lower() not in FRAME_WORDS else None
