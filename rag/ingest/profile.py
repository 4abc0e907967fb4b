"""What the parser knows about one family of guides: data in a TOML file, not code.

A profile lists page furniture (whole lines dropped before parsing, and lines
that start a footer), filler rules (sentences answers never quote, by name) and
the topic the guides are about (for prompts and descriptions). The generic
profile (rag/profiles/generic.toml) applies to every guide; a named profile
(`profile = "ml-guides"` in corpus/guides.toml, or a path to a .toml file) adds
the rules of one site. A guide without a profile gets the generic rules only.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from rag.core.errors import CorpusError
from rag.core.text import item_label, label_and_body

PROFILES_DIR = Path(__file__).resolve().parents[1] / "profiles"
GENERIC = "generic"


@dataclass(frozen=True)
class Profile:
    """The rules of a family of guides, generic ones included."""

    name: str
    topic: str
    chrome: tuple[re.Pattern[str], ...] = ()
    footer: tuple[re.Pattern[str], ...] = ()
    filler: tuple[tuple[str, re.Pattern[str]], ...] = ()
    exempt_items: frozenset[str] = frozenset()

    def filler_rule(self, sentence: str) -> str | None:
        """The name of the rule that marks `sentence` as filler, or None for content.

        A "Label: …" sentence is judged on the text after its label, and the rules the
        profile exempts for list items do not flag a "Term: description" item."""
        label, body = label_and_body(sentence)
        item = label is not None and item_label(sentence) is not None
        return next(
            (name for name, pattern in self.filler if pattern.search(body) and not (item and name in self.exempt_items)),
            None,
        )


@lru_cache(maxsize=16)
def load_profile(name: str = GENERIC) -> Profile:
    """The generic profile, extended by the named one (a file in rag/profiles/, or a path)."""
    generic = _read(PROFILES_DIR / f"{GENERIC}.toml")
    if name == GENERIC:
        return _profile(GENERIC, generic)
    path = Path(name) if name.endswith(".toml") else PROFILES_DIR / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PROFILES_DIR.glob("*.toml")))
        raise CorpusError(f"no guide profile {name!r} — use one of {known}, or a path to a .toml file")
    specific = _read(path)
    merged = {
        "topic": specific.get("topic", generic["topic"]),
        "chrome": {k: generic.get("chrome", {}).get(k, []) + specific.get("chrome", {}).get(k, []) for k in ("lines", "footer")},
        "filler": _merge_rules(generic.get("filler", {}), specific.get("filler", {})),
        "items": specific.get("items", {}),
    }
    return _profile(path.stem, merged)


def _read(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise CorpusError(f"guide profile {path} is unreadable: {e}") from e


def _merge_rules(generic: dict[str, str], specific: dict[str, str]) -> dict[str, str]:
    """A rule both define matches what either pattern matches."""
    return {name: "|".join(p for p in (generic.get(name), specific.get(name)) if p) for name in {**generic, **specific}}


def _profile(name: str, data: dict) -> Profile:
    chrome = data.get("chrome", {})
    try:
        return Profile(
            name=name,
            topic=data["topic"],
            chrome=tuple(re.compile(rf"^[ \t]*(?:{p})[ \t]*$", re.MULTILINE) for p in chrome.get("lines", [])),
            footer=tuple(re.compile(rf"^[ \t]*(?:{p})[ \t]*$", re.MULTILINE) for p in chrome.get("footer", [])),
            filler=tuple((rule, re.compile(p)) for rule, p in data.get("filler", {}).items()),
            exempt_items=frozenset(data.get("items", {}).get("exempt", [])),
        )
    except re.error as e:
        raise CorpusError(f"guide profile {name!r} has a bad pattern: {e}") from e
