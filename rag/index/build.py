"""`rag index build`: incremental, crash-safe index builds.

- Nothing changed (same files, same settings): a no-op that does not load the model.
- Some guides changed: the rows of the unchanged guides are carried over as they
  are (records, vectors and BM25 postings copied, not re-cut, re-embedded or
  re-scored), so an update costs what changed plus a copy. The changed guides are
  re-cut, and only chunks whose embedded text is new are embedded; the rest reuse
  the serving index's vectors, keyed by a hash of (model, embedded text).
- A changed model or chunker setting re-embeds everything.
- The new index is written to a fresh staging folder beside the target and
  swapped in with one atomic rename; a failed or killed build leaves the
  serving index untouched.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import logging
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import faiss
import numpy as np

from rag.core.errors import CorpusError, IndexBuildError, IndexIncompatibleError, RagError
from rag.core.types import Chunk, Document
from rag.encoders.embedding import Embedder, PassageEncoder, passage_text
from rag.index import ann
from rag.index.alignment import ALIGNMENT_VECTORS, Thresholds, align_guides, write_alignment
from rag.index.bm25 import BM25Index
from rag.index.outline import write_outline
from rag.index.passages import PASSAGES, Passages, dropped_rows
from rag.index.rows import RowFile
from rag.index.segments import Segment, vector_files
from rag.index.store import (
    BM25_DIR,
    FAISS_FILE,
    SENTENCE_OFFSETS,
    IndexManifest,
    IndexSettings,
    NewRows,
    read_manifest,
    verify_files,
    write_index,
)
from rag.index.vector_cache import CachedEncode
from rag.index.words import WORD_VECTORS, guide_words
from rag.ingest.chunking import chunk_document
from rag.ingest.corpus import corpus_digests, load_corpus
from rag.ingest.formats import EXTRACTED_DIR, needs_extraction
from rag.ingest.metadata import CATALOGUE

#: Opens a progress display for `total` texts and yields `advance(n)` (the CLI's bar, for one).
Progress = Callable[[int], AbstractContextManager[Callable[[int], None]]]

log = logging.getLogger(__name__)


@dataclass
class BuildReport:
    status: str  # "unchanged" or "built"
    chunk_count: int
    embedded: int = 0
    reused: int = 0
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def build_index(
    corpus_dir: Path,
    index_dir: Path,
    settings: IndexSettings,
    embedder: Embedder,
    *,
    force: bool = False,
    progress: Progress | None = None,
    encoder: PassageEncoder | None = None,
) -> BuildReport:
    """Build or update the index in `index_dir` from the guides in `corpus_dir`.

    `encoder` embeds the passages (default: `embedder` in this process; see
    rag.encoders.distributed for a Ray cluster); `progress(total)` opens a progress display
    (e.g. the CLI's bar) and yields `advance(n)`."""
    files = corpus_digests(corpus_dir)
    return update_index(index_dir, settings, embedder, files, lambda: load_corpus(corpus_dir), force=force,
                        progress=progress, encoder=encoder)


def update_index(
    index_dir: Path,
    settings: IndexSettings,
    embedder: Embedder,
    files: dict[str, str],
    documents: Callable[[], list[Document]],
    *,
    force: bool = False,
    progress: Progress | None = None,
    encoder: PassageEncoder | None = None,
) -> BuildReport:
    """One build at a time per folder: nothing to do (and no model loaded) when the serving
    index has these settings and `files` (name → sha256); otherwise `documents()` is
    indexed, reusing what vectors it can (see `write_documents`)."""
    started = time.perf_counter()
    with build_lock(index_dir):
        old = previous_manifest(index_dir)
        if not force and old and old.settings == settings and {**old.files, **old.skipped} == files:
            return BuildReport("unchanged", old.chunk_count, skipped=old.skipped, seconds=time.perf_counter() - started)
        report = write_documents(documents(), index_dir, settings, embedder, old=old, files=files, progress=progress,
                                 encoder=encoder)
    previous = {**old.files, **old.skipped} if old else {}
    report.added = sorted(set(files) - set(previous))
    report.changed = sorted(n for n in files if n in previous and previous[n] != files[n])
    report.removed = sorted(set(previous) - set(files))
    report.seconds = time.perf_counter() - started
    return report


def write_documents(
    docs: list[Document],
    index_dir: Path,
    settings: IndexSettings,
    embedder: Embedder,
    *,
    old: IndexManifest | None = None,
    files: dict[str, str] | None = None,
    progress: Progress | None = None,
    encoder: PassageEncoder | None = None,
) -> BuildReport:
    """Chunk, embed (reusing `old`'s vectors where the text is unchanged) and swap in an index of `docs`.

    `files` lists every corpus file seen (name → sha256); those not among `docs`
    are recorded as skipped, so an unchanged corpus is still recognised as such.
    The rows of guides unchanged since `old` are carried over as they are, not
    chunked, embedded or scored again (`_PreviousIndex.carried`).
    """
    template = settings.passage_template
    files = files or {}
    previous = _previous_index(index_dir, old, settings) if old else None
    carried = previous.carried(docs, old, files) if previous and old else {}
    layout = _lay_out(docs, carried, lambda doc: chunk_document(
        doc, settings.chunker, lambda c: embedder.fits(passage_text(c, template))))
    if not layout.size:
        raise CorpusError("no text to index")
    chunks = layout.chunks
    texts = [passage_text(c, template) for c in chunks]
    sentence_texts = [[passage_text(replace(c, text=q.text), template) for q in c.quotes()] for c in chunks]
    all_texts = texts + [t for group in sentence_texts for t in group]
    keys = [_embedding_key(settings.model, t) for t in all_texts]
    cache = previous.rows_by_key(layout.moves) if previous else {}
    missing = sorted({k: i for i, k in enumerate(keys) if k not in cache}.values())
    fresh = _encode(encoder or embedder.encode_passages, [all_texts[i] for i in missing], progress) if missing else None
    fresh_rows = {keys[i]: j for j, i in enumerate(missing)}
    vectors = np.empty((len(keys), settings.dim), dtype=np.float32)
    reused = np.array([i for i, k in enumerate(keys) if k in cache], dtype=np.int64)
    if previous is not None and len(reused):
        vectors[reused] = previous.rows(np.array([cache[keys[i]] for i in reused], dtype=np.int64))
    if fresh is not None:
        new = np.array([i for i, k in enumerate(keys) if k not in cache], dtype=np.int64)
        vectors[new] = np.asarray(fresh, dtype=np.float32)[[fresh_rows[keys[i]] for i in new]]
    hashes, sentence_hashes = keys[: len(chunks)], _regroup(keys[len(chunks) :], sentence_texts)
    doc_files = {d.doc: d.sha256 for d in docs}
    catalogue = {name: digest for name, digest in files.items() if name == CATALOGUE}
    skipped = {name: digest for name, digest in files.items() if name not in doc_files and name not in catalogue}
    doc_files |= catalogue
    rows = NewRows(layout.size, layout.moves, layout.rows, chunks, hashes, sentence_hashes, vectors[: len(chunks)],
                   vectors[len(chunks) :], previous.folder if previous else None, previous.segments if previous else [])
    new_rows = previous.new_rows(layout.moves) if previous else np.zeros(0, dtype=np.int64)
    bm25 = (previous.bm25 if previous else BM25Index.empty(settings.bm25)).updated(new_rows, layout.size, layout.rows, texts)
    thresholds = Thresholds.load()
    # The previous build's vectors of the editions' headings and items and of the guides' words, when its
    # vectors can be reused at all.
    reusable = index_dir if previous is not None else None
    node_encode = CachedEncode.load(embedder.encode_queries, reusable, ALIGNMENT_VECTORS)
    word_encode = CachedEncode.load(embedder.encode_queries, reusable, WORD_VECTORS)

    def faiss_index(all_vectors: RowFile) -> faiss.Index:
        updated = previous.updated_faiss_index(new_rows, layout.rows, all_vectors) if previous else None
        return updated if updated is not None else ann.make_index(all_vectors)

    def write(staging: Path) -> None:
        write_outline(staging, docs, previous.folder if previous else None, carried)
        write_alignment(staging, align_guides(docs, chunks, node_encode, thresholds), thresholds)
        node_encode.save(staging, ALIGNMENT_VECTORS)
        word_encode(guide_words(chunks, word_encode.known if carried else None))
        word_encode.save(staging, WORD_VECTORS)
        write_index(staging, settings, doc_files, skipped, rows, bm25, faiss_index)
        _write_extracted(staging, docs)

    _swap_in(index_dir, write)
    chunk_missing = sum(1 for k in keys[: len(chunks)] if k not in cache)
    return BuildReport(
        status="built", chunk_count=layout.size, embedded=chunk_missing, reused=layout.size - chunk_missing, skipped=skipped
    )


@dataclass
class _Layout:
    """Where each guide's rows go in the new index: carried over from the previous index, or chunked anew."""

    size: int
    moves: list[tuple[int, int, int]]  # (old start, old stop, new start) of each carried guide's rows
    rows: np.ndarray  # the new row of each chunk in `chunks`
    chunks: list[Chunk]


def _lay_out(docs: list[Document], carried: dict[str, tuple[int, int]],
             chunk: Callable[[Document], list[Chunk]]) -> _Layout:
    """The rows of `docs` in order: a carried guide's old rows, or `chunk(doc)`."""
    moves: list[tuple[int, int, int]] = []
    chunks: list[Chunk] = []
    rows: list[int] = []
    at = 0
    for doc in docs:
        if doc.doc in carried:
            start, stop = carried[doc.doc]
            if moves and moves[-1][1] == start and moves[-1][2] + start - moves[-1][0] == at:
                first, _, to = moves.pop()  # guides carried together with their neighbours: one range
                moves.append((first, stop, to))
            else:
                moves.append((start, stop, at))
            at += stop - start
        else:
            new = chunk(doc)
            chunks += new
            rows += range(at, at + len(new))
            at += len(new)
    return _Layout(at, moves, np.array(rows, dtype=np.int64), chunks)


def _write_extracted(folder: Path, docs: list[Document]) -> None:
    """The text chunked from each HTML/PDF guide: its chunks' `start`/`end` point into it."""
    for doc in docs:
        if needs_extraction(doc.doc):
            (folder / EXTRACTED_DIR).mkdir(exist_ok=True)
            (folder / EXTRACTED_DIR / f"{doc.doc}.txt").write_text(doc.raw, encoding="utf-8")


def _encode(encoder: PassageEncoder, texts: list[str], progress: Progress | None) -> np.ndarray:
    if progress is None:
        return encoder(texts, None)
    with progress(len(texts)) as advance:
        return encoder(texts, advance)


def _regroup(flat: list[str], groups: list[list[str]]) -> list[list[str]]:
    it = iter(flat)
    return [[next(it) for _ in group] for group in groups]


def _embedding_key(model: str, text: str) -> str:
    return hashlib.sha256(f"{model}\0{text}".encode()).hexdigest()


def previous_manifest(index_dir: Path) -> IndexManifest | None:
    """The manifest of the index in `index_dir`, or None when there is none readable."""
    try:
        return read_manifest(index_dir)
    except RagError:
        return None


@dataclass
class _PreviousIndex:
    """What a build reuses of the serving index: the rows of unchanged guides, vectors by embedding key,
    its BM25 postings and its FAISS index."""

    folder: Path
    segments: list[Segment]
    passages: Passages
    vectors: RowFile
    sentence_vectors: RowFile
    sentence_offsets: np.ndarray
    bm25: BM25Index

    def carried(self, docs: list[Document], old: IndexManifest, files: dict[str, str]) -> dict[str, tuple[int, int]]:
        """The rows `start:stop` of each guide that can be carried over as it is: same file, same
        catalogue (titles, editions), and not part of an edition series (the alignment reads its chunks)."""
        if files.get(CATALOGUE) != old.files.get(CATALOGUE):
            return {}
        doc_rows = self.passages.doc_rows()
        return {d.doc: doc_rows[d.doc] for d in docs
                if d.doc in doc_rows and old.files.get(d.doc) == files.get(d.doc) == d.sha256 and not (d.series and d.edition)}

    def rows_by_key(self, moves: list[tuple[int, int, int]]) -> dict[str, int]:
        """Embedding key → row in `rows`, of the rows not carried over (chunk rows first, then sentence rows):
        the vectors a changed guide may reuse."""
        found: dict[str, int] = {}
        for start, stop in dropped_rows(moves, len(self.passages)):
            hashes, sentence_hashes = self.passages.keys(start, stop)
            found |= {k: start + r for r, k in enumerate(hashes)}
            first = len(self.passages) + int(self.sentence_offsets[start])
            found |= {k: first + r for r, k in enumerate(k for keys in sentence_hashes for k in keys)}
        return found

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """The vectors of `rows` (numbered as in `rows_by_key`), read from the segment files."""
        n = len(self.passages)
        out = np.empty((len(rows), self.vectors.shape[1]), dtype=np.float32)
        chunk = rows < n
        out[chunk] = self.vectors[rows[chunk]]
        out[~chunk] = self.sentence_vectors[rows[~chunk] - n]
        return out

    def new_rows(self, moves: list[tuple[int, int, int]]) -> np.ndarray:
        """Where each old row goes (-1: not carried over)."""
        new_rows = np.full(len(self.passages), -1, dtype=np.int64)
        for start, stop, to in moves:
            new_rows[start:stop] = np.arange(to, to + stop - start)
        return new_rows

    def updated_faiss_index(self, new_rows: np.ndarray, added_rows: np.ndarray, vectors: RowFile) -> faiss.Index | None:
        """The serving FAISS index with only the rows not carried over dropped and the new ones added
        (rag.index.ann), or None to make one anew."""
        try:
            old = ann.read_index(self.folder / FAISS_FILE)
        except RuntimeError as e:
            log.warning("not updating the FAISS index of %s: %s", self.folder, e)
            return None
        if old.ntotal != len(self.passages):
            return None
        return ann.updated_index(old, new_rows, added_rows, vectors)


def _previous_index(index_dir: Path, old: IndexManifest, settings: IndexSettings) -> _PreviousIndex | None:
    """The serving index's rows, vectors (read by row) and BM25 postings, or None if they cannot be trusted.

    Any settings change (model, chunker, template) forces a full re-embed, so an
    index never mixes vectors made under two configurations.
    """
    if old.settings != settings:
        return None
    try:
        verify_files(index_dir, old, full=False)  # never reuse vectors of a damaged index
        vectors, sentence_vectors = vector_files(index_dir, old.segments)
        previous = _PreviousIndex(
            folder=index_dir,
            segments=old.segments,
            passages=Passages(index_dir / PASSAGES),
            vectors=vectors,
            sentence_vectors=sentence_vectors,
            sentence_offsets=np.load(index_dir / SENTENCE_OFFSETS),
            bm25=BM25Index.load(index_dir / BM25_DIR, settings.bm25),
        )
    except (OSError, ValueError, KeyError, sqlite3.Error, IndexIncompatibleError) as e:
        log.warning("not reusing the rows of %s: %s", index_dir, e)
        return None
    n = len(previous.passages)
    if {n, len(previous.vectors), len(previous.sentence_offsets) - 1, previous.bm25.size} != {n} or \
            previous.sentence_offsets[-1] != len(previous.sentence_vectors):
        return None
    return previous


@contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """One build at a time per index folder; a second one fails fast with a clear message."""
    parent = _parent_folder(index_dir)
    lock_path = parent / f".{index_dir.name}.lock"
    try:
        handle = lock_path.open("w")
    except OSError as e:
        raise IndexBuildError(f"cannot write beside {index_dir} ({e.strerror}) — check the folder's permissions") from e
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            raise IndexBuildError(f"another build of {index_dir} is running — wait for it to finish") from e
        _remove_stale_staging(index_dir)
        yield


def _parent_folder(index_dir: Path) -> Path:
    parent = index_dir.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise IndexBuildError(f"cannot create {parent} ({e.strerror})") from e
    return parent


def _staging_glob(index_dir: Path) -> str:
    return f".{index_dir.name}.staging-*"


def _remove_stale_staging(index_dir: Path) -> None:
    for stale in index_dir.absolute().parent.glob(_staging_glob(index_dir)):
        shutil.rmtree(stale, ignore_errors=True)


def _swap_in(index_dir: Path, write) -> None:
    """Write a complete index into a staging folder, then atomically put it in place."""
    index_dir = index_dir.absolute()
    staging = index_dir.parent / f".{index_dir.name}.staging-{uuid.uuid4().hex[:8]}"
    try:
        write(staging)
        if index_dir.exists():
            _exchange(staging, index_dir)
            shutil.rmtree(staging, ignore_errors=True)
        else:
            os.rename(staging, index_dir)
    except OSError as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise IndexBuildError(f"could not write the index to {index_dir} ({e.strerror or e}); the previous index is untouched") from e
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> None:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE).

    Readers see either the old or the new folder at `b`, never a missing one.
    Where the call is unavailable, fall back to two renames (a brief gap).
    """
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS):
            raise OSError(err, os.strerror(err))
    backup = b.with_name(b.name + ".old")
    os.rename(b, backup)
    os.rename(a, b)
    os.rename(backup, a)
