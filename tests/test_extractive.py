"""The extractive generator: cited sentences, edition-aware wording, markers that resolve."""

import re
from dataclasses import replace

import numpy as np

from rag.corpus import clean_text
from rag.extractive import ExtractiveGenerator

from conftest import CORPUS


def _markers(answer: str) -> set[int]:
    return {int(n) for n in re.findall(r"\[(\d+)\]", answer)}


def test_every_marker_points_at_a_citation_and_every_citation_is_used(service):
    passages = service.retriever().retrieve("Which MLOps tools should I learn?", k=10)
    answer = ExtractiveGenerator(service.embedder).generate("Which MLOps tools should I learn?", passages)
    assert not answer.abstained and answer.citations
    assert _markers(answer.answer) == {c.n for c in answer.citations}


def test_citations_point_at_their_exact_source(service):
    passages = service.retriever().retrieve("What is DVC?", k=10)
    answer = ExtractiveGenerator(service.embedder).generate("What is DVC?", passages)
    for citation in answer.citations:
        raw = (CORPUS / citation.doc).read_text()
        assert clean_text(raw[citation.start : citation.end]) == citation.text
        for quote in citation.quotes:
            assert clean_text(raw[quote.start : quote.end]) == quote.text
            assert quote.text in answer.answer


def test_evidence_from_both_editions_says_which_edition_says_what(service):
    question = "How does the advice on MLOps differ between the 2024 and 2026 guides?"
    passages = service.retriever().retrieve(question, k=10)
    # Even when no new passage may be opened on score alone, each edition's best one is.
    answer = ExtractiveGenerator(service.embedder, relative_floor=0.0, new_passage_gap=0.0).generate(question, passages)
    editions = {c.edition for c in answer.citations}
    assert editions == {"2024", "2026"}
    assert answer.answer.startswith("The 2024 guide says:") and "The 2026 guide adds:" in answer.answer


def test_no_passages_means_no_answer(service):
    answer = ExtractiveGenerator(service.embedder).generate("anything", [])
    assert answer.abstained and not answer.citations


def test_stored_sentence_vectors_give_the_same_kind_of_answer_without_re_encoding(service):
    index = service.engine.index
    question = "What is YOLO used for in computer vision?"
    passages = service.retriever().retrieve(question, k=10)
    stored = ExtractiveGenerator(service.embedder, stored_vectors=index.sentence_vectors_of).generate(question, passages)
    encoded = ExtractiveGenerator(service.embedder).generate(question, passages)
    assert "YOLO" in stored.answer and "YOLO" in encoded.answer
    assert _markers(stored.answer) == {c.n for c in stored.citations}


def test_a_new_passage_is_cited_only_when_its_sentence_is_close_to_the_best(service):
    question = "Which MLOps tools should I learn?"
    passages = service.retriever().retrieve(question, k=10)
    strict = ExtractiveGenerator(service.embedder, new_passage_gap=0.0).generate(question, passages)
    loose = ExtractiveGenerator(service.embedder, new_passage_gap=1.0).generate(question, passages)
    assert len(strict.citations) == 1 and len(loose.citations) > 1


def test_the_passage_with_the_best_sentence_is_cited_first(service):
    question = "What is STRIDE used for in ML security?"
    passages = service.retriever().retrieve(question, k=10)
    answer = ExtractiveGenerator(service.embedder).generate(question, passages)
    assert answer.citations[0].n == 1 and "STRIDE" in answer.citations[0].text


def test_the_retrievers_sentence_cosines_stand_in_for_encoding_the_question_again(service):
    question = "What is YOLO used for in computer vision?"
    passages = service.retriever().retrieve(question, k=10)
    index = service.engine.index
    query = service.embedder.encode_queries([question])[0]
    for p in passages[:3]:
        np.testing.assert_allclose(p.sentence_scores, index.sentence_vectors_of(p.chunk.chunk_id) @ query, atol=1e-5)
    generator = ExtractiveGenerator(service.embedder, stored_vectors=index.sentence_vectors_of)
    without_scores = [replace(p, sentence_scores=()) for p in passages]
    assert generator.generate(question, passages) == generator.generate(question, without_scores)
