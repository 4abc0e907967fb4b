"""POST /ask/stream (CONTRACTS §3): server-sent events over the real model and index.

TestClient for the event sequence and the errors; a real uvicorn server for a
client that hangs up mid-answer.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from live_server import running

from api.app import create_app
from rag.core.types import Answer, Citation, ScoredChunk
from rag.pipeline import QAPipeline
from rag.service import QAService

MLOPS_QUESTION = "Which MLOps tools should I learn?"


@pytest.fixture(scope="module")
def client(service: QAService):
    with TestClient(create_app(service.settings, service)) as c:
        yield c


def parse_events(body: str) -> list[tuple[str, dict]]:
    """(event, data) pairs of a text/event-stream body; comments (pings) skipped."""
    events = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        fields = [line.split(":", 1) for line in block.split("\n") if line and not line.startswith(":")]
        if fields:
            name = next((v.strip() for k, v in fields if k == "event"), "message")
            data = "\n".join(v[1:] if v.startswith(" ") else v for k, v in fields if k == "data")
            events.append((name, json.loads(data)))
    return events


def stream(client: TestClient, body: dict) -> list[tuple[str, dict]]:
    response = client.post("/ask/stream", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return parse_events(response.text)


def without_timings(response: dict) -> dict:
    return {k: v for k, v in response.items() if k != "timings"}


def test_stream_sends_passages_then_deltas_then_the_ask_response(client: TestClient) -> None:
    events = stream(client, {"question": MLOPS_QUESTION})
    names = [name for name, _ in events]
    assert names[0] == "passages" and names[-1] == "done"
    assert set(names[1:-1]) == {"delta"} and len(names) > 3  # sentence by sentence
    done = events[-1][1]
    assert "".join(data["text"] for name, data in events if name == "delta") == done["answer"]
    assert without_timings(done) == without_timings(client.post("/ask", json={"question": MLOPS_QUESTION}).json())
    assert done["citations"] and "[1]" in done["answer"]
    searched = client.post("/search", json={"query": MLOPS_QUESTION}).json()["results"]
    passages = events[0][1]["passages"]
    assert [p["chunk_id"] for p in passages] == [p["chunk_id"] for p in searched]
    assert set(passages[0]) == set(searched[0])


def test_stream_of_an_abstention_says_so_with_the_nearest_passages(client: TestClient) -> None:
    events = stream(client, {"question": "Is Rust good for machine learning?"})
    done = events[-1][1]
    assert events[-1][0] == "done" and done["abstained"] and "Rust" in done["answer"]
    assert done["nearest"] and not done["citations"]
    assert "".join(data["text"] for name, data in events if name == "delta") == done["answer"]


def test_stream_takes_the_ask_request_body(client: TestClient) -> None:
    history = [{"role": "user", "content": "What does the 2024 guide say about vector databases?"},
               {"role": "assistant", "content": "It names Pinecone and Weaviate. [1]"}]
    body = {"question": "Which ones does it name?", "editions": ["2024"], "k": 5, "history": history}
    events = stream(client, body)
    assert all(p["edition"] == "2024" for p in events[0][1]["passages"]) and len(events[0][1]["passages"]) == 5
    done = events[-1][1]
    assert without_timings(done) == without_timings(client.post("/ask", json=body).json())
    assert events[0][1]["read_in_context"] == done["read_in_context"] == "vector databases (the 2024 guide)"
    alone = stream(client, {"question": "Which MLOps tools should I learn?", "history": history})
    assert alone[0][1]["read_in_context"] is None and alone[-1][1]["read_in_context"] is None


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"question": "   "}, 422),
        ({"question": "x" * 2001}, 422),
        ({"question": MLOPS_QUESTION, "k": 0}, 422),
        ({"question": MLOPS_QUESTION, "history": [{"role": "system", "content": "hi"}]}, 422),
        ({"question": MLOPS_QUESTION, "stream": True}, 422),
        ({"query": MLOPS_QUESTION}, 422),
    ],
)
def test_bad_stream_requests_get_a_json_4xx_not_a_stream(client: TestClient, body: dict, status: int) -> None:
    response = client.post("/ask/stream", json=body)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]


def test_non_json_stream_request_gets_415(client: TestClient) -> None:
    response = client.post("/ask/stream", content=b"question=hi", headers={"content-type": "text/plain"})
    assert response.status_code == 415 and "JSON" in response.json()["error"]


class FailingStream:
    """Streams one sentence, then its upstream fails."""

    name = "failing"

    def generate(self, question: str, passages: list[ScoredChunk]) -> Answer:
        raise AssertionError("a generator that can stream is streamed")

    def stream(self, question: str, passages: list[ScoredChunk]) -> Iterator[str | Answer]:
        yield "Kubeflow is one. [1] "
        raise RuntimeError("upstream connection reset")


class SlowStream:
    """Streams a sentence every 50 ms for 10 s; records how many it sent and whether it was closed."""

    name = "slow"

    def __init__(self) -> None:
        self.sent = 0
        self.closed = threading.Event()

    def generate(self, question: str, passages: list[ScoredChunk]) -> Answer:
        raise AssertionError("a generator that can stream is streamed")

    def stream(self, question: str, passages: list[ScoredChunk]) -> Iterator[str | Answer]:
        try:
            for i in range(200):
                self.sent += 1
                yield f"Sentence {i}. [1] "
                time.sleep(0.05)
            yield Answer("done", False, [Citation.of(1, passages[0])], generator=self.name)
        finally:
            self.closed.set()


@pytest.fixture
def own_service(service: QAService) -> QAService:
    """A service of its own over the shared index and model, free to change its generator."""
    return QAService(service.settings, service.embedder)


def use_generator(service: QAService, generator: object) -> None:
    engine = service.engine
    engine.pipeline = QAPipeline(engine.retriever, generator, service.settings.abstain_threshold, engine.index.bm25.mentions)


def test_a_failure_mid_stream_is_an_error_event_instead_of_done(own_service: QAService) -> None:
    with TestClient(create_app(own_service.settings, own_service)) as c:
        use_generator(own_service, FailingStream())  # after startup, which loads the engine afresh
        events = stream(c, {"question": MLOPS_QUESTION})
    assert [name for name, _ in events] == ["passages", "delta", "error"]
    assert events[-1][1] == {"error": "internal error; see the server log"}


def test_a_client_that_hangs_up_stops_the_answer(own_service: QAService) -> None:
    slow = SlowStream()
    with running(create_app(own_service.settings, own_service)) as url:
        use_generator(own_service, slow)
        with httpx.stream("POST", f"{url}/ask/stream", json={"question": MLOPS_QUESTION}, timeout=30) as response:
            assert response.status_code == 200
            lines = response.iter_lines()
            assert next(line for line in lines if line.startswith("event: delta"))
        assert slow.closed.wait(timeout=10), "the answer went on after the client left"
        sent = slow.sent
        time.sleep(0.3)
        assert slow.sent == sent < 200


def test_a_client_that_hangs_up_on_a_whole_reply_stops_the_answer(own_service: QAService) -> None:
    """/ask reads an answer's deltas together in its thread, but still looks for a hang-up between them."""
    slow = SlowStream()
    with running(create_app(own_service.settings, own_service)) as url:
        use_generator(own_service, slow)
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{url}/ask", json={"question": MLOPS_QUESTION}, timeout=0.5)
        assert slow.closed.wait(timeout=10), "the answer went on after the client left"
        sent = slow.sent
        time.sleep(0.3)
        assert slow.sent == sent < 200
