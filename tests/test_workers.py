"""`rag serve --workers 2`: two processes on one port, both answering, connections spread across
them, a rebuild reaches both, and a process that dies is replaced."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections import Counter
from pathlib import Path

import httpx
from served import Served, health_by_pid, rebuild_reaches_all

from api.workers import listening_socket


def test_two_workers_answer_and_a_build_reaches_both(corpus_copy: Path, index_copy: Path, tmp_path: Path) -> None:
    served = Served(index_copy, tmp_path / "server.log", "--workers", "2", corpus=corpus_copy)
    try:
        before = health_by_pid(served.url, 2)
        assert len(before) == 2, f"one process answered: {served.log.read_text()[-2000:]}"
        for _ in range(4):
            with httpx.Client() as client:
                found = client.post(f"{served.url}/search", json={"query": "Which MLOps tools?", "k": 3}, timeout=30)
            assert found.status_code == 200 and len(found.json()["results"]) == 3

        spread = asyncio.run(_pids_of_concurrent_connections(served.url, 24))
        assert len(spread) == 2 and min(spread.values()) >= 4, f"24 connections landed {dict(spread)}"
        rounds = asyncio.run(_pids_of_kept_connections(served.url, 32, rounds=8))
        assert sorted(rounds[-1].values()) in ([16, 16], [15, 17]), f"32 kept-alive clients, by round: {rounds}"

        rebuild_reaches_all(served.url, corpus_copy, index_copy, before)
        with httpx.Client() as client:
            hits = client.post(f"{served.url}/search", json={"query": "Zorblaxian toolkit", "k": 1}, timeout=30).json()
        assert hits["results"][0]["doc"] == "zz_extra.md"
        victim = next(iter(before))
        os.kill(victim, signal.SIGKILL)
        replaced = _health_pids_without(served.url, victim)
        assert len(replaced) == 2, f"the killed process was not replaced: {served.log.read_text()[-2000:]}"
    finally:
        served.stop()


async def _pids_of_concurrent_connections(url: str, n: int) -> Counter[int]:
    """Which process answered each of `n` connections opened at once (a burst of keep-alive clients).
    Each process listens on its own SO_REUSEPORT socket, so the kernel spreads them (a shared socket
    let one process take 28-30 of 32)."""
    async def one() -> int:
        async with httpx.AsyncClient(timeout=30) as client:
            return (await client.get(f"{url}/health")).json()["pid"]
    return Counter(await asyncio.gather(*(one() for _ in range(n))))


async def _pids_of_kept_connections(url: str, n: int, rounds: int) -> list[Counter[int]]:
    """Which process answered each of `n` clients that keep their connection alive, round after round. The
    kernel's hash splits them unevenly (18/14, 20/12); the fuller process closes its surplus (api.balance)."""
    clients = [httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=1)) for _ in range(n)]
    try:
        return [Counter([r.json()["pid"] for r in await asyncio.gather(*(c.get(f"{url}/health") for c in clients))])
                for _ in range(rounds)]
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))


def _health_pids_without(url: str, gone: int, seconds: float = 120) -> set[int]:
    """The processes answering once `gone` is replaced: two, neither of them `gone`."""
    deadline = time.monotonic() + seconds
    pids: set[int] = set()
    while time.monotonic() < deadline and len(pids) < 2:
        try:
            pids = set(health_by_pid(url, 2, seconds=5)) - {gone}
        except httpx.TransportError:
            pids = set()
        time.sleep(0.5)
    return pids


def test_connections_accepted_on_a_worker_socket_send_without_delay() -> None:
    """asyncio sets TCP_NODELAY only on connections from a socket whose protocol is IPPROTO_TCP; without
    it each keep-alive response waited ~40 ms for the client's delayed ACK (64 ms a request, not 20)."""
    async def accepted_nodelay() -> int:
        sock = listening_socket("127.0.0.1", 0)
        flags: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            flags.set_result(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(accept, sock=sock)
        _, writer = await asyncio.open_connection("127.0.0.1", sock.getsockname()[1])
        try:
            return await asyncio.wait_for(flags, 10)
        finally:
            writer.close()
            server.close()

    assert asyncio.run(accepted_nodelay()) == 1
