"""`rag serve --workers 2`: two processes on one port, both answering, and a rebuild reaches both."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from served import ROOT, Served


def _health_by_pid(url: str, wanted: int, seconds: float = 60) -> dict[int, dict]:
    """/health over fresh connections until `wanted` processes have answered (the kernel spreads the accepts)."""
    seen: dict[int, dict] = {}
    deadline = time.monotonic() + seconds
    while len(seen) < wanted and time.monotonic() < deadline:
        with httpx.Client() as client:  # a new connection each time
            body = client.get(f"{url}/health", timeout=10).json()
        seen[body["pid"]] = body
    return seen


def test_two_workers_answer_and_a_build_reaches_both(corpus_copy: Path, index_copy: Path, tmp_path: Path) -> None:
    served = Served(index_copy, tmp_path / "server.log", "--workers", "2", corpus=corpus_copy)
    try:
        before = _health_by_pid(served.url, 2)
        assert len(before) == 2, f"one process answered: {served.log.read_text()[-2000:]}"
        for _ in range(4):
            with httpx.Client() as client:
                found = client.post(f"{served.url}/search", json={"query": "Which MLOps tools?", "k": 3}, timeout=30)
            assert found.status_code == 200 and len(found.json()["results"]) == 3

        (corpus_copy / "zz_extra.md").write_text("# Extra\n\n## Zorblaxian tools\n\nThe Zorblaxian toolkit trains "
                                                 "models on quantum abacus clusters every night.\n")
        subprocess.run([sys.executable, "-c", "from cli.main import main; main()", "index", "build",
                        "--corpus", str(corpus_copy), "--index", str(index_copy)], check=True, capture_output=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
        count = {p: h["chunk_count"] for p, h in before.items()}
        deadline = time.monotonic() + 30
        while True:  # each worker notices the swapped folder within a second or so (api.replicas.IndexWatch)
            after = _health_by_pid(served.url, 2)
            if set(after) == set(before) and all(after[p]["chunk_count"] > count[p] for p in after):
                break
            assert time.monotonic() < deadline, after
            time.sleep(0.5)
        with httpx.Client() as client:
            hits = client.post(f"{served.url}/search", json={"query": "Zorblaxian toolkit", "k": 1}, timeout=30).json()
        assert hits["results"][0]["doc"] == "zz_extra.md"
    finally:
        served.stop()
