"""A real uvicorn server on 127.0.0.1 for tests that talk over TCP, stopped when the block ends."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from fastapi import FastAPI


@contextmanager
def running(app: FastAPI, ready_path: str = "/health", timeout: float = 60.0) -> Iterator[str]:
    """Serve `app` on a free port; yields its base URL once `ready_path` answers 200."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # The event loop `rag serve` runs (api.server): uvloop would also leave its libuv threads in the test process.
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", loop="asyncio"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_ready(url + ready_path, timeout)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _wait_until_ready(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"the server at {url} did not answer within {timeout:g} s")
