"""One sentence that compares what two editions name: "Both guides name X; only the 2026 guide adds Y."

Built only from the quoted sentences, so every name in it is in a cited passage:
a list item's term ("LIME (Local …): Explains …" names LIME), the members of an
enumeration ("tools like Kubeflow, Apache Airflow, or Argo Workflows"), and
acronyms or words with inner capitals (SHAP, MLflow).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import takewhile

from rag.core.text import item_label

# The things a sentence lists: "tools like A, B, or C", "(e.g., A, B)", "such as A and B".
_ENUMERATION = re.compile(r"(?:\blike|\bsuch as|\be\.g\.,?|\bincluding|\()\s+([^.;:()]+)")
_SEPARATOR = re.compile(r",\s*(?:and\s+|or\s+)?|\s+(?:and|or)\s+")
_ACRONYM = re.compile(r"(?<![\w-])(?:[A-Z]{2,}[\w-]*|[A-Za-z]+[a-z][A-Z][\w-]*)")
MAX_NAMES = 4
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


def compare_editions(older: str, newer: str, older_text: Sequence[str], newer_text: Sequence[str]) -> str | None:
    """A sentence saying which names both editions' quotes share and which only one has;
    None when the quotes name nothing."""
    old_names = _names(older_text)
    new_names = _names(newer_text)
    shared = [n for key, n in old_names.items() if _mentioned(key, new_names)]
    only_old = [n for key, n in old_names.items() if not _mentioned(key, new_names)]
    only_new = [n for key, n in new_names.items() if not _mentioned(key, old_names)]
    parts = []
    if shared:
        parts.append(f"both guides name {_join(shared)}")
    if only_old:
        parts.append(f"only the {older} guide {'has' if shared else 'names'} {_join(only_old)}")
    if only_new:
        parts.append(f"only the {newer} guide {'adds' if shared or only_old else 'names'} {_join(only_new)}")
    if not parts or (not shared and not (only_old and only_new)):
        return None
    sentence = "; ".join(parts)
    return f"In short, {sentence}."


def _mentioned(key: str, names: dict[str, str]) -> bool:
    """Whether a name is among `names`, alone or as whole words of a longer one ("Quantization"
    in "Model Quantization")."""
    return any(re.search(rf"(?<!\w){re.escape(key)}(?!\w)", other) or re.search(rf"(?<!\w){re.escape(other)}(?!\w)", key)
               for other in names)


def _names(texts: Sequence[str]) -> dict[str, str]:
    return {name.casefold(): name for text in texts for name in named_terms(text)}


def _join(names: list[str]) -> str:
    names = names[:MAX_NAMES]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
