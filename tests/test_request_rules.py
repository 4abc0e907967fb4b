"""The request rule (rag.query.request) and the error table (api.errors) on every HTTP surface: a real
uvicorn on 127.0.0.1, the official `openai` client on /v1, raw sockets where the connection matters."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jsonschema
import openai
import pytest
from live_server import running

from api.app import create_app
from api.openai_compat import ChatError
from rag.core.errors import OverloadedError
from rag.query import request as rules
from rag.service import QAService
from rag.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
BODY_LIMIT = 64 * 1024
BLANK = ["\u0085", "\u00a0", " \u3000\ufeff ", "\x07\x94", "\t\n\r"]
CHAT = "/v1/chat/completions"


def settings(index: Path, **limits: int) -> Settings:
    return Settings(corpus_dir=ROOT / "corpus", index_dir=index, max_body_bytes=BODY_LIMIT, **limits)


@pytest.fixture(scope="module")
def url(service: QAService, built_index: Path) -> Iterator[str]:
    with running(create_app(settings(built_index), service)) as base:
        yield base


@pytest.fixture
def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def exchange(s: socket.socket, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send one HTTP/1.1 request on an open connection; its status, headers and body (by Content-Length)."""
    s.sendall(raw)
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    while len(body) < int(headers.get("content-length", 0)):
        body += s.recv(65536)
    return int(lines[0].split()[1]), headers, body


def post(path: str, body: bytes, content_type: str = "application/json", length: int | None = None) -> bytes:
    length = len(body) if length is None else length
    return (f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {length}\r\n\r\n").encode() + body


# --------------------------------------------------------------------------- the rule itself


@pytest.mark.parametrize("text", BLANK)
def test_the_content_rule_and_the_schema_pattern_refuse_the_same_blank_text(text: str) -> None:
    with pytest.raises(rules.InvalidRequestError, match="empty"):
        rules.clean_question(text)
    assert not jsonschema.Draft202012Validator({"pattern": rules.CONTENT_PATTERN}).is_valid(text)


def test_text_with_content_is_accepted_by_both_and_cleaned_of_control_codes() -> None:
    assert jsonschema.Draft202012Validator({"pattern": rules.CONTENT_PATTERN}).is_valid("\u0085mlops")
    assert rules.clean_question("\x1b[1mWhich MLOps tools?\x1b[0m\u0085") == "Which MLOps tools?"


def test_limits_k_and_the_history_window() -> None:
    with pytest.raises(rules.InvalidRequestError, match="limit is 16"):
        rules.clean_question("x" * 17, max_chars=16)
    for k in (0, rules.MAX_K + 1, True):
        with pytest.raises(rules.InvalidRequestError, match="k must"):
            rules.check_k(k)
    assert rules.check_k(rules.MAX_K) == rules.MAX_K
    from rag.core.types import Turn

    turns = [Turn("user", f"q{i}") for i in range(rules.MAX_HISTORY + 5)]
    assert rules.recent_turns(turns) == turns[-rules.MAX_HISTORY:]
    with pytest.raises(rules.InvalidRequestError, match="earlier message 1"):
        rules.recent_turns([Turn("user", "x" * (rules.MAX_MESSAGE_CHARS + 1))])


def test_an_overload_is_503_with_retry_after_on_v1_too() -> None:
    refused = ChatError.of(OverloadedError("busy", retry_after_s=3))
    assert (refused.status, refused.headers) == (503, {"Retry-After": "3"})


# --------------------------------------------------------------------------- over HTTP


@pytest.mark.parametrize("text", ["\u0085", "\u00a0"])
def test_a_blank_question_is_refused_by_ask_and_by_the_chat_route(url: str, client: openai.OpenAI, text: str) -> None:
    assert httpx.post(f"{url}/ask", json={"question": text}, timeout=30).status_code == 422
    with pytest.raises(openai.BadRequestError, match="empty"):
        client.chat.completions.create(model="guides-qa", messages=user(text))


def test_the_schema_publishes_the_rules_pattern_and_k_range(url: str) -> None:
    schemas = httpx.get(f"{url}/openapi.json", timeout=10).json()["components"]["schemas"]
    assert schemas["AskRequest"]["properties"]["question"]["pattern"] == rules.CONTENT_PATTERN
    assert schemas["SearchRequest"]["properties"]["k"]["maximum"] == rules.MAX_K


@pytest.mark.parametrize("path", ["/ask", "/search", "/ask/stream"])
@pytest.mark.parametrize(("field", "name", "valid"), [("editions", "2025", "2026"),
                                                     ("docs", "nope.txt", "003_6cee5c8495e18b4b.txt")])
def test_an_unknown_edition_or_document_is_422_naming_the_valid_ones(url: str, path: str, field: str, name: str,
                                                                     valid: str) -> None:
    text = "query" if path == "/search" else "question"
    response = httpx.post(f"{url}{path}", json={text: "vector databases", field: [name]}, timeout=30)
    assert response.status_code == 422, response.text
    assert name in response.json()["error"] and valid in response.json()["error"]


def test_every_chat_message_counts_against_a_limit(client: openai.OpenAI) -> None:
    messages = [*user("x" * (rules.MAX_MESSAGE_CHARS + 1)), {"role": "assistant", "content": "ok"},
                *user("Which MLOps tools should I learn?")]
    with pytest.raises(openai.BadRequestError, match=r"messages\[0\]"):
        client.chat.completions.create(model="guides-qa", messages=messages)


@pytest.mark.parametrize("body", [
    b'{"model": "guides-qa", "messages": [{"role": "user", "content": "mlops \\ud800"}]}',
    b'{"model": "guides-qa\\udfff", "messages": [{"role": "user", "content": "mlops"}]}',
    b'{"model": "guides-qa", "messages": [{"role": "user", "content": "mlops"}], "x": ' + b"[" * 1000 + b"]" * 1000
    + b"}",
], ids=["surrogate-in-message", "surrogate-in-model", "nested-1000-deep"])
def test_chat_input_that_gave_a_500_is_4xx_and_the_connection_stays_usable(url: str, body: bytes) -> None:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        status, _, reply = exchange(s, post(CHAT, body))
        assert 400 <= status < 500, reply
        assert set(json.loads(reply)["error"]) == {"message", "type", "param", "code"}
        status, _, _ = exchange(s, b"GET /v1/models HTTP/1.1\r\nHost: test\r\n\r\n")  # the same connection
        assert status == 200


def test_a_text_plain_chat_body_is_415_in_openai_shape(url: str) -> None:
    body = json.dumps({"model": "guides-qa", "messages": user("mlops")})
    response = httpx.post(f"{url}{CHAT}", content=body, headers={"content-type": "text/plain"}, timeout=30)
    assert response.status_code == 415
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_a_chat_body_over_the_limit_is_413_in_openai_shape_as_documented(url: str, client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as raised:
        client.chat.completions.create(model="guides-qa", messages=user("mlops " * BODY_LIMIT))
    assert raised.value.status_code == 413 and "larger than" in raised.value.message
    documented = httpx.get(f"{url}/openapi.json", timeout=10).json()["paths"][CHAT]["post"]["responses"]
    assert {"413", "415", "503"} <= set(documented)
    assert documented["413"]["content"]["application/json"]["schema"]["$ref"].endswith("/OpenAIError")
    assert "Retry-After" in documented["503"]["headers"]


# --------------------------------------------------------------------------- overload


def test_a_refusal_comes_before_the_body_is_read_on_every_surface(service: QAService, built_index: Path) -> None:
    """One request held inside (its body never finishes) fills a server that admits one; the next request is
    refused with 503 and Retry-After although its own body never comes either, /v1 in OpenAI's shape."""
    with running(create_app(settings(built_index, queue_max=1), service)) as base:
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=30) as held:
            held.sendall(post("/ask", b'{"question": ', length=100))
            deadline = time.monotonic() + 30
            while httpx.get(f"{base}/v1/models", timeout=10).status_code != 503:  # until the held one is inside
                assert time.monotonic() < deadline, "the held request never entered the server"
            with socket.create_connection((host, int(port)), timeout=30) as s:
                status, headers, body = exchange(s, post("/search", b"", length=5000))
            assert status == 503 and int(headers["retry-after"]) >= 1 and "busy" in json.loads(body)["error"]
            client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0)
            with pytest.raises(openai.InternalServerError) as raised:
                client.chat.completions.create(model="guides-qa", messages=user("mlops"))
            assert raised.value.status_code == 503 and int(raised.value.response.headers["retry-after"]) >= 1
            assert "busy" in raised.value.message
            assert httpx.get(f"{base}/health", timeout=10).status_code == 200


# --------------------------------------------------------------------------- nothing from outside, nothing echoed


def test_the_docs_page_loads_everything_from_this_server(url: str) -> None:
    page = httpx.get(f"{url}/docs", timeout=10)
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(a.startswith("/docs/assets/") for a in assets), assets
    assert "http" not in page.text.replace("http-equiv", "")
    assert all(httpx.get(f"{url}{a}", timeout=10).status_code == 200 for a in assets)


def test_no_redirect_echoes_the_host_header(url: str) -> None:
    for path in ("/ask/", "/docs/", "/v1/models/"):
        response = httpx.get(f"{url}{path}", headers={"Host": "evil.example"}, timeout=10)
        assert "evil.example" not in response.headers.get("location", "") + response.text, path


def test_the_schema_lists_the_valid_editions_and_documents(url: str, service: QAService) -> None:
    properties = httpx.get(f"{url}/openapi.json", timeout=10).json()["components"]["schemas"]["AskRequest"]["properties"]
    index = service.engine.index
    assert properties["editions"]["anyOf"][0]["items"]["enum"] == sorted(index.editions)
    assert properties["docs"]["anyOf"][0]["items"]["enum"] == index.manifest.documents
