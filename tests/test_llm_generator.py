"""Tests for rag.answer.llm.generator.LLMGenerator against a real HTTP fake of an OpenAI-compatible server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from fake_llm_server import FakeLLMServer

from rag.answer.generation import NOT_COVERED
from rag.answer.llm.generator import DRAFT_HEADING, LLMGenerator
from rag.core.types import Answer, Chunk, Citation, ScoredChunk
from rag.ingest.chunking import count_tokens

QUESTION = "How long should an ML engineering resume be?"


class StandInExtractive:
    """A stand-in for the extractive generator: cites the first passage."""

    name = "extractive"

    def generate(self, question: str, passages: list[ScoredChunk]) -> Answer:
        return Answer(answer="fallback [1]", abstained=False, citations=[Citation.of(1, passages[0])])


def passage(doc: str, ordinal: int, section: str, text: str, edition: str | None, score: float) -> ScoredChunk:
    chunk_id = f"{doc.removesuffix('.txt')}:{ordinal:04d}"
    chunk = Chunk(chunk_id, doc, section, text, 100 * ordinal, 100 * ordinal + len(text), "ML career guide", edition)
    return ScoredChunk(chunk, score)


PASSAGES = [
    passage("003_6cee5c8495e18b4b.txt", 2, "Resumes", "Keep your resume to one page, two at most.", "2026", 0.9),
    passage("001_9a1f3c2be7d04e51.txt", 5, "Resumes", "A two-page resume is fine for senior roles.", "2024", 0.7),
    passage("003_6cee5c8495e18b4b.txt", 7, "Portfolios", "Link a portfolio of shipped projects.", None, 0.5),
]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    fake = FakeLLMServer()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def llm(server: FakeLLMServer) -> Iterator[FakeLLMServer]:
    """The shared server with a fresh script and no recorded requests."""
    server.reset()
    yield server


def make_generator(base_url: str, **kwargs) -> LLMGenerator:
    return LLMGenerator(base_url, "llama3.2", fallback=StandInExtractive(), **kwargs)


def ask(base_url: str, passages: list[ScoredChunk] = PASSAGES, **kwargs) -> Answer:
    generator = make_generator(base_url, **kwargs)
    try:
        return generator.generate(QUESTION, passages)
    finally:
        generator.close()


def user_prompt(server: FakeLLMServer) -> str:
    (request,) = server.requests
    return request.body["messages"][-1]["content"]


# ---------------------------------------------------------------------------
# Replies
# ---------------------------------------------------------------------------


def test_cited_reply_becomes_answer_with_citations_in_prompt_numbering(llm: FakeLLMServer):
    llm.script.reply = "The 2026 guide says one page [1]; the 2024 guide allows two for seniors [2]."
    answer = ask(llm.base_url)
    assert answer.answer == llm.script.reply
    assert not answer.abstained
    assert answer.generator == "llm"
    assert answer.notice is None
    assert [c.n for c in answer.citations] == [1, 2]
    for citation in answer.citations:
        chunk = PASSAGES[citation.n - 1].chunk
        assert (citation.text, citation.doc, citation.chunk_id) == (chunk.text, chunk.doc, chunk.chunk_id)
        assert citation.edition == chunk.edition


def test_citations_follow_first_appearance_and_keep_passage_numbers(llm: FakeLLMServer):
    llm.script.reply = "Portfolios matter [3]. Resumes are short [1][3]."
    answer = ask(llm.base_url)
    assert [c.n for c in answer.citations] == [3, 1]
    assert answer.citations[0].chunk_id == PASSAGES[2].chunk.chunk_id


def test_grouped_markers_are_read_and_kept(llm: FakeLLMServer):
    llm.script.reply = "One page is the norm [1, 2]."
    answer = ask(llm.base_url)
    assert answer.answer == "One page is the norm [1, 2]."
    assert [c.n for c in answer.citations] == [1, 2]


def test_out_of_range_marker_is_dropped_from_text_and_citations(llm: FakeLLMServer):
    llm.script.reply = "Keep it to one page [1] [9]. Seniors may use two [2, 9]."
    answer = ask(llm.base_url)
    assert answer.answer == "Keep it to one page [1]. Seniors may use two [2]."
    assert [c.n for c in answer.citations] == [1, 2]


def test_bracketed_year_is_not_taken_for_a_marker(llm: FakeLLMServer):
    llm.script.reply = "The [2024] guide allows two pages [2]."
    answer = ask(llm.base_url)
    assert answer.answer == llm.script.reply
    assert [c.n for c in answer.citations] == [2]


@pytest.mark.parametrize("reply", [NOT_COVERED, f"  {NOT_COVERED}\n", "The guides don\u2019t cover this."])
def test_not_covered_reply_abstains(llm: FakeLLMServer, reply: str):
    llm.script.reply = reply
    answer = ask(llm.base_url)
    assert answer == Answer(answer=NOT_COVERED, abstained=True, citations=[], generator="llm")


@pytest.mark.parametrize("reply", ["One page is best.", "One page is best [9].", "   "])
def test_reply_without_valid_marker_abstains(llm: FakeLLMServer, reply: str):
    llm.script.reply = reply
    answer = ask(llm.base_url)
    assert answer == Answer(answer=NOT_COVERED, abstained=True, citations=[], generator="llm")


def test_no_passages_abstains_without_calling_the_server(llm: FakeLLMServer):
    assert ask(llm.base_url, passages=[]).abstained
    assert llm.requests == []


# ---------------------------------------------------------------------------
# Failures fall back to the extractive generator
# ---------------------------------------------------------------------------


def assert_fell_back(answer: Answer, base_url: str, reason: str) -> None:
    assert answer.answer == "fallback [1]"
    assert answer.generator == "extractive"
    assert answer.notice is not None
    assert base_url in answer.notice and reason in answer.notice
    assert "answered extractively" in answer.notice


def test_http_error_status_falls_back_with_notice(llm: FakeLLMServer):
    llm.script.reply, llm.script.status = "Fine [1].", 500
    assert_fell_back(ask(llm.base_url), llm.base_url, "HTTP 500")


def test_timeout_falls_back_with_notice(llm: FakeLLMServer):
    llm.script.reply, llm.script.delay = "Too late [1].", 2.0
    assert_fell_back(ask(llm.base_url, timeout=0.5), llm.base_url, "timed out")


def test_connection_refused_falls_back():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}/v1"  # nothing listens there any more
    assert_fell_back(ask(base_url), base_url, "ConnectError")


@pytest.mark.parametrize(
    "raw_body",
    [b"not json", b"{}", b'{"choices": []}', b'{"choices": [{"message": {"role": "assistant", "content": null}}]}'],
)
def test_malformed_reply_falls_back(llm: FakeLLMServer, raw_body: bytes):
    llm.script.raw_body = raw_body
    assert_fell_back(ask(llm.base_url), llm.base_url, "failed (")


# ---------------------------------------------------------------------------
# The request
# ---------------------------------------------------------------------------


def test_request_carries_model_settings_key_and_numbered_prompt(llm: FakeLLMServer):
    llm.script.reply = "One page [1]."
    ask(llm.base_url + "/", api_key="sk-test")
    (request,) = llm.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer sk-test"
    assert request.body["model"] == "llama3.2"
    assert request.body["temperature"] == 0
    assert request.body["stream"] is False
    system, user = request.body["messages"]
    assert (system["role"], user["role"]) == ("system", "user")
    assert NOT_COVERED in system["content"] and "[n]" not in system["content"]
    assert "[1] (2026 guide — Resumes) Keep your resume to one page, two at most." in user["content"]
    assert "[2] (2024 guide — Resumes) A two-page resume is fine for senior roles." in user["content"]
    assert "[3] (Portfolios) Link a portfolio of shipped projects." in user["content"]
    assert QUESTION in user["content"]


class PortfolioDraft:
    """A stand-in extractive generator whose answer quotes the third passage as its [1]."""

    name = "extractive"

    def generate(self, question: str, passages: list[ScoredChunk]) -> Answer:
        if len(passages) < 3:
            return Answer(answer=NOT_COVERED, abstained=True, citations=[], generator=self.name)
        return Answer(answer="- Link a portfolio of shipped projects. [1]", abstained=False,
                      citations=[Citation.of(1, passages[2])], generator=self.name)


def test_the_prompt_carries_the_structured_draft_in_the_prompts_numbering(llm: FakeLLMServer):
    llm.script.reply = "One page [1]."
    generator = LLMGenerator(llm.base_url, "llama3.2", fallback=PortfolioDraft())
    try:
        generator.generate(QUESTION, PASSAGES)
        generator.generate(QUESTION, PASSAGES[:2])
    finally:
        generator.close()
    with_draft, without = (r.body["messages"][-1]["content"] for r in llm.requests)
    assert with_draft.index(DRAFT_HEADING) < with_draft.index("- Link a portfolio of shipped projects. [3]") < with_draft.index(QUESTION)
    assert DRAFT_HEADING not in without


def test_prompt_names_the_indexed_guides_not_a_fixed_topic(llm: FakeLLMServer):
    llm.script.reply = "One page [1]."
    ask(llm.base_url, topic="Remote Work Handbook (2026 edition)")
    system = llm.requests[0].body["messages"][0]["content"]
    assert "these guides: Remote Work Handbook (2026 edition)." in system
    assert "machine-learning" not in system


def test_no_authorization_header_without_key(llm: FakeLLMServer):
    llm.script.reply = "One page [1]."
    ask(llm.base_url)
    (request,) = llm.requests
    assert "authorization" not in {k.lower() for k in request.headers}


def test_tiny_context_budget_sends_fewer_passages_and_drops_their_markers(llm: FakeLLMServer):
    first = "[1] (2026 guide — Resumes) Keep your resume to one page, two at most."
    llm.script.reply = "One page [1]; seniors two [2]."
    answer = ask(llm.base_url, context_tokens=count_tokens(first) + 5)
    prompt = user_prompt(llm)
    assert first in prompt and "[2]" not in prompt and "[3]" not in prompt
    assert answer.answer == "One page [1]; seniors two."
    assert [c.n for c in answer.citations] == [1]


def test_first_passage_is_truncated_when_alone_over_budget(llm: FakeLLMServer):
    budget = count_tokens("[1] (2026 guide — Resumes) ") + 4
    llm.script.reply = "One page [1]."
    ask(llm.base_url, context_tokens=budget)
    prompt = user_prompt(llm)
    assert "[1] (2026 guide — Resumes) Keep your" in prompt
    assert "two at most" not in prompt and "[2]" not in prompt
    block = prompt.split("\n\n")[1]
    assert count_tokens(block) <= budget


# ---------------------------------------------------------------------------
# Answers that cite wrongly (rag.answer.grounding checks each sentence against its [n])
# ---------------------------------------------------------------------------


def test_prompt_asks_for_a_short_answer_that_leads_with_the_direct_answer(llm: FakeLLMServer):
    llm.script.reply = "One page [1]."
    ask(llm.base_url)
    system = llm.requests[0].body["messages"][0]["content"]
    assert "first sentence answers the question directly" in system
    assert "one or two sentences" in system and 'starting with "- "' in system and "comparing them" in system


def test_sentence_its_passage_does_not_support_is_dropped(llm: FakeLLMServer):
    llm.script.reply = "Keep your resume to one page [1]. Recruiters love colourful infographics [2]."
    answer = ask(llm.base_url)
    assert answer.answer == "Keep your resume to one page [1]."
    assert [c.n for c in answer.citations] == [1]


def test_marker_pointing_at_the_wrong_passage_is_taken_off(llm: FakeLLMServer):
    llm.script.reply = "Link a portfolio of shipped projects [1][3]."
    answer = ask(llm.base_url)
    assert answer.answer == "Link a portfolio of shipped projects [3]."
    assert [c.n for c in answer.citations] == [3]


def test_reply_whose_every_sentence_cites_wrongly_abstains(llm: FakeLLMServer):
    llm.script.reply = "Learn Rust and Haskell first [1]. Kaggle medals matter most [2]."
    assert ask(llm.base_url).abstained


TRACKING = [
    passage("003_6cee5c8495e18b4b.txt", 3, "MLOps", "Track experiments with MLflow or Weights & Biases.", "2026", 0.9),
    passage("001_9a1f3c2be7d04e51.txt", 4, "MLOps", "Track experiments with MLflow.", "2024", 0.8),
]


def test_a_sentence_that_credits_an_edition_with_a_name_its_text_lacks_is_dropped(llm: FakeLLMServer):
    llm.script.reply = ("Both guides name MLflow for tracking experiments [1][2]. "
                        "The 2024 guide also tracks experiments with Weights & Biases [2]. "
                        "The 2026 guide adds Weights & Biases [1]. Both guides track experiments with Weights & Biases [1].")
    answer = ask(llm.base_url, TRACKING)
    assert answer.answer == "Both guides name MLflow for tracking experiments [1][2]. The 2026 guide adds Weights & Biases [1]."
    chunks = list(stream(llm.base_url, TRACKING))
    assert "".join(c for c in chunks if isinstance(c, str)).rstrip() == answer.answer == chunks[-1].answer


# ---------------------------------------------------------------------------
# Streaming
# ---------------------------------------------------------------------------


def stream(base_url: str, passages: list[ScoredChunk] = PASSAGES, **kwargs) -> list[str | Answer]:
    generator = make_generator(base_url, **kwargs)
    try:
        return list(generator.stream(QUESTION, passages))
    finally:
        generator.close()


def test_stream_shows_only_the_sentences_the_check_keeps(llm: FakeLLMServer):
    llm.script.reply = ("Keep your resume to one page [1]. Recruiters love colourful infographics [2]. "
                        "A two-page resume is fine for senior roles [2]. So one page, or two when senior.")
    *deltas, answer = stream(llm.base_url)
    assert llm.requests[0].body["stream"] is True
    assert isinstance(answer, Answer) and answer.answer == (
        "Keep your resume to one page [1]. A two-page resume is fine for senior roles [2]. "
        "So one page, or two when senior.")
    assert deltas == ["Keep your resume to one page [1]. ", "A two-page resume is fine for senior roles [2]. ",
                      "So one page, or two when senior."]  # the unmarked last one waits for the whole reply
    assert not any("infographics" in d for d in deltas)


def test_a_streamed_reply_that_ends_up_citing_nothing_shows_only_the_abstention(llm: FakeLLMServer):
    llm.script.reply = "Here is the answer: Learn Rust and Haskell first [1]. Kaggle medals matter most [2]."
    *deltas, answer = stream(llm.base_url)
    assert answer.abstained and deltas == [NOT_COVERED]


def test_stream_yields_a_delta_before_the_server_has_finished(llm: FakeLLMServer):
    llm.script.reply = "Keep your resume to one page [1]. A two-page resume is fine for senior roles [2]."
    llm.script.pieces = ["Keep your resume to one page [1]. A", " two-page resume is fine for senior roles [2]."]
    llm.script.hold = threading.Event()
    generator = make_generator(llm.base_url)
    parts = generator.stream(QUESTION, PASSAGES)
    try:
        assert next(parts) == "Keep your resume to one page [1]. "  # the server is still holding the rest back
        llm.script.hold.set()
        assert isinstance(list(parts)[-1], Answer)
    finally:
        llm.script.hold.set()
        generator.close()


def test_stream_that_fails_before_any_text_falls_back_as_one_delta(llm: FakeLLMServer):
    llm.script.status = 500
    delta, answer = stream(llm.base_url)
    assert delta == "fallback [1]"
    assert_fell_back(answer, llm.base_url, "HTTP 500")


def test_stream_that_breaks_off_falls_back_with_notice(llm: FakeLLMServer):
    llm.script.reply, llm.script.cut_after = "Keep your resume to one page [1].", 2
    *deltas, answer = stream(llm.base_url)
    assert deltas == ["fallback [1]"]  # nothing of the broken reply was checked, so nothing was shown
    assert_fell_back(answer, llm.base_url, "before [DONE]")


@pytest.mark.parametrize(
    ("raw_body", "reason"),
    [(b'data: {"choices": "nope"}\n\n', "malformed stream chunk"),
     (b'data: {"error": {"message": "overloaded"}}\n\n', "overloaded"),
     (b'data: {"choices": [{"delta": {"content": "One page [1]."}}]}\n\n', "before [DONE]")],
)
def test_stream_with_a_bad_event_falls_back(llm: FakeLLMServer, raw_body: bytes, reason: str):
    llm.script.raw_body = raw_body
    *_, answer = stream(llm.base_url)
    assert_fell_back(answer, llm.base_url, reason)


def test_scripted_replies_answer_requests_in_order(llm: FakeLLMServer):
    llm.script.replies = ["Keep your resume to one page [1].", "A two-page resume is fine for senior roles [2]."]
    first, second = ask(llm.base_url), stream(llm.base_url)[-1]
    assert [c.n for c in first.citations] == [1] and [c.n for c in second.citations] == [2]


def test_stream_without_passages_abstains_without_calling_the_server(llm: FakeLLMServer):
    delta, answer = stream(llm.base_url, passages=[])
    assert answer.abstained and delta == answer.answer == NOT_COVERED
    assert llm.requests == []
