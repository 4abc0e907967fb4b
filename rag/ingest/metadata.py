"""What each guide is: its title, its series and edition, and the profile its pages follow.

Said explicitly, in this order of precedence: an entry of `corpus/guides.toml`,
then the file's own front matter (a `---` block of `key: value` lines at the top
of a Markdown or text file). Only what neither says is guessed: the title from
the first line, the edition from a year in the title or file name, the series
from the title without its year. Editions are compared only within one series,
so an unrelated "Kubernetes Security 2026" guide is never "the 2026 guide" of
another series' comparison.

    # corpus/guides.toml
    [guides."000_66311b75d3a066c9.txt"]
    series = "essential-ml-skills"
    edition = "2024"
    profile = "ml-guides"
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from rag.core.errors import CorpusError
from rag.ingest.profile import GENERIC

CATALOGUE = "guides.toml"
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.DOTALL)
_FIELD = re.compile(r"^([A-Za-z_][\w-]*)[ \t]*:[ \t]*(.*?)[ \t]*$", re.MULTILINE)
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")
FIELDS = ("title", "series", "edition", "profile")


@dataclass(frozen=True)
class GuideInfo:
    """What the catalogue or front matter says of one guide; None where it is silent."""

    title: str | None = None
    series: str | None = None
    edition: str | None = None
    profile: str | None = None

    def over(self, other: GuideInfo) -> GuideInfo:
        """These fields, with `other`'s where these are silent."""
        return GuideInfo(*(getattr(self, f) or getattr(other, f) for f in FIELDS))


def read_catalogue(corpus_dir: Path) -> dict[str, GuideInfo]:
    """The entries of `corpus_dir/guides.toml` by file name; empty when there is none."""
    path = corpus_dir / CATALOGUE
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise CorpusError(f"{path} is not valid TOML ({e}) — fix it or remove it") from e
    guides = data.get("guides", {})
    if not isinstance(guides, dict) or not all(isinstance(v, dict) for v in guides.values()):
        raise CorpusError(f"{path}: expected [guides.\"FILE\"] tables with {', '.join(FIELDS)}")
    return {name: GuideInfo(**{f: _text(entry.get(f)) for f in FIELDS}) for name, entry in guides.items()}


def front_matter(raw: str) -> tuple[GuideInfo, int]:
    """The guide fields of a leading `---` block, and where the body after it starts."""
    match = _FRONT_MATTER.match(raw)
    if match is None:
        return GuideInfo(), 0
    fields = {k.lower(): v.strip("\"'") for k, v in _FIELD.findall(match.group(1))}
    return GuideInfo(**{f: fields.get(f) or None for f in FIELDS}), match.end()


@dataclass(frozen=True)
class Guide:
    """What a guide is, said or guessed: every field known but the edition, which may be None."""

    title: str
    series: str
    edition: str | None
    profile: str


def completed(info: GuideInfo, title: str, name: str) -> Guide:
    """`info` with the guessed title, edition, series and the generic profile where it is silent."""
    title = info.title or title or Path(name).stem
    edition = info.edition or _year(title) or _year(name)
    series = info.series or " ".join(_YEAR.sub(" ", title).split()).casefold()
    return Guide(title, series, edition, info.profile or GENERIC)


def _year(text: str) -> str | None:
    match = _YEAR.search(text)
    return match.group(0) if match else None


def _text(value: object) -> str | None:
    return None if value is None else str(value)
