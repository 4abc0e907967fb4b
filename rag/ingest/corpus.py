"""Read the corpus folder: which files are guides, what each is, and their units.

Each file is parsed by its format: Markdown as Markdown (rag.ingest.markdown),
HTML and PDF through their extracted text (rag.ingest.formats, read back as
Markdown), anything else as scraped web text (rag.ingest.scraped). What a guide
is — title, series, edition, profile — comes from corpus/guides.toml or its
front matter (rag.ingest.metadata).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import replace
from pathlib import Path

from rag.core.errors import CorpusError
from rag.core.text import clean_text
from rag.core.types import Document, Unit
from rag.ingest.formats import EXTRACTED_SUFFIXES, UnreadableDocument, extract_text, needs_extraction
from rag.ingest.markdown import markdown_units
from rag.ingest.metadata import CATALOGUE, GuideInfo, completed, front_matter, read_catalogue
from rag.ingest.profile import load_profile
from rag.ingest.scraped import scraped_title, scraped_units

log = logging.getLogger(__name__)

CORPUS_SUFFIXES = (".txt", ".md") + EXTRACTED_SUFFIXES
MARKDOWN_SUFFIXES = (".md", ".markdown")
_OTHERS = "/".join(EXTRACTED_SUFFIXES)
# Bumped whenever parsing, sentence splitting or filler rules change what a guide's units are:
# the index records it, so a build after such a change re-chunks instead of calling it a no-op.
PARSER_VERSION = 3


def load_corpus(corpus_dir: Path) -> list[Document]:
    """Parse every guide in `corpus_dir` (CORPUS_SUFFIXES); unusable files are skipped with a warning."""
    catalogue = read_catalogue(corpus_dir)
    paths = corpus_files(corpus_dir)
    docs = [doc for doc in (_load_one(p, catalogue.get(p.name, GuideInfo())) for p in paths) if doc is not None]
    if not docs:
        raise CorpusError(f"no usable guide in {corpus_dir}: every file was empty, binary or clutter")
    return docs


def corpus_files(corpus_dir: Path) -> list[Path]:
    """The guide files of a corpus folder, sorted by name. A symbolic link in it is refused: followed, it would
    index and serve a file from anywhere on the machine."""
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus folder {corpus_dir} does not exist — create it and add .txt or .md guides (or {_OTHERS})")
    links = sorted(p.name for p in corpus_dir.iterdir() if p.is_symlink())
    if links:
        raise CorpusError(f"corpus folder {corpus_dir} holds symbolic links ({', '.join(links)}): links are not followed, "
                          "so that no file outside the folder is indexed and served — copy those files in instead")
    paths = sorted(p for p in corpus_dir.iterdir() if p.is_file() and p.suffix.lower() in CORPUS_SUFFIXES)
    if not paths:
        raise CorpusError(f"corpus folder {corpus_dir} has no .txt or .md files (nor {_OTHERS}) — add guides to it")
    return paths


def corpus_digests(corpus_dir: Path) -> dict[str, str]:
    """sha256 of every guide file and of the catalogue: a change to any of them is a change to the index."""
    paths = corpus_files(corpus_dir) + [p for p in [corpus_dir / CATALOGUE] if p.is_file()]
    return {p.name: file_sha256(p) for p in paths}


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load_one(path: Path, info: GuideInfo) -> Document | None:
    data = path.read_bytes()
    if needs_extraction(path.name):
        try:
            raw = extract_text(path.name, data)
        except UnreadableDocument as e:
            log.warning("skipped %s: %s", path.name, e)
            return None
    elif b"\x00" in data:
        log.warning("skipped %s: binary file", path.name)
        return None
    else:
        try:
            raw = data.decode("utf-8")
        except UnicodeDecodeError as e:
            log.warning("skipped %s: not UTF-8 text (byte %d)", path.name, e.start)
            return None
    doc = parse_document(path.name, raw, hashlib.sha256(data).hexdigest(), info)
    if not doc.units:
        log.warning("skipped %s: no text left after removing page clutter", path.name)
        return None
    return doc


def parse_document(name: str, raw: str, sha256: str = "", info: GuideInfo = GuideInfo()) -> Document:
    """Parse one guide's raw text into a Document of units with raw offsets."""
    matter, body = front_matter(raw)
    given = info.over(matter)
    if needs_extraction(name):  # a title line, then Markdown
        title_end = raw.find("\n", body) % (len(raw) + 1)
        guide = completed(given, raw[body:title_end].strip(), name)
        units = markdown_units(raw, title_end, load_profile(guide.profile).filler_rule)
    elif name.lower().endswith(MARKDOWN_SUFFIXES):
        guide = completed(given, _markdown_title(raw[body:], name), name)
        units = markdown_units(raw, body, load_profile(guide.profile).filler_rule, guide.title)
    else:
        guide = completed(given, scraped_title(raw[body:], name), name)
        units = _shifted(scraped_units(raw[body:], guide.title, load_profile(guide.profile)), body)
    return Document(doc=name, title=guide.title, edition=guide.edition, sha256=sha256, raw=raw, units=units,
                    series=guide.series)


def _markdown_title(text: str, name: str) -> str:
    """The first level-1 heading, else the file name."""
    match = re.search(r"^#[ \t]+(.+?)[ \t]*#*[ \t]*$", text, re.MULTILINE)
    return clean_text(match.group(1)) if match else Path(name).stem


def _shifted(units: tuple[Unit, ...], offset: int) -> tuple[Unit, ...]:
    """Units parsed from the text after a front matter, with offsets into the whole file."""
    return units if offset == 0 else tuple(replace(u, start=u.start + offset, end=u.end + offset) for u in units)
