"""passages.sqlite: chunk records read by row, id and place; old index folders refused with the fix."""

import json
from pathlib import Path

import pytest

from rag.core.errors import IndexIncompatibleError
from rag.core.types import Chunk
from rag.index.passages import PASSAGES, Passages, write_passages
from rag.index.store import MANIFEST, load_index
from rag.settings import Settings


def _chunk(doc: str, n: int, start: int, edition: str | None = None) -> Chunk:
    return Chunk(f"{doc}:{n:04d}", doc, "Intro", f"text {doc} {n} — é", start, start + 10, edition=edition,
                 sentences=((0, 4, start, start + 4),), filler=(None,))


@pytest.fixture
def passages(tmp_path: Path) -> tuple[list[Chunk], Passages]:
    chunks = [_chunk("a.md", 0, 0, "2024"), _chunk("a.md", 1, 10, "2024"), _chunk("b.md", 0, 0, "2026")]
    write_passages(tmp_path / PASSAGES, chunks, ["h0", "h1", "h2"], [["s0"], ["s1", "s1b"], []])
    return chunks, Passages(tmp_path / PASSAGES)


def test_passages_read_back_by_row_id_and_place(passages):
    chunks, stored = passages
    assert len(stored) == 3 and list(stored) == chunks and stored[2] == chunks[2] and stored[-1] == chunks[2]
    assert stored.row_of("a.md:0001") == 1 and stored.row_of("nope") is None
    assert stored.at("a.md", 12) == chunks[1] and stored.at("a.md", 25) is None and stored.at("c.md", 0) is None
    assert stored.editions() == frozenset({"2024", "2026"})
    assert stored.keys() == (["h0", "h1", "h2"], [["s0"], ["s1", "s1b"], []])
    with pytest.raises(IndexError):
        stored[3]


def test_index_of_an_older_format_is_refused_with_the_fix(index_copy: Path, embedder):
    manifest = json.loads((index_copy / MANIFEST).read_text())
    (index_copy / MANIFEST).write_text(json.dumps({**manifest, "format_version": 3}))
    with pytest.raises(IndexIncompatibleError, match="format 3.*rag index build"):
        load_index(index_copy, Settings().index_settings(embedder))


def test_loaded_index_reads_passages_from_sqlite_not_chunks_jsonl(index_copy: Path, embedder, monkeypatch):
    monkeypatch.setattr("rag.index.store.CHECKSUM_AT_LOAD_BYTES", 1024)  # as at a large index: sizes only
    (index_copy / "chunks.jsonl").write_bytes(b"x" * (index_copy / "chunks.jsonl").stat().st_size)
    index = load_index(index_copy, Settings().index_settings(embedder))
    row = index.chunks.row_of(index.chunks[5].chunk_id)
    assert row == 5 and index.sentence_vectors_of(index.chunks[5].chunk_id) is not None
