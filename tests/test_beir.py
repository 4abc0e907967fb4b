"""Tests for eval.beir on a tiny BEIR folder written here (the real sets are not ours to copy)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.beir import (
    BeirDataError,
    beir_documents,
    build_beir_index,
    load_beir,
    rank_documents,
    run_beir,
)
from rag.core.errors import RagError
from rag.core.text import split_sentences
from rag.encoders.embedding import Embedder
from rag.index.store import load_index
from rag.retrieve.hybrid import HybridRetriever
from rag.settings import Settings

DOCS = {
    "d1": ("Volcanic eruptions", "Magma rises through the crust and erupts as lava. "
           "Ash clouds from Mount Etna can ground flights across Sicily."),
    "d2": ("Sourdough baking", "A sourdough starter is a culture of wild yeast and lactobacilli. "
           "Feed the starter with flour and water every day before baking bread."),
    "d3": ("Honeybee colonies", "A honeybee colony has one queen, thousands of female workers and a few drones. "
           "Workers perform a waggle dance to show where nectar is."),
    "d4": ("Chess openings", "The Sicilian Defence answers 1.e4 with c5. "
           "White often plays the Open Sicilian with an early d4, e.g. in the Najdorf."),
    "d5": ("Moons of Jupiter", "Jupiter has four large Galilean moons: Io, Europa, Ganymede and Callisto. "
           "Europa hides a salty ocean under its ice shell."),
    "d6": ("Marathon training", "Long slow runs build aerobic endurance for a marathon. "
           "Taper the training volume in the three weeks before race day."),
    "d7": ("Lighthouse keepers", "Lighthouse keepers trimmed the lamp wicks and wound the clockwork "
           "that turned the lens. Most lighthouses are automated now."),
    "d8": ("Title only document", ""),
}
QUERIES = {
    "q1": "How does a sourdough starter with wild yeast need to be fed?",
    "q2": "Which moon of Jupiter has an ocean under its ice?",
    "q3": "What is the waggle dance of honeybee workers?",
    "q4": "marathon taper before race day",
    "q9": "a query judged only in the train split",
}
TEST_QRELS = [("q1", "d2", 1), ("q2", "d5", 1), ("q3", "d3", 1), ("q4", "d6", 2)]


def write_beir(folder: Path, docs=DOCS) -> Path:
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as f:
        for doc_id, (title, text) in docs.items():
            f.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as f:
        for qid, text in QUERIES.items():
            f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    for split, rows in (("test", TEST_QRELS), ("train", [("q9", "d1", 1)])):
        lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{s}" for q, d, s in rows]
        (folder / "qrels" / f"{split}.tsv").write_bytes(("\r\n".join(lines) + "\r\n").encode())
    return folder


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


@pytest.fixture()
def beir_dir(tmp_path: Path) -> Path:
    return write_beir(tmp_path / "tiny")


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------


def test_load_beir_reads_crlf_qrels(beir_dir):
    assert b"\r\n" in (beir_dir / "qrels" / "test.tsv").read_bytes()
    beir = load_beir(beir_dir, "test")
    assert beir.qrels == {"q1": {"d2": 1}, "q2": {"d5": 1}, "q3": {"d3": 1}, "q4": {"d6": 2}}
    for qid, judged in beir.qrels.items():
        assert "\r" not in qid and all("\r" not in d for d in judged)
        assert all(isinstance(s, int) for s in judged.values())
    assert set(beir.queries) == {"q1", "q2", "q3", "q4"}  # only the split's queries
    assert len(beir.corpus) == len(DOCS)
    assert beir.name == "tiny" and beir.split == "test"


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(RagError, match="does not exist"):
        load_beir(tmp_path / "nowhere", "test")


def test_missing_file_is_a_clear_error(beir_dir):
    (beir_dir / "queries.jsonl").unlink()
    with pytest.raises(BeirDataError, match="queries.jsonl is missing"):
        load_beir(beir_dir, "test")


def test_unknown_split_names_the_splits_there(beir_dir):
    with pytest.raises(BeirDataError, match=r"split 'dev'.*test, train"):
        load_beir(beir_dir, "dev")


def test_split_without_judgements_is_an_error(beir_dir):
    (beir_dir / "qrels" / "test.tsv").write_bytes(b"query-id\tcorpus-id\tscore\r\n")
    with pytest.raises(BeirDataError, match="no judgements"):
        load_beir(beir_dir, "test")


def test_malformed_lines_name_file_and_line(beir_dir):
    with (beir_dir / "corpus.jsonl").open("a") as f:
        f.write("{not json\n")
    with pytest.raises(BeirDataError, match=r"corpus.jsonl:9 is not valid JSON"):
        load_beir(beir_dir, "test")


# --------------------------------------------------------------------------
# Documents
# --------------------------------------------------------------------------


def test_beir_documents_units_point_into_raw(beir_dir):
    docs = {d.doc: d for d in beir_documents(load_beir(beir_dir, "test"))}
    assert set(docs) == set(DOCS)
    for doc_id, doc in docs.items():
        title, text = DOCS[doc_id]
        assert doc.raw == f"{title}\n{text}" and doc.title == title and doc.edition is None
        assert len(doc.sha256) == 64
        for u in doc.units:
            assert u.section == title
            assert " ".join(doc.raw[u.start : u.end].split()) == u.text
    d4 = docs["d4"]
    # Split into sentences, but not after "e.g." or inside "1.e4".
    assert [u.text for u in d4.units] == [
        "The Sicilian Defence answers 1.e4 with c5.",
        "White often plays the Open Sicilian with an early d4, e.g. in the Najdorf.",
    ]
    assert d4.units[0].start == len("Chess openings\n")
    # A document without text is found by its title.
    assert [(u.start, u.end) for u in docs["d8"].units] == [(0, len("Title only document"))]


def test_title_section_template_does_not_repeat_the_title(beir_dir):
    beir = load_beir(beir_dir, "test")
    for doc in beir_documents(beir, "title_section"):
        assert doc.title == DOCS[doc.doc][0]
        assert all(u.section == "" for u in doc.units)


def test_split_sentences_offsets():
    raw = "Title\n  First one. Second (n = 3) here!  Third? 4 is a number.  "
    spans = list(split_sentences(raw, 6))
    assert [raw[s:e] for s, e in spans] == ["First one.", "Second (n = 3) here!", "Third?", "4 is a number."]


# --------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_run_beir_finds_the_obvious_documents(beir_dir, tmp_path, embedder, mode):
    result = run_beir(beir_dir, "test", tmp_path / "index", Settings(), embedder, modes=(mode,), k=5, progress=False)
    assert set(result.metrics) == {mode}
    assert result.metrics[mode] == {"ndcg@10": 1.0, "recall@100": 1.0, "mrr@10": 1.0}
    assert result.query_count == 4 and result.doc_count == len(DOCS)
    assert result.queries_per_second[mode] > 0


def test_second_run_reuses_the_index(beir_dir, tmp_path, embedder):
    index_dir = tmp_path / "index"
    first = run_beir(beir_dir, "test", index_dir, Settings(), embedder, modes=("bm25",), progress=False)
    assert first.index_status == "built" and not first.index_reused
    assert first.embedded > 0

    second = run_beir(beir_dir, "test", index_dir, Settings(), embedder, modes=("bm25", "dense"), progress=False)
    assert second.index_reused and second.embedded == 0
    assert second.chunk_count == first.chunk_count
    assert second.metrics["bm25"] == first.metrics["bm25"]

    # One changed document: rebuilt, but only its chunks are embedded again.
    changed = dict(DOCS, d7=("Lighthouse keepers", "Keepers lived at the lighthouse. Their families lived there too."))
    write_beir(beir_dir, changed)
    third = run_beir(beir_dir, "test", index_dir, Settings(), embedder, modes=("bm25",), progress=False)
    assert third.index_status == "built"
    assert third.embedded == 1 and third.reused_vectors == third.chunk_count - 1

    # Other chunk settings: rebuilt, never mistaken for the cached index.
    fourth = run_beir(beir_dir, "test", index_dir, Settings(chunk_max_tokens=20, chunk_overlap_tokens=0), embedder,
                      modes=("bm25",), progress=False)
    assert fourth.index_status == "built"


def test_fused_ranking_matches_retrieve(beir_dir, tmp_path, embedder):
    """The fast path (fused candidates, no near-duplicate filter) ranks documents as retrieve() does."""
    settings = Settings()
    beir = load_beir(beir_dir, "test")
    index_settings = settings.index_settings(embedder)
    build_beir_index(beir, tmp_path / "index", index_settings, embedder)
    index = load_index(tmp_path / "index", index_settings)

    class ViaRetrieve:  # not a HybridRetriever: rank_documents goes through retrieve()
        def __init__(self, inner):
            self.retrieve = inner.retrieve

    for mode in ("bm25", "dense", "hybrid"):
        retriever = HybridRetriever(index, embedder, mode=mode, sentence_weight=settings.sentence_weight)
        for query in QUERIES.values():
            fast = rank_documents(retriever, query, 5)
            assert fast == rank_documents(ViaRetrieve(retriever), query, 5)
            assert len(fast) == 5 or mode == "bm25"
