"""The names a sentence mentions: a list item's term ("LIME (Local …): Explains …" names LIME),
the members of an enumeration ("tools like Kubeflow, Apache Airflow, or Argo Workflows"), and
acronyms or words with inner capitals (SHAP, MLflow). The sentence scorer counts them
(rag.answer.extractive.features): a "which tools" question wants a sentence that names several.
"""

from __future__ import annotations

import re
from itertools import takewhile

from rag.core.text import item_label

# The things a sentence lists: "tools like A, B, or C", "(e.g., A, B)", "such as A and B".
_ENUMERATION = re.compile(r"(?:\blike|\bsuch as|\be\.g\.,?|\bincluding|\()\s+([^.;:()]+)")
_SEPARATOR = re.compile(r",\s*(?:and\s+|or\s+)?|\s+(?:and|or)\s+")
_ACRONYM = re.compile(r"(?<![\w-])(?:[A-Z]{2,}[\w-]*|[A-Za-z]+[a-z][A-Z][\w-]*)")
MAX_NAME_WORDS = 4


def named_terms(sentence: str) -> list[str]:
    """The names a sentence mentions, in order, without repeats: a list item's term, the
    capitalised members of an enumeration, and acronyms or words with inner capitals."""
    found = []
    label = item_label(sentence)
    if label:
        found.append(label)
    for listing in _ENUMERATION.finditer(sentence):
        for member in _SEPARATOR.split(listing.group(1)):
            words = list(takewhile(lambda w: w[:1].isupper() or w[:1].isdigit() or w == "&", member.split()))
            if words and len(words) <= MAX_NAME_WORDS:
                found.append(" ".join(words))
    for m in _ACRONYM.finditer(sentence):
        if not any(m.group(0) in name for name in found):
            found.append(m.group(0))
    return list(dict.fromkeys(found))
