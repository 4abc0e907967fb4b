"""The HTTP API (CONTRACTS §3) against the real model and a real index of the real guides.

Most tests go through FastAPI's TestClient (the lifespan runs); the last group
starts a real uvicorn server on 127.0.0.1 and talks to it over TCP with httpx.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from live_server import running

from api.app import create_app
from rag.service import QAService
from rag.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"

MLOPS_QUESTION = "Which MLOps tools should I learn?"
MLOPS_TOOLS = ("kubeflow", "mlflow", "docker", "kubernetes", "airflow", "dvc", "argo")
PASSAGE_FIELDS = {"doc": str, "section": str, "text": str, "chunk_id": str, "score": float, "start": int, "end": int}
ADMIN_TOKEN = "test-admin-token-7f3a"
MADE_UP = "zorblaxian quantum gardening"
APPENDED = (
    "\n\n## Zorblaxian Quantum Gardening\n\n"
    "Zorblaxian quantum gardening is an invented practice of pruning neural networks by moonlight. "
    "Remote engineers who master zorblaxian quantum gardening grow unusually tidy models.\n"
) + "".join(  # more new sections, so the rebuild embeds for a while and requests overlap it
    f"\n## Imaginary Skill {i}\n\nImaginary skill {i} asks a remote engineer to label {i * 7} synthetic "
    f"datasets per week. Teams in city number {i} measure it with a custom dashboard. It is not a real skill.\n"
    for i in range(1, 13)
)


# --------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def client(service: QAService):
    with TestClient(create_app(service.settings, service)) as c:
        yield c


@pytest.fixture(scope="module")
def chunks(built_index: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in (built_index / "chunks.jsonl").read_text(encoding="utf-8").splitlines()]
    return {row["chunk_id"]: row for row in rows}


@pytest.fixture(scope="module")
def mlops_answer(client: TestClient) -> dict:
    response = client.post("/ask", json={"question": MLOPS_QUESTION})
    assert response.status_code == 200, response.text
    return response.json()


def markers(answer: str) -> set[int]:
    return {int(n) for n in re.findall(r"\[(\d+)\]", answer)}


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def is_subsequence(needle: list[str], haystack: list[str]) -> bool:
    rest = iter(haystack)
    return all(word in rest for word in needle)


def assert_passage(p: dict) -> None:
    for name, kind in PASSAGE_FIELDS.items():
        assert isinstance(p.get(name), kind), f"{name} missing or not {kind.__name__}: {p}"
    assert p["text"].strip() and p["doc"] and p["chunk_id"]
    assert 0 <= p["start"] < p["end"]


def assert_json_error(response: httpx.Response, status: int, needle: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, dict) and body.get("error"), body
    assert needle.lower() in json.dumps(body).lower(), f"{needle!r} not named in {body}"


# --------------------------------------------------------------------------- /ask


def test_ask_answers_mlops_question_with_markers_that_refer_to_its_citations(mlops_answer: dict) -> None:
    assert mlops_answer["answer"].strip()
    assert mlops_answer["abstained"] is False
    numbers = [c["n"] for c in mlops_answer["citations"]]
    assert numbers and len(numbers) == len(set(numbers))
    used = markers(mlops_answer["answer"])
    assert used, "the answer cites nothing"
    assert used <= set(numbers), f"markers {used} without a citation (citations are {numbers})"


def test_ask_citations_carry_the_indexed_chunk_text_and_its_place_in_the_guide(
    mlops_answer: dict, chunks: dict
) -> None:
    raw = {p.name: p.read_text(encoding="utf-8") for p in CORPUS.iterdir()}
    for citation in mlops_answer["citations"]:
        assert_passage(citation)
        chunk = chunks[citation["chunk_id"]]
        assert citation["text"] == chunk["text"]
        assert (citation["doc"], citation["section"]) == (chunk["doc"], chunk["section"])
        assert (citation["start"], citation["end"]) == (chunk["start"], chunk["end"])
        # The text is the guide's own words from [start, end), only cleaned of clutter (bullets, links).
        source = raw[citation["doc"]][citation["start"]:citation["end"]]
        assert is_subsequence(words(citation["text"]), words(source))


def test_ask_mlops_answer_names_a_tool_the_guides_recommend(mlops_answer: dict) -> None:
    corpus_text = " ".join(p.read_text(encoding="utf-8") for p in CORPUS.iterdir()).lower()
    answer = mlops_answer["answer"].lower()
    named = [tool for tool in MLOPS_TOOLS if re.search(rf"\b{tool}\b", answer)]
    assert named, f"no MLOps tool in: {mlops_answer['answer']}"
    assert all(tool in corpus_text for tool in named)


def test_ask_reports_retrieve_and_generate_timings(mlops_answer: dict) -> None:
    timings = mlops_answer["timings"]
    assert timings["retrieve_ms"] > 0 and timings["generate_ms"] > 0


def test_ask_k_limits_the_passages_the_answer_can_cite(client: TestClient) -> None:
    body = client.post("/ask", json={"question": MLOPS_QUESTION, "k": 1}).json()
    assert body["abstained"] is False
    assert len(body["citations"]) == 1 and markers(body["answer"]) == {1}


def test_ask_on_clearly_off_topic_question_abstains_with_nearest_passages(client: TestClient) -> None:
    response = client.post("/ask", json={"question": "How do I bake sourdough bread at home?"})
    assert response.status_code == 200
    body = response.json()
    assert body["abstained"] is True
    assert body["citations"] == [] and not markers(body["answer"])
    assert body["answer"].strip()
    assert 1 <= len(body["nearest"]) <= 3
    for passage in body["nearest"]:
        assert_passage(passage)


def test_ask_on_uncovered_visa_question_abstains_with_nearest_passages(client: TestClient) -> None:
    body = client.post("/ask", json={"question": "What is the visa policy for digital nomads in Portugal?"}).json()
    assert body["abstained"] is True
    assert body["citations"] == []
    assert body["nearest"]
    assert "never mention Portugal" in body["answer"]


# --------------------------------------------------------------------------- /search


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_search_returns_k_passages_best_first_in_each_mode(client: TestClient, mode: str) -> None:
    response = client.post("/search", json={"query": "vector databases", "k": 5, "mode": mode})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == 5
    for passage in results:
        assert_passage(passage)
    scores = [p["score"] for p in results]
    assert scores == sorted(scores, reverse=True)
    assert len({p["chunk_id"] for p in results}) == 5
    assert any("vector database" in (p["section"] + " " + p["text"]).lower() for p in results[:2])


def test_search_mode_changes_the_scoring(client: TestClient) -> None:
    def scores_of(mode: str) -> list[float]:
        body = {"query": "vector databases", "k": 5, "mode": mode}
        return [p["score"] for p in client.post("/search", json=body).json()["results"]]

    scores = {mode: scores_of(mode) for mode in ("dense", "bm25", "hybrid")}
    assert all(-1.0 <= s <= 1.0 for s in scores["dense"])  # cosine
    assert scores["bm25"][0] > 1.0  # raw BM25, not a cosine
    assert len({tuple(v) for v in scores.values()}) == 3


def test_search_edition_filter_returns_only_that_edition(client: TestClient) -> None:
    unfiltered = client.post("/search", json={"query": "vector databases", "k": 10}).json()["results"]
    assert {p["edition"] for p in unfiltered} == {"2024", "2026"}, "the query must hit both editions"
    body = {"query": "vector databases", "k": 10, "editions": ["2024"]}
    results = client.post("/search", json=body).json()["results"]
    assert len(results) == 10
    assert {p["edition"] for p in results} == {"2024"}


# --------------------------------------------------------------------------- /health


def test_health_reports_the_index_identity(client: TestClient, built_index: Path, service: QAService) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["model"] == service.embedder.model_name
    lines = (built_index / "chunks.jsonl").read_text(encoding="utf-8").splitlines()
    assert body["chunk_count"] == len(lines)
    datetime.fromisoformat(body["built_at"])
    assert body["rebuild_running"] is False


# --------------------------------------------------------------------------- bad input

JSON = {"content-type": "application/json"}
BAD_INPUT = [
    pytest.param("/ask", {"json": {"question": ""}}, 422, "question", id="ask-empty-question"),
    pytest.param("/ask", {"json": {"question": " \t\n "}}, 422, "whitespace", id="ask-whitespace-question"),
    pytest.param("/ask", {"json": {"question": 42}}, 422, "question", id="ask-number-question"),
    pytest.param("/ask", {"json": {"question": ["what", "is", "mlops"]}}, 422, "question", id="ask-list-question"),
    pytest.param("/ask", {"json": {"question": None}}, 422, "question", id="ask-null-question"),
    pytest.param("/ask", {"json": {"question": "why " * 600}}, 422, "limit", id="ask-over-long-question"),
    pytest.param("/ask", {"json": {"question": "mlops", "k": 0}}, 422, '"k"', id="ask-k-zero"),
    pytest.param("/ask", {"json": {"question": "mlops", "k": 1000}}, 422, '"k"', id="ask-k-huge"),
    pytest.param("/ask", {"json": {"question": "mlops", "k": "3"}}, 422, '"k"', id="ask-k-string"),
    pytest.param("/ask", {"json": {"question": "mlops", "temperature": 0.2}}, 422, "temperature",
                 id="ask-unknown-field"),
    pytest.param("/ask", {"json": {}}, 422, "question", id="ask-missing-field"),
    pytest.param("/ask", {"content": b'{"question": "mlops"', "headers": JSON}, 422, "malformed json",
                 id="ask-malformed-json"),
    pytest.param("/ask", {"content": b'{"question": "ml\xff\xfeops"}', "headers": JSON}, 400, "utf-8",
                 id="ask-non-utf8"),
    pytest.param("/ask", {"content": b'{"question": "mlops"}', "headers": {"content-type": "text/plain"}}, 415,
                 "application/json", id="ask-text-plain-content-type"),
    pytest.param("/ask", {"data": {"question": "mlops"}}, 415, "application/json", id="ask-form-encoded"),
    pytest.param("/search", {"json": {"query": "   "}}, 422, "query", id="search-whitespace-query"),
    pytest.param("/search", {"json": {"query": "x" * 2001}}, 422, "limit", id="search-over-long-query"),
    pytest.param("/search", {"json": {"query": "mlops", "k": 0}}, 422, '"k"', id="search-k-zero"),
    pytest.param("/search", {"json": {"query": "mlops", "mode": "fuzzy"}}, 422, "mode", id="search-unknown-mode"),
    pytest.param("/search", {"json": {"query": "mlops", "editions": "2024"}}, 422, "editions",
                 id="search-editions-not-list"),
]


@pytest.mark.parametrize(("path", "request_kwargs", "status", "needle"), BAD_INPUT)
def test_bad_input_is_4xx_with_json_reason_never_500(
    client: TestClient, path: str, request_kwargs: dict, status: int, needle: str
) -> None:
    assert_json_error(client.post(path, **request_kwargs), status, needle)


def test_question_of_exactly_the_limit_is_accepted(client: TestClient, service: QAService) -> None:
    question = ("mlops " * service.settings.max_question_chars)[: service.settings.max_question_chars]
    assert client.post("/ask", json={"question": question, "k": 3}).status_code == 200


# --------------------------------------------------------------------------- /index/rebuild


def test_rebuild_is_403_when_no_admin_token_is_configured(client: TestClient) -> None:
    response = client.post("/index/rebuild", headers={"Authorization": "Bearer anything"})
    assert_json_error(response, 403, "RAG_ADMIN_TOKEN")
    assert client.get("/health").json()["rebuild_running"] is False


@pytest.fixture
def admin_client(corpus_copy: Path, index_copy: Path, embedder):
    settings = Settings(corpus_dir=corpus_copy, index_dir=index_copy, admin_token=ADMIN_TOKEN)
    with TestClient(create_app(settings, QAService(settings, embedder))) as c:
        yield c


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": ADMIN_TOKEN}],
    ids=["no-header", "wrong-token", "token-without-bearer"],
)
def test_rebuild_is_401_without_the_right_bearer_token(admin_client: TestClient, headers: dict) -> None:
    response = admin_client.post("/index/rebuild", headers=headers)
    assert_json_error(response, 401, "token")
    assert response.headers.get("www-authenticate") == "Bearer"
    assert admin_client.get("/health").json()["last_rebuild"] is None


def test_rebuild_swaps_in_the_new_index_while_queries_keep_succeeding(
    admin_client: TestClient, corpus_copy: Path, index_copy: Path
) -> None:
    def find_made_up() -> bool:
        r = admin_client.post("/search", json={"query": MADE_UP, "k": 3, "mode": "bm25"})
        assert r.status_code == 200, r.text
        return any(MADE_UP in p["text"].lower() for p in r.json()["results"])

    before = admin_client.get("/health").json()
    assert not find_made_up()
    guide = sorted(corpus_copy.glob("*.txt"))[-1]
    guide.write_text(guide.read_text(encoding="utf-8") + APPENDED, encoding="utf-8")

    response = admin_client.post("/index/rebuild", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert response.status_code == 202 and response.json() == {"status": "started"}

    failures: list[str] = []
    seen: list[bool] = []  # per round: did /search already see the new paragraph?
    requests = 0
    deadline = time.monotonic() + 120
    while True:
        for path, body in (
            ("/search", {"query": "vector databases", "k": 5}),
            ("/search", {"query": MADE_UP, "k": 3, "mode": "bm25"}),
            ("/ask", {"question": MLOPS_QUESTION}),
        ):
            requests += 1
            r = admin_client.post(path, json=body)
            if r.status_code != 200:
                failures.append(f"{path} {r.status_code} {r.text[:200]}")
            elif path == "/search" and body["query"] == MADE_UP:
                seen.append(any(MADE_UP in p["text"].lower() for p in r.json()["results"]))
        health = admin_client.get("/health")
        assert health.status_code == 200
        state = health.json()
        if not state["rebuild_running"] and state["last_rebuild"] is not None:
            break
        assert time.monotonic() < deadline, "rebuild did not finish in 120 s"

    assert failures == [], failures
    assert requests >= 3
    assert state["last_rebuild"]["status"] == "built", state["last_rebuild"]
    assert state["last_rebuild"]["embedded"] >= 1  # the appended paragraph really was embedded ...
    assert state["last_rebuild"]["embedded"] < before["chunk_count"] // 2  # ... and the rest reused
    # Old index or new one, never a mix: once a request sees the new paragraph, all later ones do.
    assert seen == sorted(seen)
    assert find_made_up()
    assert state["chunk_count"] == len((index_copy / "chunks.jsonl").read_text(encoding="utf-8").splitlines())
    assert state["chunk_count"] > before["chunk_count"]


# --------------------------------------------------------------------------- a real uvicorn server


@pytest.fixture(scope="module")
def server_url(service: QAService):
    with running(create_app(service.settings, service)) as url:
        yield url


def test_real_server_answers_ask_over_http(server_url: str, chunks: dict) -> None:
    response = httpx.post(f"{server_url}/ask", json={"question": MLOPS_QUESTION}, timeout=60)
    assert response.status_code == 200
    body = response.json()
    assert body["abstained"] is False and body["answer"].strip()
    assert markers(body["answer"]) <= {c["n"] for c in body["citations"]}
    assert all(c["text"] == chunks[c["chunk_id"]]["text"] for c in body["citations"])


def test_real_server_search_and_health_over_http(server_url: str, chunks: dict) -> None:
    response = httpx.post(f"{server_url}/search", json={"query": "vector databases", "k": 3}, timeout=60)
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 3 and all(p["chunk_id"] in chunks for p in results)
    health = httpx.get(f"{server_url}/health", timeout=10).json()
    assert health["status"] == "ok" and health["chunk_count"] == len(chunks)


def test_real_server_rejects_undecodable_body_with_json_400(server_url: str) -> None:
    response = httpx.post(
        f"{server_url}/ask", content=b'{"question": "\xc3\x28 mlops"}', headers=JSON, timeout=30
    )
    assert_json_error(response, 400, "utf-8")
    # The server is still healthy afterwards.
    assert httpx.get(f"{server_url}/health", timeout=10).status_code == 200


def test_openapi_description_names_the_indexed_guides(client: TestClient) -> None:
    description = client.get("/openapi.json").json()["info"]["description"]
    assert "Essential Machine Learning Skills" in description and "machine-learning career" not in description


def test_what_the_service_loaded_is_frozen_out_of_garbage_collection(client: TestClient) -> None:
    # a full collection walking the model and the index held the GIL ~100 ms under load (bench/README.md)
    import gc

    assert gc.get_freeze_count() > 50_000
