"""Which sentences of a guide are filler: never quoted as an answer, still retrieved.

The guides are web articles written for remote workers. Besides the advice they
carry promotional and navigational lines ("Check out our city guides …", "These
skills are central to our … categories"), travel and lifestyle asides ("… while
you are sitting in a cafe in Bali") and sales pitches for the skills ("These
skills are highly sought after …"). A reader who asks what to learn is not
helped by them, and a sentence-level answer selector that matches the topic of a
question picks them up because they mention it. Each rule below is a named
pattern; the name is stored per sentence in the index (`Chunk.filler`), so an
answer can be traced to the rule that kept a sentence out of it.

Leading list labels are ignored when matching ("Networking: Join our community
…" is judged on "Join our community …"). A labelled list item is content even
when it ends in a lifestyle aside ("Edge AI: … reliance on stable internet
connections, a common concern for nomads in remote areas."), except a
"Real-world Example:", which is a scenario. A sentence is flagged only when a
rule matches; anything else is content.
"""

from __future__ import annotations

import re

from rag.core.text import item_label, label_and_body

_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "promotional",
        re.compile(
            r"\b(?:check out|see|join|read|explore|browse)\s+our\b"
            r"|\bour\s+(?:[\w&-]+\s+){0,10}?(?:guides?|articles?|blog|platform|community|categories|category|posts?)\b"
            r"|\bour platform\b|\bhere to support you\b",
            re.IGNORECASE,
        ),
    ),
    (
        "lifestyle",
        re.compile(
            r"\b(?:digital nomads?|nomads?|nomadic|co-?working space|cafe|café|beach|bungalow|workation|lifestyle"
            r"|high-rise|travel(?:l?ing)?|from anywhere|across (?:time zones|borders)|sitting in"
            r"|remote (?:jobs market|work trends|career))\b"
            r"|\bbased in (?:the )?[A-Z]",
        ),
    ),
    (
        "sales pitch",
        re.compile(
            r"\b(?:highly sought after|command(?:s)? premium rates|opens? up (?:new )?opportunities"
            r"|unlock new opportunities|indispensable asset|secret weapon|differentiate you)\b",
            re.IGNORECASE,
        ),
    ),
)


def filler_rule(sentence: str) -> str | None:
    """The name of the rule that marks `sentence` as filler, or None for content."""
    label, body = label_and_body(sentence)
    item = item_label(sentence) is not None
    return next(
        (name for name, pattern in _RULES if pattern.search(body) and not (item and name == "lifestyle")), None
    )
