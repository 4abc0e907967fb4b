"""Chunking: section-bound, sentence-respecting, token-sized, never past the model window."""

import pytest
from conftest import CORPUS

from rag.core.text import clean_text
from rag.encoders.embedding import passage_text
from rag.ingest.chunking import ChunkerSettings, chunk_document, count_tokens
from rag.ingest.corpus import load_corpus, parse_document


@pytest.fixture(scope="module")
def guides():
    return load_corpus(CORPUS)


@pytest.mark.parametrize("max_tokens", [64, 96, 512])
@pytest.mark.parametrize("template", ["text", "section", "title_section"])
def test_no_chunk_exceeds_the_model_window_on_the_real_guides(guides, embedder, max_tokens, template):
    settings = ChunkerSettings(max_tokens=max_tokens, overlap_tokens=max_tokens // 4)
    for doc in guides:
        for chunk in chunk_document(doc, settings, lambda c: embedder.fits(passage_text(c, template))):
            assert embedder.count_wordpieces(passage_text(chunk, template)) <= embedder.max_wordpieces


def test_a_sentence_longer_than_the_window_is_split_at_words(embedder):
    long_sentence = " ".join(f"word{i}" for i in range(600)) + "."
    doc = parse_document("long.txt", f"Title 2030\n\n{long_sentence}")
    chunks = chunk_document(doc, ChunkerSettings(max_tokens=512), lambda c: embedder.fits(passage_text(c, "section")))
    assert len(chunks) > 1
    assert all(embedder.fits(passage_text(c, "section")) for c in chunks)
    assert " ".join(c.text for c in chunks).split() == long_sentence.split()


def test_chunks_stay_within_one_section_and_point_at_their_raw_source(guides, embedder):
    for doc in guides:
        sections_by_offset = {u.start: u.section for u in doc.units}
        for chunk in chunk_document(doc, ChunkerSettings(), lambda c: True):
            assert sections_by_offset[chunk.start] == chunk.section
            for quote in chunk.quotes():
                assert quote.text in chunk.text
                assert clean_text(doc.raw[quote.start : quote.end]) == quote.text
            assert doc.raw[chunk.start : chunk.end].startswith(doc.raw[chunk.sentences[0][2] : chunk.sentences[0][3]])


def test_chunk_sizes_respect_the_token_budget_and_overlap(guides):
    settings = ChunkerSettings(max_tokens=96, overlap_tokens=24)
    chunks = [c for d in guides for c in chunk_document(d, settings, lambda c: True)]
    multi_sentence = [c for c in chunks if len(c.sentences) > 1]
    assert all(count_tokens(c.text) <= 96 + 2 for c in multi_sentence)  # +2: joining spaces
    overlapping = sum(1 for a, b in zip(chunks, chunks[1:]) if a.doc == b.doc and b.start < a.end)
    assert overlapping > 0


def test_chunk_ids_are_stable_across_runs(guides):
    first = [c.chunk_id for c in chunk_document(guides[0], ChunkerSettings(), lambda c: True)]
    again = [c.chunk_id for c in chunk_document(guides[0], ChunkerSettings(), lambda c: True)]
    assert first == again and len(set(first)) == len(first)
