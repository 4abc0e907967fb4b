"""Builds: no-op without the model, incremental re-embedding, atomic swap, crash safety."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rag.core.errors import CorpusError, IndexBuildError
from rag.encoders.embedding import Embedder
from rag.index import outline
from rag.index.build import build_index
from rag.index.outline import OUTLINE
from rag.index.store import CHUNKS, MANIFEST, SENTENCE_OFFSETS, load_index, read_manifest, verify_files
from rag.index.words import WORD, load_word_vectors
from rag.settings import Settings
from tests.fakes import HashingEmbedder


def _build(corpus: Path, index: Path, embedder, **settings):
    return build_index(corpus, index, Settings(**settings).index_settings(embedder), embedder)


def test_rebuild_is_noop_when_corpus_unchanged_and_does_not_load_the_model(corpus_copy, index_copy):
    fresh = Embedder()
    before = (index_copy / MANIFEST).read_text()
    report = _build(corpus_copy, index_copy, fresh)
    assert report.status == "unchanged"
    assert "model" not in fresh.__dict__
    assert (index_copy / MANIFEST).read_text() == before


def test_changing_one_guide_re_embeds_only_its_changed_chunks(corpus_copy, index_copy, embedder, monkeypatch):
    guide = corpus_copy / "000_66311b75d3a066c9.txt"
    text = guide.read_text()
    cut = text.index("## Conclusion")  # the page footer after the conclusion is clutter
    added = "## 27. Quantum Gardening Zorblaxian gardens need quantum care. "
    guide.write_text(text[:cut] + added + text[cut:])
    aligned: list[str] = []  # headings and items the edition alignment encodes, and new words (rag.index.words)
    encode = embedder.encode_queries
    monkeypatch.setattr(embedder, "encode_queries", lambda texts: aligned.extend(texts) or encode(texts))
    report = _build(corpus_copy, index_copy, embedder)
    assert report.status == "built" and report.changed == ["000_66311b75d3a066c9.txt"]
    assert 0 < report.embedded <= 3 and report.reused == report.chunk_count - report.embedded
    index = load_index(index_copy, Settings().index_settings(embedder))
    assert any("Zorblaxian" in c.text for c in index.chunks)
    # Only the new heading and text are encoded again for the alignment, not every node of both editions,
    # and of the guides' words only those the edit brought.
    nodes, words = [t for t in aligned if " " in t], {t for t in aligned if " " not in t}
    assert nodes and len(nodes) <= 3 and all("Zorblaxian" in t or "Quantum Gardening" in t for t in nodes)
    assert "Zorblaxian" in words and words <= set(WORD.findall(added))
    assert index.alignment.pairs and any(m.older and m.newer for m in index.alignment.pairs[0].items)


def test_adding_and_removing_a_guide_updates_the_index(corpus_copy, index_copy, embedder):
    (corpus_copy / "new_guide.md").write_text("# Career Notes 2027\n\n## Rust for ML\nRust is gaining ground for ML tooling.")
    added = _build(corpus_copy, index_copy, embedder)
    assert added.added == ["new_guide.md"] and added.embedded == 1
    (corpus_copy / "new_guide.md").unlink()
    removed = _build(corpus_copy, index_copy, embedder)
    assert removed.removed == ["new_guide.md"] and removed.embedded == 0


def test_a_changed_chunker_setting_re_embeds_everything(corpus_copy, index_copy, embedder):
    report = _build(corpus_copy, index_copy, embedder, chunk_max_tokens=150)
    assert report.status == "built" and report.reused == 0 and report.embedded == report.chunk_count


def _contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_failed_build_leaves_the_serving_index_untouched(corpus_copy, index_copy, embedder, monkeypatch):
    before = _contents(index_copy)
    (corpus_copy / "extra.txt").write_text("Extra 2030\n\nSome new advice about tools.")

    def explode(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("rag.index.build.write_index", explode)
    with pytest.raises(IndexBuildError, match="previous index is untouched"):
        _build(corpus_copy, index_copy, embedder)
    assert _contents(index_copy) == before
    assert not list(index_copy.parent.glob(".index.staging-*"))


def test_a_killed_build_leaves_the_previous_index_serving(corpus_copy, index_copy, embedder):
    manifest_before = json.loads((index_copy / MANIFEST).read_text())
    env = {**os.environ, "RAG_CORPUS_DIR": str(corpus_copy), "RAG_INDEX_DIR": str(index_copy)}
    child = subprocess.Popen([sys.executable, "-m", "cli.main", "index", "build", "--force"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        if list(index_copy.parent.glob(".index.staging-*")):
            break
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    child.wait()
    index = load_index(index_copy, Settings().index_settings(embedder))
    assert index.manifest.built_at == manifest_before["built_at"]
    assert len(index) == manifest_before["chunk_count"]
    assert _build(corpus_copy, index_copy, embedder).status == "unchanged"
    assert not list(index_copy.parent.glob(".index.staging-*"))


def test_empty_corpus_folder_fails_clearly_and_keeps_the_index(tmp_path, index_copy, embedder):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CorpusError, match="no .txt or .md files"):
        _build(empty, index_copy, embedder)
    assert load_index(index_copy, Settings().index_settings(embedder))


def test_index_folder_under_a_file_is_a_clear_error(corpus_copy, tmp_path, embedder):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(IndexBuildError, match="cannot"):
        _build(corpus_copy, blocker / "index", embedder)


def test_above_the_exact_limit_a_changed_guide_updates_the_compressed_index_in_place(corpus_copy, index_copy, embedder,
                                                                              monkeypatch):
    monkeypatch.setattr("rag.index.ann.EXACT_SEARCH_LIMIT", 50)  # the guides' ~170 chunks count as a large index
    settings = Settings().index_settings(embedder)
    guide = corpus_copy / "000_66311b75d3a066c9.txt"
    text = guide.read_text()
    cut = text.index("## Conclusion")
    guide.write_text(text[:cut] + "## 27. Quantum Gardening Zorblaxian gardens need quantum care. " + text[cut:])
    _build(corpus_copy, index_copy, embedder)
    first = load_index(index_copy, settings)
    assert first.manifest.faiss_index == "IndexIVFScalarQuantizer"
    centroids = first.faiss_index.quantizer.reconstruct_n(0, first.faiss_index.nlist)

    guide.write_text(text)  # the Zorblaxian section goes again: rows after it move up
    report = _build(corpus_copy, index_copy, embedder)
    assert report.changed == ["000_66311b75d3a066c9.txt"] and report.embedded == 0
    index = load_index(index_copy, settings)
    ivf = index.faiss_index
    np.testing.assert_array_equal(ivf.quantizer.reconstruct_n(0, ivf.nlist), centroids)  # updated, not re-trained
    assert not any("Zorblaxian" in c.text for c in index.chunks)
    ivf.nprobe = ivf.nlist
    queries = np.asarray(index.vectors)
    _, rows = index.dense_search(queries, 5)
    np.testing.assert_array_equal(rows, np.argsort(-(queries @ queries.T), axis=1, kind="stable")[:, :5])


def _guide(title: str, sections: int, extra: str = "") -> str:
    body = "".join(f"## Step {i}\n{title} step {i} uses tool{i % 3} and method{i % 5} for stage {i}.{extra if i == 1 else ''}\n\n"
                   for i in range(sections))
    return f"# {title}\n\n{body}"


def _small_corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, sections in (("a.md", 4), ('a2 "é".md', 2), ("b.md", 6), ("c.md", 5), ("e.md", 3)):
        (corpus / name).write_text(_guide(name[0].upper() + " guide", sections, " Zorblax." if name == "c.md" else ""))
    return corpus


@pytest.mark.parametrize("segment_rows", [16384, 4], ids=["one segment", "segments of 4 rows"])
def test_an_update_gives_the_index_and_search_results_of_a_fresh_build(tmp_path, monkeypatch, segment_rows):
    monkeypatch.setattr("rag.index.segments.SEGMENT_ROWS", segment_rows)
    corpus, embedder = _small_corpus(tmp_path), HashingEmbedder()
    settings = Settings().index_settings(embedder)  # type: ignore[arg-type]
    build_index(corpus, tmp_path / "updated", settings, embedder)  # type: ignore[arg-type]
    (corpus / "b.md").write_text(_guide("B guide", 8, " Grinders need burrs."))  # more rows: the rows after it move
    (corpus / "c.md").unlink()
    (corpus / "d.md").write_text(_guide("D guide", 3))
    outlined: list[str] = []  # the guides whose outline line is made, not copied
    line = outline._line
    monkeypatch.setattr(outline, "_line", lambda doc: outlined.append(doc.doc) or line(doc))
    report = build_index(corpus, tmp_path / "updated", settings, embedder)  # type: ignore[arg-type]
    assert report.changed == ["b.md"] and report.added == ["d.md"] and report.removed == ["c.md"]
    assert outlined == ["b.md", "d.md"]
    build_index(corpus, tmp_path / "fresh", settings, embedder)  # type: ignore[arg-type]

    updated, fresh = (load_index(tmp_path / name, settings) for name in ("updated", "fresh"))
    for name in (CHUNKS, OUTLINE):  # carried lines copied as bytes (a2's name escaped in JSON)
        assert (tmp_path / "updated" / name).read_bytes() == (tmp_path / "fresh" / name).read_bytes()
    assert list(updated.chunks) == list(fresh.chunks) and updated.chunks.keys() == fresh.chunks.keys()
    assert updated.editions == fresh.editions
    np.testing.assert_array_equal(np.asarray(updated.vectors), np.asarray(fresh.vectors))
    np.testing.assert_array_equal(np.asarray(updated.sentence_vectors), np.asarray(fresh.sentence_vectors))
    np.testing.assert_array_equal(np.load(tmp_path / "updated" / SENTENCE_OFFSETS), np.load(tmp_path / "fresh" / SENTENCE_OFFSETS))
    for query in ("burrs grinders", "tool1 method2", "A guide stage 3", "D guide step"):
        np.testing.assert_array_equal(updated.bm25.scores(query), fresh.bm25.scores(query))
        vector = embedder.encode_queries([query])
        for a, b in zip(updated.dense_search(vector, 10), fresh.dense_search(vector, 10), strict=True):
            np.testing.assert_array_equal(a, b)
    assert not updated.bm25.mentions("zorblax") and not fresh.bm25.mentions("zorblax")  # only the removed guide had it


def test_an_update_encodes_only_the_words_no_earlier_build_had(tmp_path, monkeypatch):
    corpus, embedder, index_dir = _small_corpus(tmp_path), HashingEmbedder(), tmp_path / "index"
    settings = Settings().index_settings(embedder)  # type: ignore[arg-type]
    build_index(corpus, index_dir, settings, embedder)  # type: ignore[arg-type]
    first = load_word_vectors(index_dir)
    assert "Zorblax" in first and "burrs" not in first
    (corpus / "b.md").write_text(_guide("B guide", 8, " Grinders need burrs."))
    asked: list[str] = []
    encode = embedder.encode_queries
    monkeypatch.setattr(embedder, "encode_queries", lambda texts: asked.extend(texts) or encode(texts))
    build_index(corpus, index_dir, settings, embedder)  # type: ignore[arg-type]

    words = load_word_vectors(index_dir)
    assert {"Grinders", "burrs"} <= set(words) and set(first) <= set(words)  # c.md, carried over, keeps its words
    assert {"Grinders", "burrs"} <= set(asked) and not set(first) & set(asked)
    np.testing.assert_array_equal(words["Zorblax"], first["Zorblax"])


def _segment_files(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Each vector segment file's inode and bytes."""
    return {p.name: (p.stat().st_ino, p.read_bytes()) for p in (folder / "segments").iterdir()}


def test_an_update_links_the_unchanged_segments_and_leaves_the_serving_index_as_it_was(tmp_path, monkeypatch):
    monkeypatch.setattr("rag.index.segments.SEGMENT_ROWS", 4)
    corpus, embedder, index_dir = _small_corpus(tmp_path), HashingEmbedder(), tmp_path / "index"
    settings = Settings().index_settings(embedder)  # type: ignore[arg-type]
    build_index(corpus, index_dir, settings, embedder)  # type: ignore[arg-type]
    serving, before = load_index(index_dir, settings), _segment_files(index_dir)
    vectors, sentence_vectors = np.asarray(serving.vectors), np.asarray(serving.sentence_vectors)
    (corpus / "e.md").write_text(_guide("E guide", 4))  # the last guide: the segments before it are kept
    build_index(corpus, index_dir, settings, embedder)  # type: ignore[arg-type]

    after, manifest = _segment_files(index_dir), read_manifest(index_dir)
    kept = set(before) & set(after)
    assert kept and set(after) - kept  # some segments linked, the changed guide's written anew
    assert all(after[name][0] == before[name][0] for name in kept)  # the same inodes: linked, not copied
    assert all(after[name][1] == before[name][1] for name in kept)
    verify_files(index_dir, manifest)  # the checksums carried over for the linked files are right
    # The index loaded before the update still reads what it did.
    np.testing.assert_array_equal(np.asarray(serving.vectors), vectors)
    np.testing.assert_array_equal(np.asarray(serving.sentence_vectors), sentence_vectors)


def test_a_failed_update_leaves_the_serving_index_and_its_linked_files_untouched(tmp_path, monkeypatch):
    monkeypatch.setattr("rag.index.segments.SEGMENT_ROWS", 4)
    corpus, embedder, index_dir = _small_corpus(tmp_path), HashingEmbedder(), tmp_path / "index"
    settings = Settings().index_settings(embedder)  # type: ignore[arg-type]
    build_index(corpus, index_dir, settings, embedder)  # type: ignore[arg-type]
    before = _contents(index_dir)
    (corpus / "e.md").write_text(_guide("E guide", 4))

    def explode(*args, **kwargs):  # after the segments were linked and written
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("rag.index.ann.write_index", explode)
    with pytest.raises(IndexBuildError, match="previous index is untouched"):
        build_index(corpus, index_dir, settings, embedder)  # type: ignore[arg-type]
    assert _contents(index_dir) == before
    assert all(p.stat().st_nlink == 1 for p in (index_dir / "segments").iterdir())  # the staging links are gone
    assert not list(tmp_path.glob(".index.staging-*"))
    verify_files(index_dir, read_manifest(index_dir))
