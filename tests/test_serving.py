"""The service under `rag serve` (a real uvicorn subprocess on 127.0.0.1): limits, timeouts, overload,
graceful shutdown, bad input that once gave a 500, /metrics, and the rebuild state.

Sockets matter here, so these tests talk to the server over TCP, raw where the
point is what the server does before or without a whole request.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from served import BODY_LIMIT, READ_TIMEOUT, ROOT, Served

from api.app import create_app
from rag.index.store import read_manifest
from rag.service import QAService
from rag.settings import Settings

ADMIN_TOKEN = "serving-test-token"
DEADLINE = 3.0  # seconds to send a whole request (RAG_REQUEST_DEADLINE_S) in the module's server


@pytest.fixture(scope="module")
def server(built_index: Path, tmp_path_factory: pytest.TempPathFactory):
    """A small encoder queue (2 waiting, batches of 1) so that overload is easy to reach."""
    served = Served(built_index, tmp_path_factory.mktemp("serve") / "server.log", RAG_QUEUE_MAX="2", RAG_BATCH_MAX="1",
                    RAG_REQUEST_DEADLINE_S=str(DEADLINE))
    yield served
    served.stop()


def read_response(s: socket.socket, timeout: float = 10) -> bytes:
    """Everything the server sends until it closes the connection (or `timeout`)."""
    s.settimeout(timeout)
    data = b""
    try:
        while chunk := s.recv(65536):
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return data


def closed_within(s: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed the connection, or None if it stayed open."""
    started = time.monotonic()
    s.settimeout(seconds)
    try:
        while s.recv(65536):
            pass
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - started


def assert_json_error(response: httpx.Response, status: int, needle: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) <= {"error", "details"} and body["error"], body
    assert needle.lower() in json.dumps(body).lower(), body


# --------------------------------------------------------------------------- body size


def test_declared_oversized_body_gets_413_before_any_of_it_is_sent(server: Served) -> None:
    with server.connect() as s:
        s.sendall(b"POST /ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 104857600\r\n\r\n")  # 100 MB announced, none sent
        reply = read_response(s)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), reply[:300]
    assert b"content-type: application/json" in head.lower()
    assert json.loads(body)["error"] == f"the request body is larger than {BODY_LIMIT} bytes"


def test_streamed_body_is_cut_off_at_the_limit(server: Served) -> None:
    def chunks():
        for _ in range(40):  # 40 x 8 KiB = 320 KiB, no Content-Length
            yield b"a" * 8192

    response = httpx.post(f"{server.url}/ask", content=chunks(), headers={"content-type": "application/json"},
                          timeout=30)
    assert_json_error(response, 413, "larger than")


def test_body_just_under_the_limit_is_read(server: Served) -> None:
    body = b'{"query": "mlops", "k": 1}'
    response = httpx.post(f"{server.url}/search", content=body + b" " * (BODY_LIMIT - len(body)),
                          headers={"content-type": "application/json"}, timeout=30)
    assert response.status_code == 200, response.text


# --------------------------------------------------------------------------- timeouts


def test_connection_that_sends_nothing_is_closed_after_the_read_timeout(server: Served) -> None:
    with server.connect() as s:
        closed = closed_within(s, 10)
    assert closed is not None, "the idle connection stayed open"
    assert READ_TIMEOUT * 0.8 <= closed <= READ_TIMEOUT + 3


@pytest.mark.parametrize("partial", [
    pytest.param(b"POST /ask HTTP/1.1\r\nHost: x\r\nContent-Ty", id="stalled-headers"),
    pytest.param(b"POST /ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n"
                 b'{"question": "wh', id="stalled-body"),
])
def test_connection_that_stops_mid_request_is_closed(server: Served, partial: bytes) -> None:
    with server.connect() as s:
        s.sendall(partial)
        closed = closed_within(s, 10)
    assert closed is not None, "the stalled connection stayed open"
    assert closed <= READ_TIMEOUT + 3
    assert httpx.get(f"{server.url}/health", timeout=10).status_code == 200


def test_idle_keep_alive_connection_is_closed(server: Served) -> None:
    with server.connect() as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(10)
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
        assert closed_within(s, 10) is not None


def dripped_until_closed(s: socket.socket, request: bytes, every: float, give_up: float) -> bool:
    """Send `request` a byte at a time, one every `every` seconds (never idle long enough for the read timeout);
    True once the server has closed the connection, False if it was still open after `give_up` seconds."""
    started = time.monotonic()
    s.settimeout(every)
    for byte in request:
        if time.monotonic() - started > give_up:
            return False
        try:
            s.sendall(bytes([byte]))
            if s.recv(65536) == b"":
                return True
        except TimeoutError:
            continue
        except OSError:  # reset: closed
            return True
    return False


@pytest.mark.parametrize("first", [b"", b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"], ids=["new", "kept-alive"])
def test_a_request_dripped_a_byte_at_a_time_is_cut_at_the_whole_request_deadline(server: Served, first: bytes) -> None:
    request = (b"POST /ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n"
               + b" " * 4096)
    with server.connect() as s:
        if first:
            s.sendall(first)
            assert s.recv(65536).startswith(b"HTTP/1.1 200")
        assert dripped_until_closed(s, request, every=READ_TIMEOUT / 3, give_up=DEADLINE * 10), "still open"
    assert httpx.get(f"{server.url}/health", timeout=10).status_code == 200


def test_a_slow_handler_is_not_cut_by_the_read_timeout(server: Served) -> None:
    # /ask over a long question takes a while; the request has fully arrived, so it is not a stalled read
    response = httpx.post(f"{server.url}/ask", json={"question": "which mlops tools " * 100}, timeout=60)
    assert response.status_code == 200


# --------------------------------------------------------------------------- overload


def test_full_queue_gets_503_with_retry_after_while_health_stays_fast(server: Served) -> None:
    question = "Which MLOps tools and cloud platforms should a machine learning engineer learn? " * 6

    def ask(_: int) -> httpx.Response:
        return httpx.post(f"{server.url}/ask", json={"question": question}, timeout=60)

    with ThreadPoolExecutor(24) as pool:
        futures = [pool.submit(ask, i) for i in range(24)]
        time.sleep(0.2)
        started = time.monotonic()
        health = httpx.get(f"{server.url}/health", timeout=10)
        health_seconds = time.monotonic() - started
        responses = [f.result() for f in futures]
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {200, 503}, statuses
    assert 200 in statuses and 503 in statuses, statuses
    refused = next(r for r in responses if r.status_code == 503)
    assert_json_error(refused, 503, "busy")
    assert int(refused.headers["retry-after"]) >= 1
    assert health.status_code == 200 and health_seconds < 1.0


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("path", "raw"), [
    pytest.param("/ask", b'{"question": "what is \\ud800 mlops"}', id="lone-surrogate-in-question"),
    pytest.param("/search", b'{"query": "\\udfff"}', id="lone-surrogate-in-query"),
    pytest.param("/ask", b'{"question": "mlops", "history": [{"role": "user", "content": "\\ud800"}]}',
                 id="lone-surrogate-in-history"),
    pytest.param("/ask", b'{"question": "mlops", "\\ud800": 1}', id="lone-surrogate-in-a-field-name"),
    pytest.param("/ask", b'{"question": ' + b"[" * 100_00 + b"]" * 100_00 + b"}", id="deeply-nested-json"),
])
def test_input_that_once_gave_a_500_gets_a_json_422(server: Served, path: str, raw: bytes) -> None:
    response = httpx.post(f"{server.url}{path}", content=raw, headers={"content-type": "application/json"},
                          timeout=30)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid request" and body["details"], body


def test_deeply_nested_json_gets_the_shape_of_malformed_json(server: Served) -> None:
    nested = httpx.post(f"{server.url}/ask", content=b'{"question": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
                        headers={"content-type": "application/json"}, timeout=30).json()
    malformed = httpx.post(f"{server.url}/ask", content=b'{"question": ', headers={"content-type": "application/json"},
                           timeout=30).json()
    assert nested["details"][0]["field"] == malformed["details"][0]["field"] == "body"
    assert nested["details"][0]["problem"].startswith("malformed JSON")
    assert malformed["details"][0]["problem"].startswith("malformed JSON")


@pytest.mark.parametrize("question", ["?!?!;;;", "%$#@ ^&* ~~", "lorem ipsum dolor"])
def test_question_without_content_abstains(server: Served, question: str) -> None:
    response = httpx.post(f"{server.url}/ask", json={"question": question}, timeout=30)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["abstained"] is True and body["citations"] == [], body


def test_ansi_codes_before_a_question_are_ignored(server: Served) -> None:
    plain = httpx.post(f"{server.url}/ask", json={"question": "Which MLOps tools should I learn?"}, timeout=30).json()
    coloured = httpx.post(f"{server.url}/ask", json={"question": "\x1b[1;31m\x00Which MLOps tools should I learn?\x1b[0m"},
                          timeout=30).json()
    assert coloured["abstained"] is False
    assert coloured["answer"] == plain["answer"]


# --------------------------------------------------------------------------- metrics and OpenAPI


def test_metrics_report_requests_batches_and_queue(server: Served) -> None:
    assert httpx.post(f"{server.url}/search", json={"query": "vector databases"}, timeout=30).status_code == 200
    httpx.post(f"{server.url}/search", json={"query": ""}, timeout=30)
    response = httpx.get(f"{server.url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'rag_http_requests_total{method="POST",route="/search",status="200"}' in text
    assert 'rag_http_requests_total{method="POST",route="/search",status="422"}' in text
    assert 'rag_http_request_duration_seconds_bucket{le="0.05",method="POST",route="/search",status="200"}' in text
    assert "rag_encoder_queue_depth 0.0" in text
    batches = next(line for line in text.splitlines() if line.startswith("rag_encoder_batch_size_count"))
    assert float(batches.split()[-1]) >= 1


def test_metrics_labels_stay_bounded_whatever_the_method_or_path(server: Served) -> None:
    for i in range(5):
        httpx.request(f"BREW{i}", f"{server.url}/ask", timeout=10)
        httpx.get(f"{server.url}/made-up-{i}", timeout=10)
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    assert "BREW" not in text and "made-up" not in text
    assert 'method="other"' in text and 'route="other"' in text


def test_openapi_documents_every_error_status_with_the_error_shape(server: Served) -> None:
    spec = httpx.get(f"{server.url}/openapi.json", timeout=10).json()
    ask = spec["paths"]["/ask"]["post"]
    assert {"400", "413", "415", "422", "503"} <= set(ask["responses"])
    assert ask["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    assert "Retry-After" in ask["responses"]["503"]["headers"]
    assert {"401", "403"} <= set(spec["paths"]["/index/rebuild"]["post"]["responses"])
    question = spec["components"]["schemas"]["AskRequest"]["properties"]["question"]
    assert (question["minLength"], question["maxLength"]) == (1, 2000)
    k = spec["components"]["schemas"]["SearchRequest"]["properties"]["k"]
    assert (k["minimum"], k["maximum"]) == (1, 50)


# --------------------------------------------------------------------------- shutdown and file limits


def test_sigterm_finishes_the_request_in_flight_then_exits(built_index: Path, tmp_path: Path) -> None:
    served = Served(built_index, tmp_path / "server.log")
    try:
        body = json.dumps({"question": "Which MLOps tools should I learn?"}).encode()
        with served.connect() as s:
            s.sendall(b"POST /ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:10])
            time.sleep(0.3)  # the request is in flight: headers read, body coming
            served.proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            with pytest.raises(httpx.TransportError):  # no new connections once shutdown began
                httpx.get(f"{served.url}/health", timeout=2)
            s.sendall(body[10:])
            reply = read_response(s, timeout=30)
        assert reply.startswith(b"HTTP/1.1 200"), reply[:300]
        assert json.loads(reply.partition(b"\r\n\r\n")[2])["abstained"] is False
        # uvicorn re-raises the signal once it has shut down cleanly, so the exit status is "killed by SIGTERM"
        assert served.proc.wait(30) in (0, -signal.SIGTERM)
        assert "Finished server process" in served.log.read_text()
    finally:
        served.stop()


def limit_leaving_free(used: set[int], free: int) -> int:
    """The file limit under which exactly `free` descriptor numbers are unused. The limit caps the number a new
    descriptor gets, not how many are open: a process whose descriptors have gaps below their highest number
    (the server has: loading the model opens and closes files) has more room than "open + free" suggests."""
    limit = 0
    while free:
        free -= limit not in used
        limit += 1
    return limit


def test_limit_leaving_free_counts_the_gaps() -> None:
    assert limit_leaving_free({0, 1, 2}, 10) == 13
    assert limit_leaving_free({0, 1, 2, 40, 41, 42}, 10) == 13
    assert limit_leaving_free({0, 2, 4}, 2) == 4


def test_running_out_of_file_descriptors_is_logged_once(built_index: Path, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    served = Served(built_index, log, RAG_REQUEST_READ_TIMEOUT_S="30", RAG_REQUEST_DEADLINE_S="60")
    sockets: list[socket.socket] = []
    try:
        used = {int(fd) for fd in os.listdir(f"/proc/{served.proc.pid}/fd")}
        _, hard = resource.prlimit(served.proc.pid, resource.RLIMIT_NOFILE)
        resource.prlimit(served.proc.pid, resource.RLIMIT_NOFILE, (limit_leaving_free(used, 10), hard))
        for _ in range(40):
            sockets.append(socket.create_connection(("127.0.0.1", served.port), timeout=5))
        time.sleep(4)  # asyncio retries the accept every second: four failures at least
        for s in sockets:
            s.close()
        sockets.clear()
        deadline = time.monotonic() + 30
        while True:  # the server recovers once the sockets are gone
            try:
                if httpx.get(f"{served.url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not recover"
            time.sleep(0.2)
        text = log.read_text()
        assert text.count("Too many open files") == 1, text[-3000:]
    finally:
        for s in sockets:
            s.close()
        served.stop()


# --------------------------------------------------------------------------- rebuild state and staging folders


def test_rebuild_that_fails_shows_as_failed_without_server_paths(corpus_copy: Path, index_copy: Path, embedder) -> None:
    (corpus_copy / "zz_outside.txt").symlink_to("/proc/self/mem")  # a link out of the corpus: refused
    settings = Settings(corpus_dir=corpus_copy, index_dir=index_copy, admin_token=ADMIN_TOKEN)
    with TestClient(create_app(settings, QAService(settings, embedder))) as client:
        response = client.post("/index/rebuild", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert response.status_code == 202
        deadline = time.monotonic() + 60
        while (health := client.get("/health").json())["rebuild_running"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert health["last_rebuild"]["status"] == "failed", health
        assert "symbolic links (zz_outside.txt)" in health["last_rebuild"]["error"], health
        assert str(corpus_copy) not in health["last_rebuild"]["error"] and "/" not in health["last_rebuild"]["error"]
        assert client.post("/search", json={"query": "mlops"}).status_code == 200  # the old index still serves
        assert 'rag_index_rebuilds_total{status="failed"} 1.0' in client.get("/metrics").text


def test_a_killed_builds_staging_folder_is_removed_at_the_next_start(index_copy: Path, embedder) -> None:
    stale = index_copy.parent / f".{index_copy.name}.staging-deadbeef"
    stale.mkdir()
    (stale / "embeddings.npy").write_bytes(b"half written")
    QAService(Settings(corpus_dir=ROOT / "corpus", index_dir=index_copy), embedder).ensure_index()
    assert not stale.exists()
    assert (index_copy / "manifest.json").exists()


def test_an_index_built_by_other_settings_is_rebuilt_at_start(index_copy: Path, embedder) -> None:
    manifest = json.loads((index_copy / "manifest.json").read_text())
    manifest["settings"]["embed_dtype"] = "float16"  # as if embedded by other code
    (index_copy / "manifest.json").write_text(json.dumps(manifest))
    service = QAService(Settings(corpus_dir=ROOT / "corpus", index_dir=index_copy), embedder)
    report = service.ensure_index()
    assert report is not None and report.status == "built" and report.reused == 0
    assert service.engine.index.manifest.settings.embed_dtype == embedder.embed_dtype
    assert service.ensure_index() is None  # now it serves as it is


def test_a_damaged_index_is_rebuilt_at_start_without_reusing_its_vectors(index_copy: Path, embedder) -> None:
    vectors = index_copy / read_manifest(index_copy).segments[0].vectors
    vectors.write_bytes(vectors.read_bytes()[:-64])  # torn
    service = QAService(Settings(corpus_dir=ROOT / "corpus", index_dir=index_copy), embedder)
    report = service.ensure_index()
    assert report is not None and report.status == "built" and report.reused == 0
    assert len(service.engine.index) == report.chunk_count
