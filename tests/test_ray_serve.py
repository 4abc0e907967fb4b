"""`rag serve --ray local --replicas 2` on a real local Ray cluster: both replicas answer, a rebuild
reaches both, and with one replica killed the other takes every request."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest
from served import Served, health_by_pid, rebuild_reaches_all

pytest.importorskip("ray.serve")


def test_two_ray_serve_replicas_answer_follow_a_rebuild_and_survive_one_killed(corpus_copy: Path, index_copy: Path,
                                                                               tmp_path: Path) -> None:
    served = Served(index_copy, tmp_path / "server.log", "--ray", "local", "--replicas", "2", corpus=corpus_copy)
    try:
        replicas = health_by_pid(served.url, 2)
        assert len(replicas) == 2, f"one replica answered: {served.log.read_text()[-3000:]}"
        assert httpx.get(f"{served.url}/livez").status_code == 200 and httpx.get(f"{served.url}/readyz").status_code == 200

        rebuild_reaches_all(served.url, corpus_copy, index_copy, replicas)

        os.kill(next(iter(replicas)), signal.SIGKILL)
        with httpx.Client() as client:
            statuses = [client.post(f"{served.url}/search", json={"query": "Zorblaxian toolkit", "k": 1}, timeout=60)
                        .status_code for _ in range(20)]
        assert statuses == [200] * 20
    finally:
        served.stop()
