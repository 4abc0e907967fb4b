"""`rag serve` in a subprocess on 127.0.0.1, for tests where sockets matter."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BODY_LIMIT = 64 * 1024
READ_TIMEOUT = 1.0
# Ray starts its workers (actors, Serve's proxy and replicas) at niceness 15 (RAY_worker_niceness in Ray's
# ray_config_def.h): beside other work on the machine they got almost no CPU, and a test on a loaded machine
# stalled. The clusters the tests start run their workers at the test's own priority.
RAY_NORMAL_PRIORITY = {"RAY_worker_niceness": "0"}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Served:
    """`rag serve` in a subprocess, with its log in a file; stopped by the test."""

    def __init__(self, index: Path, log: Path, *args: str, corpus: Path = ROOT / "corpus", ready_s: float = 180,
                 **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        environment = {**os.environ, "PYTHONPATH": str(ROOT), "RAG_MAX_BODY_BYTES": str(BODY_LIMIT),
                       "RAG_REQUEST_READ_TIMEOUT_S": str(READ_TIMEOUT), "RAG_KEEP_ALIVE_TIMEOUT_S": "1", **env}
        cmd = [sys.executable, "-c", "from cli.main import main; main()", "serve", "--port", str(self.port),
               "--corpus", str(corpus), "--index", str(index), *args]
        self.proc = subprocess.Popen(cmd, env=environment, stdout=log.open("w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + ready_s
        while True:
            assert self.proc.poll() is None, f"server exited: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"server did not come up in {ready_s:.0f} s"
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def health_by_pid(url: str, wanted: int, seconds: float = 60) -> dict[int, dict]:
    """/health over fresh connections until `wanted` processes have answered (or `seconds` passed): requests
    spread over a server's processes by connection (--workers) or by request (Ray Serve)."""
    seen: dict[int, dict] = {}
    deadline = time.monotonic() + seconds
    while len(seen) < wanted and time.monotonic() < deadline:
        with httpx.Client() as client:
            body = client.get(f"{url}/health", timeout=10).json()
        seen[body["pid"]] = body
    return seen


def build_index(corpus: Path, index: Path) -> None:
    """`rag index build` in its own process, as an operator runs it beside a server."""
    subprocess.run([sys.executable, "-c", "from cli.main import main; main()", "index", "build", "--corpus", str(corpus),
                    "--index", str(index)], check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def rebuild_reaches_all(url: str, corpus: Path, index: Path, before: dict[int, dict], seconds: float = 30) -> None:
    """Add a guide, build beside the running server, and wait until every process in `before` serves the new index."""
    (corpus / "zz_extra.md").write_text("# Extra\n\n## Zorblaxian tools\n\nThe Zorblaxian toolkit trains models on "
                                       "quantum abacus clusters every night.\n")
    build_index(corpus, index)
    deadline = time.monotonic() + seconds
    while True:  # each process notices the swapped folder within a second or so (api.replicas.IndexWatch)
        after = health_by_pid(url, len(before))
        if set(after) == set(before) and all(after[p]["chunk_count"] > before[p]["chunk_count"] for p in after):
            return
        assert time.monotonic() < deadline, f"not every process serves the new index: {after}"
        time.sleep(0.5)
