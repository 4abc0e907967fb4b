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
    # Ray Serve may wait for its proxy several times on a busy machine (api.ray_serve.START_ATTEMPTS).
    served = Served(index_copy, tmp_path / "server.log", "--ray", "local", "--replicas", "2", corpus=corpus_copy,
                    ready_s=420)
    try:
        replicas = health_by_pid(served.url, 2)
        assert len(replicas) == 2, f"one replica answered: {served.log.read_text()[-3000:]}"
        own = os.getpriority(os.PRIO_PROCESS, 0)  # a local cluster's replicas run at our priority, not Ray's 15
        assert {os.getpriority(os.PRIO_PROCESS, pid) for pid in replicas} == {own}
        assert httpx.get(f"{served.url}/livez").status_code == 200 and httpx.get(f"{served.url}/readyz").status_code == 200

        rebuild_reaches_all(served.url, corpus_copy, index_copy, replicas)

        os.kill(next(iter(replicas)), signal.SIGKILL)
        with httpx.Client() as client:
            statuses = [client.post(f"{served.url}/search", json={"query": "Zorblaxian toolkit", "k": 1}, timeout=60)
                        .status_code for _ in range(20)]
        assert statuses == [200] * 20
    finally:
        served.stop()


def test_a_start_up_step_that_times_out_waiting_for_the_proxy_is_tried_again_then_gives_up() -> None:
    from api.ray_serve import START_ATTEMPTS, _patiently

    calls: list[int] = []

    def slow_twice() -> None:
        calls.append(1)
        if len(calls) <= 2:
            raise TimeoutError("Proxies not available after 60s.")

    _patiently(slow_twice)
    assert len(calls) == 3

    def never() -> None:
        calls.append(1)
        raise TimeoutError("Proxies not available after 60s.")

    calls.clear()
    with pytest.raises(TimeoutError):
        _patiently(never)
    assert len(calls) == START_ATTEMPTS
