"""Run guides-qa's retrieval on a BEIR benchmark folder and score it with ranx.

A BEIR folder holds ``corpus.jsonl`` ({"_id", "title", "text"}), ``queries.jsonl``
({"_id", "text"}) and ``qrels/<split>.tsv`` (``query-id``, ``corpus-id``,
``score``; often with CRLF line endings). Each BEIR document becomes a
:class:`~rag.core.types.Document` of sentence units, titled with its title, so every
passage carries the title as BEIR models expect: with the "section" template the
section is the title (``title: text``); with "title_section" the section is
empty (``title — : text``) rather than repeating the title. The index is then
built, chunked and searched exactly as for the guides.

Retrieval returns chunks; a document's rank is that of its first (best) chunk.
Scores follow BEIR: nDCG@10, recall@100 and MRR@10, averaged over the queries
of the split's qrels, with a document whose id equals the query id dropped from
the ranking (BEIR's ``ignore_identical_ids`` default; it matters for ArguAna and
Quora only).

The benchmark data is read from wherever it lies and never copied: several
BEIR sets are licensed for non-commercial use only.

Documents are ranked from ``HybridRetriever.rank`` (the fused ranking before the
near-duplicate filter, which would only drop further chunks of a document already
ranked).
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from rag.core.errors import CorpusError
from rag.core.text import split_sentences
from rag.core.types import Document, Unit
from rag.encoders.embedding import Embedder, PassageTemplate
from rag.index.build import BuildReport, Progress, update_index
from rag.index.store import IndexSettings, load_index
from rag.retrieve.hybrid import MIN_CANDIDATES, HybridRetriever, Retriever
from rag.settings import RetrievalMode, Settings

__all__ = [
    "METRICS",
    "BeirDataError",
    "BeirDoc",
    "BeirResult",
    "BeirSet",
    "beir_documents",
    "build_beir_index",
    "corpus_digests",
    "evaluate_retriever",
    "load_beir",
    "rank_documents",
    "run_beir",
]

#: The ranx metrics reported, as BEIR papers report them.
METRICS = ("ndcg@10", "recall@100", "mrr@10")
#: Chunks retrieved per document wanted: a document may be cut into several chunks.
CHUNKS_PER_DOC = 3

_QRELS_HEADER = ("query-id", "corpus-id", "score")


class BeirDataError(CorpusError):
    """A BEIR folder is missing, incomplete or malformed."""


@dataclass(frozen=True)
class BeirDoc:
    id: str
    title: str
    text: str


@dataclass(frozen=True)
class BeirSet:
    """One split of a BEIR dataset: the whole corpus, and the queries judged in the split."""

    name: str
    split: str
    corpus: list[BeirDoc]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


@dataclass
class BeirResult:
    """What :func:`run_beir` measured. ``metrics[mode][metric]`` holds the scores."""

    dataset: str
    split: str
    query_count: int
    doc_count: int
    chunk_count: int
    index_status: str  # "reused" (nothing embedded, index untouched) or "built"
    index_seconds: float
    embedded: int
    reused_vectors: int
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    query_seconds: dict[str, float] = field(default_factory=dict)
    queries_per_second: dict[str, float] = field(default_factory=dict)

    @property
    def index_reused(self) -> bool:
        return self.index_status == "reused"


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------


def load_beir(folder: Path, split: str = "test") -> BeirSet:
    """Read a BEIR folder; queries are those judged in ``qrels/<split>.tsv``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BeirDataError(f"BEIR folder {folder} does not exist — point to a folder holding corpus.jsonl")
    corpus_path, queries_path = folder / "corpus.jsonl", folder / "queries.jsonl"
    qrels_path = folder / "qrels" / f"{split}.tsv"
    for path in (corpus_path, queries_path):
        if not path.is_file():
            raise BeirDataError(f"{path} is missing — a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/")
    if not qrels_path.is_file():
        splits = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
        have = f"splits here: {', '.join(splits)}" if splits else f"no qrels/*.tsv in {folder}"
        raise BeirDataError(f"no qrels for split '{split}' ({qrels_path} is missing; {have})")

    corpus = [_corpus_doc(row, corpus_path, n) for n, row in _jsonl(corpus_path)]
    if not corpus:
        raise BeirDataError(f"{corpus_path} holds no documents")
    doc_ids = [d.id for d in corpus]
    if len(set(doc_ids)) != len(doc_ids):
        seen: set[str] = set()
        dup = next(i for i in doc_ids if i in seen or seen.add(i))
        raise BeirDataError(f"{corpus_path}: document id {dup!r} occurs more than once")

    all_queries = {
        _field(row, "_id", queries_path, n): _field(row, "text", queries_path, n) for n, row in _jsonl(queries_path)
    }
    qrels = _read_qrels(qrels_path)
    if not qrels:
        raise BeirDataError(f"{qrels_path} has no judgements — split '{split}' cannot be evaluated")
    unknown = [q for q in qrels if q not in all_queries]
    if unknown:
        raise BeirDataError(
            f"{qrels_path} judges {len(unknown)} query id(s) missing from {queries_path}, e.g. {unknown[0]!r}"
        )
    queries = {qid: all_queries[qid] for qid in qrels}
    return BeirSet(name=folder.name, split=split, corpus=corpus, queries=queries, qrels=qrels)


def _jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise BeirDataError(f"{path}:{n} is not valid JSON ({e.msg})") from e
            if not isinstance(row, dict):
                raise BeirDataError(f"{path}:{n} is not a JSON object")
            yield n, row


def _field(row: dict, key: str, path: Path, n: int, required: bool = True) -> str:
    value = row.get(key)
    if value is None:
        if required:
            raise BeirDataError(f"{path}:{n} has no {key!r}")
        return ""
    return str(value)


def _corpus_doc(row: dict, path: Path, n: int) -> BeirDoc:
    return BeirDoc(
        id=_field(row, "_id", path, n),
        title=_field(row, "title", path, n, required=False),
        text=_field(row, "text", path, n, required=False),
    )


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as f:
        for n, row in enumerate(csv.reader(f, delimiter="\t"), 1):
            cells = [c.strip() for c in row]
            if not any(cells):
                continue
            if n == 1 and tuple(c.lower() for c in cells[:3]) == _QRELS_HEADER:
                continue
            if len(cells) != 3:
                raise BeirDataError(f"{path}:{n} has {len(cells)} columns, expected query-id, corpus-id, score")
            qid, docid, score = cells
            try:
                qrels.setdefault(qid, {})[docid] = int(float(score))
            except ValueError as e:
                raise BeirDataError(f"{path}:{n} has a non-numeric score {score!r}") from e
    return qrels


# --------------------------------------------------------------------------
# BEIR documents as guides-qa Documents
# --------------------------------------------------------------------------


def beir_documents(beir: BeirSet, template: PassageTemplate = "section") -> list[Document]:
    """One Document per BEIR document: sentence units of its text.

    Units' section is the title, except with the "title_section" passage
    template, which already starts every passage with the title: then it is "".

    ``raw`` is ``f"{title}\\n{text}"`` and every unit's ``raw[start:end]`` is its
    source, whitespace-folded into ``text``. A document with no text is indexed
    by its title alone; one with neither is left out (see :func:`corpus_digests`).
    """
    docs = []
    for d in beir.corpus:
        doc = _document(d, with_title_section=template != "title_section")
        if doc.units:
            docs.append(doc)
    return docs


def corpus_digests(beir: BeirSet) -> dict[str, str]:
    """Document id → sha256 of its raw text, for every document of the corpus.

    Stored in the index manifest, so an unchanged corpus is recognised as such.
    """
    return {d.id: _sha256(_raw(d)) for d in beir.corpus}


def _raw(d: BeirDoc) -> str:
    return f"{d.title}\n{d.text}"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _document(d: BeirDoc, with_title_section: bool) -> Document:
    raw = _raw(d)
    section = " ".join(d.title.split()) if with_title_section else ""
    text_start = len(d.title) + 1
    spans = [(s, e) for s, e in split_sentences(raw, text_start, len(raw)) if re.search(r"[^\W_]", raw[s:e])]
    if not spans:  # no body text: the title is all there is to find
        spans = list(split_sentences(raw, 0, len(d.title)))
    units = tuple(Unit(section=section, start=s, end=e, text=" ".join(raw[s:e].split())) for s, e in spans)
    return Document(doc=d.id, title=d.title, edition=None, sha256=_sha256(raw), raw=raw, units=units)


# --------------------------------------------------------------------------
# Index
# --------------------------------------------------------------------------


def build_beir_index(
    beir: BeirSet, index_dir: Path, settings: IndexSettings, embedder: Embedder, *, progress: Progress | None = None
) -> BuildReport:
    """Build the index of ``beir``'s corpus in ``index_dir``, or leave it as it is.

    Same settings and same documents (by digest): nothing is done and the model is
    not loaded (status "unchanged"). Otherwise the index is rebuilt, reusing what
    vectors of the previous index in ``index_dir`` it can (see :func:`rag.index.build.update_index`).
    """
    documents = partial(beir_documents, beir, settings.passage_template)
    return update_index(index_dir, settings, embedder, corpus_digests(beir), documents, progress=progress)


# --------------------------------------------------------------------------
# Retrieval and scoring
# --------------------------------------------------------------------------


def rank_documents(retriever: Retriever, query: str, k: int, *, exclude: str | None = None) -> list[str]:
    """The k best document ids for ``query``: each document ranked by its best chunk.

    A :class:`HybridRetriever` is ranked as its ``retrieve`` would rank
    ``CHUNKS_PER_DOC * k`` chunks (same candidate pool, same fusion) but without
    its near-duplicate filter: BEIR judges every document id on its own, and the
    filter's pairwise text comparisons cost seconds per query at this depth.
    Any other retriever is asked for ``CHUNKS_PER_DOC * k`` chunks.
    ``exclude`` drops one document id (BEIR's ``ignore_identical_ids``).
    """
    if isinstance(retriever, HybridRetriever):
        docs = _fused_documents(retriever, query, CHUNKS_PER_DOC * k)
    else:
        docs = (hit.chunk.doc for hit in retriever.retrieve(query, CHUNKS_PER_DOC * k))
    ranked: dict[str, None] = {}
    for doc in docs:
        if doc != exclude:
            ranked.setdefault(doc)
            if len(ranked) == k:
                break
    return list(ranked)


def _fused_documents(retriever: HybridRetriever, query: str, chunks: int) -> Iterator[str]:
    """Document ids of the fused candidates, best first (repeats included)."""
    for passage in retriever.rank(query, max(MIN_CANDIDATES, 10 * chunks)):
        yield passage.chunk.doc


def evaluate_retriever(
    retriever: Retriever,
    beir: BeirSet,
    *,
    k: int = 100,
    ignore_identical_ids: bool = True,
    progress: bool = False,
    desc: str = "queries",
) -> tuple[dict[str, float], float]:
    """(metrics, seconds spent retrieving) of ``retriever`` on ``beir``'s queries."""
    from ranx import Qrels, Run, evaluate
    from tqdm.auto import tqdm

    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    run: dict[str, dict[str, float]] = {}
    started = time.perf_counter()
    for qid, text in tqdm(beir.queries.items(), desc=desc, total=len(beir.queries), disable=not progress, unit="q"):
        docs = rank_documents(retriever, text, k, exclude=qid if ignore_identical_ids else None)
        # Scores from ranks, so ranx sorts exactly as the retriever ranked (ties included).
        run[qid] = {doc: float(len(docs) - i) for i, doc in enumerate(docs)}
    seconds = time.perf_counter() - started
    scores = evaluate(Qrels(beir.qrels), Run(run), list(METRICS), make_comparable=True)
    return {m: float(scores[m]) for m in METRICS}, seconds


def run_beir(
    folder: Path,
    split: str,
    index_dir: Path,
    settings: Settings,
    embedder: Embedder,
    modes: Sequence[RetrievalMode] = ("bm25", "dense", "hybrid"),
    k: int = 100,
    progress: bool = True,
    build_progress: Progress | None = None,
) -> BeirResult:
    """Index a BEIR folder's corpus in ``index_dir`` (reused when unchanged) and score each mode.

    Retrievers are configured from ``settings``, as the service configures them.
    """
    beir = load_beir(folder, split)
    index_settings = settings.index_settings(embedder)
    report = build_beir_index(beir, index_dir, index_settings, embedder, progress=build_progress)
    index = load_index(index_dir, index_settings)
    result = BeirResult(
        dataset=beir.name,
        split=split,
        query_count=len(beir.queries),
        doc_count=len(beir.corpus),
        chunk_count=len(index),
        index_status="reused" if report.status == "unchanged" else "built",
        index_seconds=report.seconds,
        embedded=report.embedded,
        reused_vectors=report.reused if report.status == "built" else report.chunk_count,
    )
    if any(mode != "bm25" for mode in modes):
        embedder.encode_queries(["warm-up"])  # load the model before timing
    for mode in modes:
        retriever = settings.retriever(index, embedder, mode)
        metrics, seconds = evaluate_retriever(retriever, beir, k=k, progress=progress, desc=mode)
        result.metrics[mode] = metrics
        result.query_seconds[mode] = seconds
        result.queries_per_second[mode] = len(beir.queries) / seconds if seconds > 0 else float("inf")
    return result
