"""`rag serve --workers 2`: two processes on one port, both answering, and a rebuild reaches both."""

from __future__ import annotations

from pathlib import Path

import httpx
from served import Served, health_by_pid, rebuild_reaches_all


def test_two_workers_answer_and_a_build_reaches_both(corpus_copy: Path, index_copy: Path, tmp_path: Path) -> None:
    served = Served(index_copy, tmp_path / "server.log", "--workers", "2", corpus=corpus_copy)
    try:
        before = health_by_pid(served.url, 2)
        assert len(before) == 2, f"one process answered: {served.log.read_text()[-2000:]}"
        for _ in range(4):
            with httpx.Client() as client:
                found = client.post(f"{served.url}/search", json={"query": "Which MLOps tools?", "k": 3}, timeout=30)
            assert found.status_code == 200 and len(found.json()["results"]) == 3

        rebuild_reaches_all(served.url, corpus_copy, index_copy, before)
        with httpx.Client() as client:
            hits = client.post(f"{served.url}/search", json={"query": "Zorblaxian toolkit", "k": 1}, timeout=30).json()
        assert hits["results"][0]["doc"] == "zz_extra.md"
    finally:
        served.stop()
