"""The extractive generator: cited sentences, edition-aware wording, markers that resolve."""

import re
from dataclasses import replace

import numpy as np
from conftest import CORPUS

from eval.metrics import answer_sentences
from rag.answer.extractive.generator import ExtractiveGenerator
from rag.core.text import clean_text
from rag.retrieve.hybrid import HybridRetriever


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


def test_evidence_from_both_editions_says_which_edition_says_what_and_compares(service):
    question = "Which mobile and edge ML frameworks does each edition recommend?"
    passages = service.retriever().retrieve(question, k=10)
    index = service.engine.index
    answer = ExtractiveGenerator(service.embedder, outline=index.outline, alignment=index.alignment).generate(
        question, passages)
    assert {c.edition for c in answer.citations} == {"2024", "2026"}
    assert answer.answer.startswith("The 2024 guide says:") and "The 2026 guide adds:" in answer.answer
    comparison = answer.answer.split("\n\n")[-1]
    assert comparison.startswith("Both guides name TensorFlow Lite [")
    cited = {c.n: c.edition for c in answer.citations}
    assert {cited[n] for n in _markers(comparison.split(".")[0])} == {"2024", "2026"}
    assert answer.checked_sentences >= 1 and answer.failed_sentences == 0


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


def test_a_fact_is_answered_by_its_best_sentence_alone(service):
    question = "What is YOLO used for in computer vision?"
    answer = ExtractiveGenerator(service.embedder).generate(question, service.retriever().retrieve(question, k=10))
    first = answer_sentences(answer.answer)[0]
    assert "YOLO" in first and "real-time object detection" in first
    assert len(answer_sentences(answer.answer)) <= 2 and len(answer.citations) == 1


def test_a_list_question_gets_the_items_of_the_list(service):
    question = "Which NLP tasks does the 2024 guide say I should master?"
    answer = ExtractiveGenerator(service.embedder).generate(question, service.retriever().retrieve(question, k=10))
    items = [line[2:] for line in answer.answer.splitlines() if line.startswith("- ")]
    assert len(items) >= 3
    for term in ("Named Entity Recognition", "Summarization", "Semantic Search"):
        assert any(item.startswith(term) for item in items), term
    assert {c.edition for c in answer.citations} == {"2024"}


def test_an_item_that_names_the_kind_asked_for_answers_alone(service):
    question = "What output formats can I instruct an LLM to produce?"
    answer = ExtractiveGenerator(service.embedder).generate(question, service.retriever().retrieve(question, k=10))
    assert answer_sentences(answer.answer)[0].startswith("Output Formatting:")
    assert not any(line.startswith("- ") for line in answer.answer.splitlines())


def test_a_question_that_names_one_edition_is_answered_from_it_alone(service):
    for edition in ("2024", "2026"):
        question = f"What does the {edition} guide say about MLOps tools?"
        answer = ExtractiveGenerator(service.embedder).generate(question, service.retriever().retrieve(question, k=10))
        assert {c.edition for c in answer.citations} == {edition}


def test_a_sentence_that_leans_on_the_one_before_comes_with_it(service):
    question = "What is DVC and why would I use it?"
    answer = ExtractiveGenerator(service.embedder).generate(question, service.retriever().retrieve(question, k=10))
    first, second = answer_sentences(answer.answer)[:2]
    assert first.startswith("DVC is like") and second.startswith("It allows you to track")


def test_the_passage_with_the_best_sentence_is_cited_first(service):
    question = "What is STRIDE used for in ML security?"
    passages = service.retriever().retrieve(question, k=10)
    answer = ExtractiveGenerator(service.embedder).generate(question, passages)
    assert answer.citations[0].n == 1 and "STRIDE" in answer.citations[0].text


def test_the_retrievers_sentence_cosines_stand_in_for_encoding_the_question_again(service):
    question = "What is YOLO used for in computer vision?"
    index = service.engine.index
    passages = HybridRetriever(index, service.embedder).retrieve(question, k=10)  # no query map: the question's own cosines
    query = service.embedder.encode_queries([question])[0]
    for p in passages[:3]:
        np.testing.assert_allclose(p.sentence_scores, index.sentence_vectors_of(p.chunk.chunk_id) @ query, atol=1e-5)
    generator = ExtractiveGenerator(service.embedder, stored_vectors=index.sentence_vectors_of)
    without_scores = [replace(p, sentence_scores=()) for p in passages]
    assert generator.generate(question, passages) == generator.generate(question, without_scores)
