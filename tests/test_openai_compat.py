"""/v1/models and /v1/chat/completions through the official `openai` SDK, against a real uvicorn server."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import openai
import pytest
from fake_llm_server import FakeLLMServer
from live_server import running

from api.app import create_app
from rag.service import QAService

QUESTION = "Which MLOps tools should I learn?"
FIRST = "What does the 2024 guide say about vector databases?"


@pytest.fixture(scope="module")
def base_url(service: QAService) -> Iterator[str]:
    with running(create_app(service.settings, service)) as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key="unused", max_retries=0, timeout=60)


def ask(client: openai.OpenAI, *messages: tuple[str, str], **kwargs):
    return client.chat.completions.create(
        model="guides-qa", messages=[{"role": r, "content": c} for r, c in messages], **kwargs
    )


def test_models_list_has_guides_qa(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["guides-qa"]
    assert client.models.retrieve("guides-qa").owned_by == "guides-qa"


def test_completion_is_the_ask_answer_with_sources_and_citations(client: openai.OpenAI, service: QAService) -> None:
    reply = ask(client, ("system", "Be brief."), ("user", QUESTION), temperature=0.2, max_tokens=300, user="u1", n=1)
    assert reply.object == "chat.completion" and reply.model == "guides-qa"
    choice = reply.choices[0]
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    expected = service.engine.pipeline.ask(QUESTION).answer
    answer, _, sources = choice.message.content.partition("\n\nSources:\n")
    assert answer == expected.answer
    citations = reply.model_extra["citations"]
    assert [c["n"] for c in citations] == [c.n for c in expected.citations]
    assert {int(n) for n in re.findall(r"\[(\d+)\]", answer)} == {c["n"] for c in citations}
    for c in citations:
        assert f"- [{c['n']}] {c['doc']} ({c['edition']} edition), {c['section']}" in sources.splitlines()
    assert reply.usage.completion_tokens > 0


def test_stream_sends_role_then_deltas_that_join_into_the_whole_reply(client: openai.OpenAI) -> None:
    whole = ask(client, ("user", QUESTION)).choices[0].message.content
    chunks = list(ask(client, ("user", QUESTION), stream=True, stream_options={"include_usage": True}))
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    assert chunks[0].choices[0].delta.role == "assistant"
    deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(deltas) > 2
    assert "".join(deltas) == whole
    stop = [c for c in chunks if c.choices and c.choices[0].finish_reason == "stop"]
    assert len(stop) == 1 and stop[0].model_extra["citations"]
    assert not chunks[-1].choices and chunks[-1].usage.completion_tokens > 0


def test_stream_ends_with_done(base_url: str) -> None:
    body = {"model": "guides-qa", "stream": True, "messages": [{"role": "user", "content": QUESTION}]}
    with httpx.stream("POST", f"{base_url}/v1/chat/completions", json=body, timeout=60) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        data = [line for line in response.iter_lines() if line.startswith("data:")]
    assert data[-1] == "data: [DONE]"


def test_followup_is_answered_from_the_earlier_topic_and_edition(client: openai.OpenAI) -> None:
    first = ask(client, ("user", FIRST)).choices[0].message.content
    reply = ask(client, ("user", FIRST), ("assistant", first), ("user", "Which ones does it name?"))
    content = reply.choices[0].message.content.lower()
    assert "pinecone" in content and "milvus" in content
    assert {c["edition"] for c in reply.model_extra["citations"]} == {"2024"}


def test_text_parts_are_read_like_a_string(client: openai.OpenAI) -> None:
    parts = [{"type": "text", "text": QUESTION}]
    reply = client.chat.completions.create(model="guides-qa", messages=[{"role": "user", "content": parts}])
    assert reply.choices[0].message.content == ask(client, ("user", QUESTION)).choices[0].message.content


def test_unknown_model_is_404_model_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": QUESTION}])
    assert caught.value.code == "model_not_found" and "guides-qa" in caught.value.message
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")


@pytest.mark.parametrize(
    ("messages", "extra", "param"),
    [
        ([{"role": "system", "content": "Be brief."}], {}, "messages"),
        ([{"role": "user", "content": QUESTION}, {"role": "assistant", "content": "Hi"}], {}, "messages"),
        ([{"role": "user", "content": "   "}], {}, "messages"),
        ([], {}, "messages"),
        ([{"role": "user", "content": QUESTION}], {"n": 2}, "n"),
        ([{"role": "user", "content": "x" * 5000}], {}, "messages"),
        ([{"role": "wizard", "content": QUESTION}], {}, "messages.0.role"),
    ],
)
def test_bad_requests_are_400_in_openai_shape(client: openai.OpenAI, messages, extra, param) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="guides-qa", messages=messages, **extra)
    error = caught.value.body
    assert caught.value.status_code == 400 and error["param"] == param and error["type"] == "invalid_request_error"
    assert error["message"]


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe", b'{"messages": [{"role": "user", "content": "hi"}]}', b"[]"])
def test_malformed_bodies_are_400_never_500(base_url: str, raw: bytes) -> None:
    response = httpx.post(f"{base_url}/v1/chat/completions", content=raw,
                          headers={"content-type": "application/json"}, timeout=30)
    assert response.status_code == 400
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_abstention_says_so_without_sources(client: openai.OpenAI) -> None:
    reply = ask(client, ("user", "Is Rust good for machine learning?"))
    assert reply.model_extra["abstained"] is True and reply.model_extra["citations"] == []
    content = reply.choices[0].message.content
    assert content.startswith("The guides don't cover this.") and "Sources:" not in content


def test_llm_generator_tokens_stream_through_the_route(service: QAService) -> None:
    """With RAG_GENERATOR=llm the route streams the upstream reply a checked sentence at a time."""
    fake = FakeLLMServer()
    fake.start()
    settings = service.settings.model_copy(update={"generator": "llm", "llm_base_url": fake.base_url})
    llm_service = QAService(settings, service.embedder)
    top = llm_service.engine.retriever.retrieve(QUESTION, k=10)[0]
    supported = top.chunk.quotes()[0].text.rstrip(".") + " [1]. "
    fake.script.reply = supported + "Recruiters love colourful infographics [1]."
    try:
        with running(create_app(settings, llm_service)) as url:
            client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=60)
            chunks = list(ask(client, ("user", QUESTION), stream=True))
    finally:
        fake.stop()
    deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    answer, sources = deltas[:-1], deltas[-1]
    assert answer == [supported]  # the unsupported second sentence is never shown
    assert fake.requests[0].body["stream"] is True
    assert sources.startswith("\n\nSources:\n- [1] ")
    stop = next(c for c in chunks if c.choices and c.choices[0].finish_reason == "stop")
    assert [c["chunk_id"] for c in stop.model_extra["citations"]] == [top.chunk.chunk_id]


@pytest.fixture
def slow_llm(service: QAService) -> Iterator[tuple[FakeLLMServer, str]]:
    """A server on the llm generator whose upstream LLM streams a long cited reply, a word every 50 ms."""
    fake = FakeLLMServer()
    fake.start()
    settings = service.settings.model_copy(update={"generator": "llm", "llm_base_url": fake.base_url})
    llm_service = QAService(settings, service.embedder)
    top = llm_service.engine.retriever.retrieve(QUESTION, k=10)[0]
    fake.script.reply = " ".join(q.text.rstrip(".") + " [1]." for q in top.chunk.quotes()) * 20
    fake.script.piece_delay = 0.05
    try:
        with running(create_app(settings, llm_service)) as url:
            yield fake, url
    finally:
        fake.stop()


def test_a_whole_reply_stops_its_llm_when_the_client_hangs_up(slow_llm: tuple[FakeLLMServer, str]) -> None:
    """Non-streamed, on /v1 (the openai SDK giving up) and on /ask: the upstream LLM request is closed."""
    fake, url = slow_llm
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=2)
    with pytest.raises(openai.APITimeoutError):
        ask(client, ("user", QUESTION))
    assert fake.hung_up.wait(30), "the LLM kept writing to a server whose client had gone"
    fake.hung_up.clear()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{url}/ask", json={"question": QUESTION}, timeout=2)
    assert fake.hung_up.wait(30), "the LLM kept writing to a server whose client had gone"
    assert all(r.body["stream"] for r in fake.requests)
