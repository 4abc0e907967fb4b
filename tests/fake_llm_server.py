"""A fake OpenAI-compatible chat-completions server for tests: real HTTP, scripted replies.

Tests set `reply` (or `replies`, one per request), `status`, `delay` or `raw_body` before
a call and read `requests` afterwards. It serves `POST /v1/chat/completions` on 127.0.0.1
from a background thread; a request with `"stream": true` gets the reply as OpenAI
server-sent events (`chat.completion.chunk`s, then `data: [DONE]`), in `pieces`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Script:
    """What the server does with the next requests."""

    reply: str = ""
    status: int = 200
    delay: float = 0.0
    raw_body: bytes | None = None  # sent verbatim instead of a completion, e.g. malformed JSON
    replies: list[str] = field(default_factory=list)  # one per request, in order, before `reply`
    pieces: list[str] | None = None  # the streamed deltas; default: the reply word by word
    hold: threading.Event | None = None  # a stream waits for it after its first delta
    cut_after: int | None = None  # a stream breaks off (no [DONE]) after this many deltas
    piece_delay: float = 0.0  # seconds between a stream's deltas

    def next_reply(self) -> str:
        return self.replies.pop(0) if self.replies else self.reply


@dataclass
class FakeLLMServer:
    script: Script = field(default_factory=Script)
    requests: list[RecordedRequest] = field(default_factory=list)
    hung_up: threading.Event = field(default_factory=threading.Event)  # a client closed a stream before its end
    _httpd: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> None:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def reset(self) -> None:
        self.script = Script()
        self.requests.clear()


def completion(content: str, model: str) -> dict[str, Any]:
    """The standard non-streaming chat.completion object."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


def chunk(delta: dict[str, Any], model: str, finish_reason: str | None = None) -> dict[str, Any]:
    """One streamed `chat.completion.chunk`."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def _handler(server: FakeLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server naming)
            script = server.script  # read once: a test may reset it while this sleeps
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            server.requests.append(RecordedRequest(self.path, dict(self.headers.items()), body))
            time.sleep(script.delay)
            if self.path != "/v1/chat/completions":
                self._send(404, json.dumps({"error": "not found"}).encode())
            elif script.raw_body is not None:
                self._send(script.status, script.raw_body)
            elif body.get("stream") and script.status == 200:
                self._stream(script, body.get("model", ""))
            else:
                payload = completion(script.next_reply(), body.get("model", ""))
                self._send(script.status, json.dumps(payload).encode())

        def _stream(self, script: Script, model: str) -> None:
            reply = script.next_reply()
            pieces = script.pieces if script.pieces is not None else re.findall(r"\S+\s*|\s+", reply)
            try:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()  # HTTP/1.0: the stream ends when the connection closes
                self._event(chunk({"role": "assistant", "content": ""}, model))
                for sent, piece in enumerate(pieces, start=1):
                    time.sleep(script.piece_delay)
                    self._event(chunk({"content": piece}, model))
                    if sent == 1 and script.hold is not None:
                        script.hold.wait(timeout=10)
                    if sent == script.cut_after:
                        return
                self._event(chunk({}, model, finish_reason="stop"))
                self.wfile.write(b"data: [DONE]\n\n")
            except (BrokenPipeError, ConnectionResetError):
                server.hung_up.set()  # the client closed the stream

        def _event(self, payload: dict[str, Any]) -> None:
            self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
            self.wfile.flush()

        def _send(self, status: int, data: bytes) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    return Handler
