"""What every extractive answer looks like, over the dev questions on both guides: whole
sentences, no filler, short where a fact is asked."""

import re

import pytest
from conftest import ROOT

from eval.golden import load_golden
from eval.metrics import answer_sentences, answer_words
from rag.ingest.profile import load_profile

filler_rule = load_profile("ml-guides").filler_rule

QUESTIONS = [q for q in load_golden(ROOT / "eval" / "golden" / "guides.jsonl") if q.answerable]


@pytest.fixture(scope="module")
def answers(service):
    pipeline = service.engine.pipeline
    return {q.id: pipeline.ask(q.question).answer for q in QUESTIONS}


# The comparison's own sentences (rag.answer.extractive.comparison): whole however short ("Both guides name Pruning.").
CLAIM = re.compile(r"^(?:Both guides name|Only the \d{4} guide|What the \d{4} guide calls) ")


def test_no_answer_sentence_is_a_fragment(answers):
    for qid, answer in answers.items():
        if answer.abstained:
            continue
        for sentence in answer_sentences(answer.answer):
            body = re.sub(r"^- ", "", sentence)
            assert CLAIM.match(body) or len(body) >= 25 and not body.endswith(":."), f"{qid}: fragment {sentence!r}"
        assert ":. [" not in answer.answer and "\n- " not in answer.answer.split("\n")[0], qid


def test_no_filler_sentence_is_quoted(answers):
    for qid, answer in answers.items():
        for citation in answer.citations:
            for quote in citation.quotes:
                assert filler_rule(quote.text) is None, f"{qid} quoted filler: {quote.text!r}"


def test_facts_get_short_answers(answers):
    facts = [q for q in QUESTIONS if q.type in ("lookup", "paraphrase") and not answers[q.id].abstained]
    words = [answer_words(answers[q.id].answer) for q in facts]
    assert sum(words) / len(words) <= 45


def test_every_quote_is_in_the_answer_and_every_marker_is_cited(answers):
    for qid, answer in answers.items():
        numbers = {int(n) for n in re.findall(r"\[(\d+)\]", answer.answer)}
        assert numbers == {c.n for c in answer.citations}, qid
        for citation in answer.citations:
            assert citation.quotes and all(q.text in answer.answer for q in citation.quotes), qid
