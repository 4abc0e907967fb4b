"""What shape of answer a question asks for: one fact, a list, or both editions side by side.

Read from the wording alone, so it costs nothing and explains itself: "Which
*tools* …", "What *are* the steps …", "List …" want the items of a list; "How
does the advice differ between the 2024 and 2026 guides?" wants each edition's
part and a comparison; "What does the 2024 guide say …" wants that edition only.
Everything else (a lookup, a paraphrase, a yes/no question) wants the one or two
sentences that answer it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.query.editions import preferred_edition, spans_editions
from rag.query.reading import answer_type, asks_for_quantity, names

# "List the ...", "What kinds of bias ...", "What are the steps ...": a list whatever the nouns.
_LIST_WORDING = re.compile(
    r"^\s*(?:list|name|enumerate)\b|\b(?:kinds|types|sorts)\s+of\b"
    r"|\b(?:what|which)\s+(?:are|were)\s+(?:the|some|all|common|key|main|good|best|typical|essential)\b"
    r"|\bwhat\s+(?:should|do|must)\s+i\s+(?:learn|know|study|master)\b",
    re.IGNORECASE,
)
# "What else is in that section?", "Which other libraries …": the items beside the one already given.
_REST = re.compile(r"\bwhat\s+else\b|\b(?:what|which)\s+other\b|\banything\s+else\b", re.IGNORECASE)
# "Which [open-source RL] frameworks ...", "What [hardware] accelerators exist ...": a plural noun asked for.
_WHICH = re.compile(r"\bwhich\s+((?:[\w-]+\s+){0,5}[\w-]+)", re.IGNORECASE)
_WHAT = re.compile(
    r"\bwhat\s+((?:[\w-]+\s+){0,5}?[\w-]+s)\s+(?:should|do|does|did|can|could|would|are|were|will|must|exist|matter)\b",
    re.IGNORECASE,
)
# Words ending in s that do not ask for several things.
_NOT_PLURAL = frozenset({"is", "was", "has", "does", "this", "its", "as", "us", "yes", "less", "process", "class", "bias",
                         "analysis", "business", "access", "success", "focus", "status", "basis", "thesis", "mlops",
                         "ops", "always", "perhaps", "news", "series", "whereas", "across", "plus", "nowadays",
                         # verbs: "Which library lets me ...", "Which tool helps ..."
                         "lets", "helps", "makes", "uses", "needs", "gives", "means", "allows", "keeps", "runs",
                         "works", "goes", "says", "counts", "matters", "costs", "takes", "seems"})


# Kinds of thing whose answer is a set of names (products, projects, places).
NAMED_KINDS = frozenset(
    "tool tools library libraries framework frameworks platform platforms service services database databases "
    "model models package packages product products language languages resource resources site sites "
    "certification certifications company companies city cities provider providers vendor vendors".split()
)


@dataclass(frozen=True)
class Intent:
    """The answer shape a question asks for.

    `wants_list`: the items of a list; `both_editions`: each edition's part and a comparison;
    `edition`: the one edition the question names, whose passages alone should answer it;
    `kind`: the kind of thing a which/what question asks for ("tools"); `wants_figure`: a number
    ("How many projects …?"); `names`: the names it is written with ("STRIDE", "Kubeflow");
    `wants_rest`: the items beside one already given ("What else does that section cover?")."""

    wants_list: bool = False
    both_editions: bool = False
    edition: str | None = None
    kind: str | None = None
    wants_figure: bool = False
    names: tuple[str, ...] = ()
    wants_rest: bool = False

    @property
    def wants_names(self) -> bool:
        """The question asks for named things: "Which tools ...", "What libraries ..."."""
        return self.kind is not None and self.kind.lower() in NAMED_KINDS


def read_intent(question: str, editions: frozenset[str]) -> Intent:
    """The answer shape `question` asks for, given the editions the passages come from."""
    both = len(editions) > 1 and spans_editions(question)
    rest = bool(_REST.search(question))
    return Intent(
        wants_list=asks_for_list(question) or rest,
        both_editions=both,
        edition=None if both else preferred_edition(question, editions),
        kind=answer_type(question),
        wants_figure=asks_for_quantity(question),
        names=tuple(names(question)),
        wants_rest=rest,
    )


def asks_for_list(question: str) -> bool:
    """True for "Which tools …", "What are the …", "What kinds of …", "List …"."""
    if _LIST_WORDING.search(question):
        return True
    phrases = [m.group(1) for m in _WHICH.finditer(question)] + [m.group(1) for m in _WHAT.finditer(question)]
    return any(_is_plural(word) for phrase in phrases for word in phrase.split())


def _is_plural(word: str) -> bool:
    word = word.lower()
    return word.endswith("s") and len(word) > 3 and word not in _NOT_PLURAL
