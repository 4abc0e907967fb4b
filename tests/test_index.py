"""The index folder: round trip against brute force, and refusal of stale or damaged indexes."""

import json
from pathlib import Path

import numpy as np
import pytest

from rag.core.errors import IndexIncompatibleError, IndexNotFoundError
from rag.index.store import CHUNKS, MANIFEST, load_index, read_manifest, verify_files
from rag.settings import Settings


def _settings(embedder, **overrides):
    return Settings(**overrides).index_settings(embedder)


def _first_vectors(folder: Path) -> Path:
    """The chunk vectors' file of the index's first segment."""
    return folder / read_manifest(folder).segments[0].vectors


def test_dense_search_matches_numpy_brute_force(built_index: Path, embedder):
    index = load_index(built_index, _settings(embedder))
    queries = embedder.encode_queries(["Which MLOps tools should I learn?", "vector databases", "bias and fairness"])
    scores, rows = index.dense_search(queries, 10)
    brute = queries @ np.asarray(index.vectors).T
    for q in range(len(queries)):
        expected = np.argsort(-brute[q])[:10]
        assert list(rows[q]) == list(expected)
        np.testing.assert_allclose(scores[q], brute[q][expected], rtol=1e-5)


def test_index_folder_is_readable_without_our_code(built_index: Path):
    manifest = json.loads((built_index / MANIFEST).read_text())
    rows = [json.loads(line) for line in (built_index / CHUNKS).read_text().splitlines()]
    # The segments listed in the manifest, stacked in order, are the vectors.
    vectors = np.concatenate([np.load(built_index / s["vectors"]) for s in manifest["segments"]])
    assert manifest["chunk_count"] == len(rows) == len(vectors)
    assert manifest["settings"]["model"].endswith("all-MiniLM-L6-v2") and manifest["settings"]["dim"] == 384
    assert set(manifest["files"]) == {"000_66311b75d3a066c9.txt", "003_6cee5c8495e18b4b.txt", "guides.toml"}
    assert {"chunk_id", "doc", "section", "text", "start", "end"} <= set(rows[0])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-4)


def test_missing_index_names_the_fix(tmp_path: Path, embedder):
    with pytest.raises(IndexNotFoundError, match="rag index build"):
        load_index(tmp_path, _settings(embedder))


def test_index_built_with_other_settings_is_refused(built_index: Path, embedder):
    with pytest.raises(IndexIncompatibleError, match="other settings.*rag index build"):
        load_index(built_index, _settings(embedder, chunk_max_tokens=200))


@pytest.mark.parametrize("damage", ["truncate_chunks", "corrupt_vectors", "garble_manifest", "drop_faiss"])
def test_damaged_index_is_refused_with_the_fix(index_copy: Path, embedder, damage):
    if damage == "truncate_chunks":
        lines = (index_copy / CHUNKS).read_text().splitlines()
        (index_copy / CHUNKS).write_text("\n".join(lines[:-1]) + "\n")
    elif damage == "corrupt_vectors":
        vectors = _first_vectors(index_copy)
        data = bytearray(vectors.read_bytes())
        data[-8:] = b"\xff" * 8
        vectors.write_bytes(bytes(data))
    elif damage == "garble_manifest":
        (index_copy / MANIFEST).write_text("{not json")
    else:
        (index_copy / "faiss.index").unlink()
    with pytest.raises(IndexIncompatibleError, match="rag index build"):
        load_index(index_copy, _settings(embedder))


def test_large_files_have_their_size_checked_at_load_and_their_checksum_by_verify(index_copy: Path, embedder, monkeypatch):
    monkeypatch.setattr("rag.index.store.CHECKSUM_AT_LOAD_BYTES", 1024)  # the vectors count as large
    vectors = _first_vectors(index_copy)
    data = bytearray(vectors.read_bytes())
    data[-8:] = b"\xff" * 8  # same size, other bytes
    vectors.write_bytes(bytes(data))
    load_index(index_copy, _settings(embedder))
    with pytest.raises(IndexIncompatibleError, match=f"{vectors.name} is missing or damaged"):
        verify_files(index_copy, read_manifest(index_copy))
    vectors.write_bytes(bytes(data[:-4]))  # a torn file is caught by its size alone
    with pytest.raises(IndexIncompatibleError, match=f"{vectors.name} is missing or damaged"):
        load_index(index_copy, _settings(embedder))


def test_outline_topic_names_each_guide_with_its_edition():
    from rag.core.types import Unit
    from rag.index.outline import GuideOutline, Outline

    unit = (Unit("Intro", 0, 5, "Hello", None, 0, None),)
    guides = [GuideOutline("b.md", "Skills Guide", "skills", "2026", unit),
              GuideOutline("a.md", "Skills Guide 2024", "skills", "2024", unit),
              GuideOutline("c.md", "Remote Work Handbook", "remote", None, unit)]
    assert Outline(guides, lambda doc, start: None).topic() == "Remote Work Handbook; Skills Guide 2024; Skills Guide (2026 edition)"
    assert Outline([], lambda doc, start: None).topic() == "the guides in this index"
