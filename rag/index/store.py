"""The index folder: manifest, row-aligned chunks and vectors, FAISS and BM25 files.

Everything in it is a plain file readable without our code (JSON, JSONL, .npy,
SQLite, FAISS's own format, BM25 postings as .npy arrays). Loading verifies the manifest against the
code's settings and the files against the manifest's checksums, so a stale,
damaged or mismatched index is refused instead of giving silently wrong results.

Loading parses nothing but the manifest: the passages are read by row from
passages.sqlite (rag.index.passages), the vectors by row from their segment
files (rag.index.segments, rag.index.rows), the FAISS index is memory-mapped, so
a server starts in the same time at any corpus size. chunks.jsonl holds the same
records for readers without our code.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from importlib.metadata import version
from pathlib import Path

import faiss
import numpy as np
from pydantic import BaseModel, ValidationError

from rag.core.errors import IndexIncompatibleError, IndexNotFoundError
from rag.core.types import Chunk
from rag.encoders.embedding import PassageTemplate
from rag.index import ann
from rag.index.alignment import ALIGNMENT, Alignment
from rag.index.bm25 import BM25Index, BM25Settings
from rag.index.lines import line_starts, write_parts
from rag.index.outline import OUTLINE, Outline
from rag.index.passages import PASSAGES, Passages, update_passages, write_passages
from rag.index.rows import RowFile
from rag.index.segments import RowSource, Segment, plan_segments, vector_files, write_segments
from rag.ingest.chunking import ChunkerSettings
from rag.ingest.metadata import CATALOGUE

FORMAT_VERSION = 6  # 4: passages.sqlite; 5: BM25 term counts, IDF at query time; 6: vectors in segments
MANIFEST = "manifest.json"
CHUNKS = "chunks.jsonl"
SENTENCE_OFFSETS = "sentence_offsets.npy"
FAISS_FILE = "faiss.index"
BM25_DIR = "bm25"
# Checksummed besides the segments' vector files (rag.index.segments).
CHECKSUMMED = (CHUNKS, PASSAGES, FAISS_FILE, SENTENCE_OFFSETS, OUTLINE, ALIGNMENT)
# Files up to this size are checksummed at every load; larger ones (vectors, FAISS lists of
# big indexes) only have their size checked, and `rag index verify` checksums them all.
CHECKSUM_AT_LOAD_BYTES = 64 << 20
REBUILD_HINT = "run 'rag index build'"
# A damaged folder still lists the same corpus and settings, so a plain build would call it up to date.
DAMAGED_HINT = "run 'rag index build --force'"


class IndexSettings(BaseModel, frozen=True):
    """Everything that decides the content of an index besides the corpus itself."""

    model: str
    dim: int
    max_wordpieces: int
    chunker: ChunkerSettings
    passage_template: PassageTemplate
    bm25: BM25Settings
    # rag.ingest.corpus.PARSER_VERSION; None in indexes built before it was recorded.
    parser_version: int | None = None
    # The precision passages were embedded in (rag.encoders.embedding.EmbedDtype, resolved); None: float32,
    # in indexes built before it was recorded.
    embed_dtype: str | None = None


class IndexManifest(BaseModel):
    format_version: int
    settings: IndexSettings
    files: dict[str, str]
    skipped: dict[str, str] = {}
    chunk_count: int
    segments: list[Segment]  # the vector files, in row order (rag.index.segments)
    faiss_index: str
    checksums: dict[str, str]
    sizes: dict[str, int] = {}  # bytes per checksummed file; empty in indexes built before it was recorded
    built_at: str
    versions: dict[str, str]

    @property
    def documents(self) -> list[str]:
        """The guide files indexed: `files` without the corpus catalogue (guides.toml)."""
        return sorted(name for name in self.files if name != CATALOGUE)


@dataclass
class Index:
    """A loaded, verified index."""

    folder: Path
    manifest: IndexManifest
    chunks: Passages
    vectors: RowFile
    faiss_index: faiss.Index
    bm25: BM25Index
    # Chunk row r's sentences are rows offsets[r]:offsets[r + 1] of sentence_vectors.
    sentence_vectors: RowFile
    sentence_offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.chunks)

    def dense_search(self, query_vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows) of the k nearest chunks by inner product, per query row (a compressed
        index's shortlist re-ranked with the float32 vectors, rag.index.ann.search)."""
        return ann.search(self.faiss_index, query_vectors, min(k, len(self.chunks)), self.vectors)

    @cached_property
    def outline(self) -> Outline:
        """The guides' sentences with their sections, lists and items (rag.index.outline)."""
        return Outline.load(self.folder, self.chunks.at)

    @cached_property
    def guides(self) -> list[Chunk]:
        """One chunk per indexed document, in file-name order: its `doc`, `title`, `edition` and `series`."""
        first: dict[str, Chunk] = {}
        for chunk in self.chunks:
            first.setdefault(chunk.doc, chunk)
        return [first[doc] for doc in sorted(first)]

    @cached_property
    def alignment(self) -> Alignment:
        """The editions' sections and items matched across editions (rag.index.alignment)."""
        return Alignment.load(self.folder)

    @cached_property
    def editions(self) -> frozenset[str]:
        return self.chunks.editions()

    def sentence_vectors_of(self, chunk_id: str) -> np.ndarray | None:
        """Stored vectors of a chunk's sentences, in `chunk.quotes()` order; None if unknown."""
        row = self.chunks.row_of(chunk_id)
        if row is None:
            return None
        return self.sentence_vectors[self.sentence_offsets[row] : self.sentence_offsets[row + 1]]

    def sentence_scores(self, query_vector: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """For each chunk row: the highest cosine between the query and one of its sentences,
        and the cosines of all its sentences (in `chunk.quotes()` order). With several query
        vectors (the columns of a (dim, m) `query_vector`) each score is a row of m."""
        starts, ends = self.sentence_offsets[rows], self.sentence_offsets[rows + 1]
        lengths = ends - starts
        if len(rows) == 0 or lengths.sum() == 0:
            columns = query_vector.shape[1:]
            return np.zeros((len(rows), *columns)), [np.zeros((0, *columns)) for _ in rows]
        bounds = np.cumsum(lengths)
        scores = self.sentence_vectors.ranges(starts, ends) @ query_vector
        return np.maximum.reduceat(scores, bounds - lengths), np.split(scores, bounds[:-1])

    def best_sentence_scores(self, query_vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """For each chunk row, the highest cosine between the query and one of its sentences."""
        return self.sentence_scores(query_vector, rows)[0]


@dataclass
class NewRows:
    """The rows of an index being written: the rows `start:stop` of the index in `previous` go to
    `to:` for each (start, stop, to) of `moves`, as they are; `chunks[i]` is row `rows[i]`, with
    its embedding key, its sentences' keys, its vector and its sentences' vectors (in order)."""

    size: int
    moves: list[tuple[int, int, int]]
    rows: np.ndarray
    chunks: list[Chunk]
    hashes: list[str]
    sentence_hashes: list[list[str]]
    vectors: np.ndarray
    sentence_vectors: np.ndarray
    previous: Path | None
    previous_segments: list[Segment]

    def sentence_counts(self) -> np.ndarray:
        """Sentences per new row."""
        counts = np.zeros(self.size, dtype=np.int64)
        if self.previous is not None and self.moves:
            old = np.diff(np.load(self.previous / SENTENCE_OFFSETS))
            for start, stop, to in self.moves:
                counts[to : to + stop - start] = old[start:stop]
        counts[self.rows] = [len(h) for h in self.sentence_hashes]
        return counts


def write_index(
    folder: Path,
    settings: IndexSettings,
    files: dict[str, str],
    skipped: dict[str, str],
    rows: NewRows,
    bm25: BM25Index,
    make_faiss_index: Callable[[RowFile], faiss.Index] = ann.make_index,
) -> IndexManifest:
    """Write a complete index into `folder` (a fresh staging folder); the manifest goes last.

    Carried rows are copied from the previous index's files without being parsed, and the
    vector segments they fill whole are linked, not copied (rag.index.segments).
    `make_faiss_index` makes the vector index from the new chunk vectors (read by row;
    an updated one, see rag.index.ann.updated_index, or one made anew)."""
    folder.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        checksums = _Checksums(folder, pool)
        checksums.add([OUTLINE, ALIGNMENT])  # written before, by the caller
        _write_chunks(folder / CHUNKS, rows)
        checksums.add([CHUNKS])
        if rows.previous is None:
            write_passages(folder / PASSAGES, rows.chunks, rows.hashes, rows.sentence_hashes)
        else:
            update_passages(folder / PASSAGES, rows.previous / PASSAGES, rows.moves, rows.rows.tolist(), rows.chunks,
                            rows.hashes, rows.sentence_hashes)
        offsets = np.concatenate([[0], np.cumsum(rows.sentence_counts())]).astype(np.int64)
        np.save(folder / SENTENCE_OFFSETS, offsets)
        checksums.add([PASSAGES, SENTENCE_OFFSETS])
        segments, linked = _write_vectors(folder, rows, offsets)
        vector_names = [name for s in segments for name in (s.vectors, s.sentence_vectors)]
        checksums.add([name for name in vector_names if name not in linked])
        names = [*CHECKSUMMED, *vector_names]
        faiss_index = make_faiss_index(vector_files(folder, segments)[0])
        ann.write_index(faiss_index, folder / FAISS_FILE)
        checksums.add([FAISS_FILE])
        bm25.save(folder / BM25_DIR)
        manifest = IndexManifest(
            format_version=FORMAT_VERSION,
            settings=settings,
            files=files,
            skipped=skipped,
            chunk_count=rows.size,
            segments=segments,
            faiss_index=type(faiss_index).__name__,
            checksums=checksums.of(names, linked),
            sizes={name: (folder / name).stat().st_size for name in names},
            built_at=datetime.now(UTC).isoformat(timespec="seconds"),
            versions=_library_versions(),
        )
    _write_json(folder / MANIFEST, manifest.model_dump())
    return manifest


def _write_vectors(folder: Path, rows: NewRows, offsets: np.ndarray) -> tuple[list[Segment], dict[str, str]]:
    """The chunk and sentence vectors of `rows` as segments (chunk row r's sentences are rows
    offsets[r]:offsets[r + 1]), and the checksum of each file linked from the previous index."""
    old_offsets = np.load(rows.previous / SENTENCE_OFFSETS) if rows.previous is not None else None
    sentence_moves = [(int(old_offsets[a]), int(old_offsets[b]), int(offsets[to])) for a, b, to in rows.moves] \
        if old_offsets is not None else []
    counts = offsets[rows.rows + 1] - offsets[rows.rows]
    sentence_rows = np.repeat(offsets[rows.rows] - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
    previous = vector_files(rows.previous, rows.previous_segments) \
        if rows.previous is not None and rows.previous_segments else (None, None)
    segments, linked = write_segments(
        folder, plan_segments(rows.previous_segments, rows.moves, rows.size), rows.previous, offsets,
        RowSource(rows.moves, previous[0], rows.rows, rows.vectors),
        RowSource(sentence_moves, previous[1], sentence_rows, rows.sentence_vectors))
    old_checksums = read_manifest(rows.previous).checksums if linked and rows.previous is not None else {}
    return segments, {name: old_checksums[name] for name in linked}


def _write_chunks(path: Path, rows: NewRows) -> None:
    """chunks.jsonl: carried rows as the bytes of the previous index's lines, new rows from `rows.chunks`."""
    previous = rows.previous / CHUNKS if rows.previous is not None and rows.moves else None
    count = sum(segment.rows for segment in rows.previous_segments)
    starts = _row_starts(previous, rows.moves, count) if previous is not None else {}
    parts = sorted([(to, start, stop) for start, stop, to in rows.moves] + [(r, -1, i) for i, r in enumerate(rows.rows.tolist())])

    def line(i: int) -> bytes:
        row = {**rows.chunks[i].to_json(), "hash": rows.hashes[i], "sentence_hashes": rows.sentence_hashes[i]}
        return (json.dumps(row, ensure_ascii=False) + "\n").encode()

    write_parts(path, ((starts[start], starts[stop]) if start >= 0 else line(stop) for _, start, stop in parts), previous)


def _row_starts(chunks: Path, moves: Sequence[tuple[int, int, int]], count: int) -> dict[int, int]:
    """Where each row that starts or ends a move starts in the `chunks` file of `count` rows, in bytes
    (row `count` at the file's end: the rows carried last are found without reading that far)."""
    bounds = sorted({row for start, stop, _ in moves for row in (start, stop)} - {count})
    return dict(zip(bounds, line_starts(chunks, bounds), strict=True)) | {count: chunks.stat().st_size}


def read_manifest(folder: Path) -> IndexManifest:
    path = folder / MANIFEST
    if not path.is_file():
        raise IndexNotFoundError(f"no index in {folder} — {REBUILD_HINT}")
    try:
        manifest = IndexManifest.model_validate_json(path.read_bytes())
    except ValidationError as e:
        raise IndexIncompatibleError(f"index manifest {path} is unreadable — {REBUILD_HINT}") from e
    if manifest.format_version != FORMAT_VERSION:
        raise IndexIncompatibleError(
            f"index in {folder} has format {manifest.format_version}, this code reads {FORMAT_VERSION} — {REBUILD_HINT}"
        )
    return manifest


def load_index(folder: Path, settings: IndexSettings) -> Index:
    """Load and verify the index in `folder` against the code's `settings`."""
    manifest = read_manifest(folder)
    if manifest.settings != settings:
        raise IndexIncompatibleError(
            f"index in {folder} was built with other settings ({_settings_diff(manifest.settings, settings)}) — {REBUILD_HINT}"
        )
    verify_files(folder, manifest, full=False)
    try:
        passages = Passages(folder / PASSAGES)
    except sqlite3.Error as e:
        raise IndexIncompatibleError(f"{folder / PASSAGES} is unreadable — {DAMAGED_HINT}") from e
    try:
        vectors, sentence_vectors = vector_files(folder, manifest.segments)  # read by row: FAISS has its own copy
    except (OSError, ValueError) as e:
        raise IndexIncompatibleError(f"vector files in {folder} are unreadable — {DAMAGED_HINT}") from e
    faiss_index = ann.read_index(folder / FAISS_FILE)
    try:
        bm25 = BM25Index.load(folder / BM25_DIR, settings.bm25)
    except (OSError, ValueError, KeyError) as e:
        raise IndexIncompatibleError(f"BM25 files in {folder / BM25_DIR} are unreadable — {DAMAGED_HINT}") from e
    sentence_offsets = np.load(folder / SENTENCE_OFFSETS)
    sizes = {len(passages), vectors.shape[0], faiss_index.ntotal, bm25.size, manifest.chunk_count, len(sentence_offsets) - 1}
    if len(sizes) != 1 or vectors.shape[1] != settings.dim or sentence_offsets[-1] != len(sentence_vectors):
        raise IndexIncompatibleError(f"index files in {folder} are not row-aligned — {DAMAGED_HINT}")
    return Index(
        folder=folder,
        manifest=manifest,
        chunks=passages,
        vectors=vectors,
        faiss_index=faiss_index,
        bm25=bm25,
        sentence_vectors=sentence_vectors,
        sentence_offsets=sentence_offsets,
    )


def verify_files(folder: Path, manifest: IndexManifest, *, full: bool = True) -> None:
    """Refuse a missing or damaged file. Every file's size is checked; its checksum too when `full`,
    or else for the smallest files up to CHECKSUM_AT_LOAD_BYTES in all (what a load can hash in a
    moment: at a million passages the ~120 vector segments alone are 5 GB)."""
    budget = CHECKSUM_AT_LOAD_BYTES
    for name, checksum in sorted(manifest.checksums.items(), key=lambda item: manifest.sizes.get(item[0], 0)):
        path, size = folder / name, manifest.sizes.get(name)
        hashed = full or size is None or size <= budget
        budget -= size if hashed and size is not None and not full else 0
        if not path.is_file() or not _intact(path, checksum, size, hashed):
            raise IndexIncompatibleError(f"index file {path} is missing or damaged — {DAMAGED_HINT}")


def _intact(path: Path, checksum: str, size: int | None, hashed: bool) -> bool:
    actual = path.stat().st_size
    if size is not None and actual != size:
        return False
    return _sha256(path) == checksum if hashed else True


def _settings_diff(built: IndexSettings, wanted: IndexSettings) -> str:
    a, b = built.model_dump(), wanted.model_dump()
    return ", ".join(f"{key}: {a[key]} ≠ {b[key]}" for key in a if a[key] != b[key])


class _Checksums:
    """sha256 of the files of a folder being written, each hashed on a spare core as soon as it
    is complete (hashlib lets go of the GIL), so that the hashing overlaps the writing of the next
    files instead of following it (at a million passages ~2 GB are hashed)."""

    def __init__(self, folder: Path, pool: ThreadPoolExecutor) -> None:
        self._folder = folder
        self._pool = pool
        self._started: dict[str, Future[str]] = {}

    def add(self, names: Iterable[str]) -> None:
        """Start hashing `names`, complete files of the folder."""
        for name in names:
            self._started[name] = self._pool.submit(_sha256, self._folder / name)

    def of(self, names: Sequence[str], known: dict[str, str]) -> dict[str, str]:
        """The checksum of each of `names`: those `known` as they are (a file linked from the previous
        index is the same inode, so the same bytes, as the one it checksummed), the rest as hashed."""
        return {name: known[name] if name in known else self._started[name].result() for name in names}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _library_versions() -> dict[str, str]:
    packages = ("guides-qa", "sentence-transformers", "faiss-cpu", "numpy", "bm25s", "tiktoken")
    found = {}
    for name in packages:
        try:
            found[name] = version(name)
        except Exception:  # noqa: BLE001 - a missing distribution just goes unrecorded
            continue
    return found
