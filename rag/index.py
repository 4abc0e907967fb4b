"""The index folder: manifest, row-aligned chunks and vectors, FAISS and BM25 files.

Everything in it is a plain file readable without our code (JSON, JSONL, .npy,
FAISS's own format, bm25s's arrays). Loading verifies the manifest against the
code's settings and the files against the manifest's checksums, so a stale,
damaged or mismatched index is refused instead of giving silently wrong results.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import cached_property
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

import faiss
import numpy as np
from pydantic import BaseModel, ValidationError

from rag.bm25 import BM25Index, BM25Settings
from rag.chunking import ChunkerSettings
from rag.embedding import PassageTemplate
from rag.errors import IndexIncompatibleError, IndexNotFoundError
from rag.types import Chunk

FORMAT_VERSION = 2
MANIFEST = "manifest.json"
CHUNKS = "chunks.jsonl"
VECTORS = "embeddings.npy"
SENTENCE_VECTORS = "sentence_embeddings.npy"
SENTENCE_OFFSETS = "sentence_offsets.npy"
FAISS_FILE = "faiss.index"
BM25_DIR = "bm25"
# Exact search is fast enough (< ~15 ms on 2 cores) up to this many vectors;
# above it an HNSW graph keeps search in milliseconds at a small recall cost.
EXACT_SEARCH_LIMIT = 200_000
HNSW_M = 32
HNSW_EF_SEARCH = 256  # recall@10 0.988 at 1M synthetic vectors (128: 0.964); see bench/README.md
HNSW_EF_CONSTRUCTION = 80
REBUILD_HINT = "run 'rag index build'"


class IndexSettings(BaseModel, frozen=True):
    """Everything that decides the content of an index besides the corpus itself."""

    model: str
    dim: int
    max_wordpieces: int
    chunker: ChunkerSettings
    passage_template: PassageTemplate
    bm25: BM25Settings
    # rag.corpus.PARSER_VERSION; None in indexes built before it was recorded.
    parser_version: int | None = None


class IndexManifest(BaseModel):
    format_version: int
    settings: IndexSettings
    files: dict[str, str]
    skipped: dict[str, str] = {}
    chunk_count: int
    faiss_index: str
    checksums: dict[str, str]
    built_at: str
    versions: dict[str, str]


@dataclass
class Index:
    """A loaded, verified index."""

    folder: Path
    manifest: IndexManifest
    chunks: list[Chunk]
    hashes: list[str]
    vectors: np.ndarray
    faiss_index: faiss.Index
    bm25: BM25Index
    # Chunk row r's sentences are rows offsets[r]:offsets[r + 1] of sentence_vectors.
    sentence_vectors: np.ndarray
    sentence_offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.chunks)

    def dense_search(self, query_vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows) of the k nearest chunks by inner product, per query row."""
        k = min(k, len(self.chunks))
        return self.faiss_index.search(np.ascontiguousarray(query_vectors, dtype=np.float32), k)

    @cached_property
    def editions(self) -> frozenset[str]:
        return frozenset(c.edition for c in self.chunks if c.edition)

    @cached_property
    def _rows(self) -> dict[str, int]:
        return {c.chunk_id: i for i, c in enumerate(self.chunks)}

    def sentence_vectors_of(self, chunk_id: str) -> np.ndarray | None:
        """Stored vectors of a chunk's sentences, in `chunk.quotes()` order; None if unknown."""
        row = self._rows.get(chunk_id)
        if row is None:
            return None
        return np.asarray(self.sentence_vectors[self.sentence_offsets[row] : self.sentence_offsets[row + 1]])

    def sentence_scores(self, query_vector: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """For each chunk row: the highest cosine between the query and one of its sentences,
        and the cosines of all its sentences (in `chunk.quotes()` order)."""
        starts, ends = self.sentence_offsets[rows], self.sentence_offsets[rows + 1]
        lengths = ends - starts
        if len(rows) == 0 or lengths.sum() == 0:
            return np.zeros(len(rows)), [np.zeros(0) for _ in rows]
        bounds = np.cumsum(lengths)
        members = np.repeat(starts - bounds + lengths, lengths) + np.arange(bounds[-1])
        scores = self.sentence_vectors[members] @ query_vector
        return np.maximum.reduceat(scores, bounds - lengths), np.split(scores, bounds[:-1])

    def best_sentence_scores(self, query_vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """For each chunk row, the highest cosine between the query and one of its sentences."""
        return self.sentence_scores(query_vector, rows)[0]


# Queries arrive one at a time: OpenMP threads only add overhead to a single-query
# search (measured: 16 ms with 2 threads vs 0.2 ms with 1 at 10k vectors). Builds
# use every core (make_faiss_index).
faiss.omp_set_num_threads(1)


def make_faiss_index(vectors: np.ndarray) -> faiss.Index:
    """Exact inner-product index, or HNSW above EXACT_SEARCH_LIMIT vectors."""
    dim = vectors.shape[1]
    if len(vectors) <= EXACT_SEARCH_LIMIT:
        index = faiss.IndexFlatIP(dim)
    else:
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    try:
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    finally:
        faiss.omp_set_num_threads(1)
    return index


def write_index(
    folder: Path,
    settings: IndexSettings,
    files: dict[str, str],
    skipped: dict[str, str],
    chunks: list[Chunk],
    hashes: list[str],
    vectors: np.ndarray,
    sentence_hashes: list[list[str]],
    sentence_vectors: np.ndarray,
    bm25: BM25Index,
) -> IndexManifest:
    """Write a complete index into `folder` (a fresh staging folder); the manifest goes last."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / CHUNKS).open("w", encoding="utf-8") as f:
        for chunk, digest, sentence_digests in zip(chunks, hashes, sentence_hashes, strict=True):
            row = {**chunk.to_json(), "hash": digest, "sentence_hashes": sentence_digests}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    np.save(folder / VECTORS, vectors.astype(np.float32))
    np.save(folder / SENTENCE_VECTORS, sentence_vectors.astype(np.float32))
    np.save(folder / SENTENCE_OFFSETS, np.cumsum([0] + [len(h) for h in sentence_hashes]).astype(np.int64))
    faiss_index = make_faiss_index(vectors)
    faiss.write_index(faiss_index, str(folder / FAISS_FILE))
    bm25.save(folder / BM25_DIR)
    manifest = IndexManifest(
        format_version=FORMAT_VERSION,
        settings=settings,
        files=files,
        skipped=skipped,
        chunk_count=len(chunks),
        faiss_index=type(faiss_index).__name__,
        checksums={name: _sha256(folder / name) for name in (CHUNKS, VECTORS, FAISS_FILE, SENTENCE_VECTORS, SENTENCE_OFFSETS)},
        built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        versions=_library_versions(),
    )
    _write_json(folder / MANIFEST, manifest.model_dump())
    return manifest


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
    for name, expected in manifest.checksums.items():
        if not (folder / name).is_file() or _sha256(folder / name) != expected:
            raise IndexIncompatibleError(f"index file {folder / name} is missing or damaged — {REBUILD_HINT}")
    rows = [json.loads(line) for line in (folder / CHUNKS).read_text(encoding="utf-8").splitlines()]
    vectors = np.load(folder / VECTORS, mmap_mode="r")  # FAISS holds its own copy; don't hold two
    # Memory-mapped vectors: loading is near-instant and the page cache, not this process, holds them.
    faiss_index = faiss.read_index(str(folder / FAISS_FILE), faiss.IO_FLAG_MMAP_IFC)
    try:
        bm25 = BM25Index.load(folder / BM25_DIR, settings.bm25)
    except (OSError, ValueError, KeyError) as e:
        raise IndexIncompatibleError(f"BM25 files in {folder / BM25_DIR} are unreadable — {REBUILD_HINT}") from e
    sentence_vectors = np.load(folder / SENTENCE_VECTORS, mmap_mode="r")
    sentence_offsets = np.load(folder / SENTENCE_OFFSETS)
    sizes = {len(rows), vectors.shape[0], faiss_index.ntotal, bm25.size, manifest.chunk_count, len(sentence_offsets) - 1}
    if len(sizes) != 1 or vectors.shape[1] != settings.dim or sentence_offsets[-1] != len(sentence_vectors):
        raise IndexIncompatibleError(f"index files in {folder} are not row-aligned — {REBUILD_HINT}")
    return Index(
        folder=folder,
        manifest=manifest,
        chunks=[Chunk.from_json(r) for r in rows],
        hashes=[r["hash"] for r in rows],
        vectors=vectors,
        faiss_index=faiss_index,
        bm25=bm25,
        sentence_vectors=sentence_vectors,
        sentence_offsets=sentence_offsets,
    )


def _settings_diff(built: IndexSettings, wanted: IndexSettings) -> str:
    a, b = built.model_dump(), wanted.model_dump()
    return ", ".join(f"{key}: {a[key]} ≠ {b[key]}" for key in a if a[key] != b[key])


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
