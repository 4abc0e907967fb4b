"""`rag serve --workers N`: N server processes on one port, each with a listening socket of its own.

uvicorn's own `--workers` shares one listening socket between its processes, and
whichever process wakes first accepts a whole burst of new connections. Clients
that keep their connection alive then stay where they landed: 32 clients split
28/4, 30/2 and 19/13 in three trials here, and two processes served no more than
one (113 req/s on 1.0 core of 2). Here each process binds its own socket with
SO_REUSEPORT, so the kernel spreads new connections across them by a hash of the
connection (Linux's listener group; the same design as nginx's `reuseport`).
A hash spreads connections only roughly (18/14, 20/12), so the processes also
hand their surplus of kept-alive connections to each other (`api.balance`).

The parent only supervises: it checks that the port is free, starts the
processes, restarts one that dies, and on SIGINT/SIGTERM stops them all (each
finishes its requests first, as `rag serve` does). A process that cannot start
(uvicorn's startup failure) stops the whole service with its error instead of
being restarted in a loop.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import threading
from ctypes import Array, c_int
from multiprocessing.process import BaseProcess

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from api.balance import ConnectionShare, counting_protocol, shedding
from api.server import http_protocol, quiet_out_of_files_errors, server_config
from rag.core.errors import RagError
from rag.settings import Settings

log = logging.getLogger("uvicorn.error")

SUPERVISE_INTERVAL_S = 0.5


def serve_workers(settings: Settings, host: str, port: int, workers: int) -> None:
    """Serve on `host:port` from `workers` processes until SIGINT/SIGTERM; the index must exist."""
    port = _free_port(host, port)
    context = multiprocessing.get_context("spawn")
    counts = context.Array("i", workers, lock=False)  # open connections per process (api.balance)
    processes = [_start(context, settings, host, port, counts, slot) for slot in range(workers)]
    log.info("%d processes serving on http://%s:%d", workers, host, port)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.wait(SUPERVISE_INTERVAL_S):
            for i, process in enumerate(processes):
                if process.is_alive():
                    continue
                if process.exitcode == STARTUP_FAILURE:
                    raise RagError(f"a server process could not start (exit code {process.exitcode}); see the log above")
                log.warning("server process %s exited with code %s; starting another", process.pid, process.exitcode)
                processes[i] = _start(context, settings, host, port, counts, i)
    finally:
        _stop_all(processes, settings.graceful_shutdown_s)


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to `host:port` with SO_REUSEPORT: one per process, all on the same port. Its
    protocol is named (IPPROTO_TCP, not 0): asyncio sets TCP_NODELAY only on connections accepted
    from such a socket, and without it every keep-alive response waited ~40 ms for a delayed ACK."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _free_port(host: str, port: int) -> int:
    """The port, checked free without SO_REUSEPORT (so a running service is not silently joined);
    port 0 becomes the port the OS picks."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as e:
            raise RagError(f"cannot serve on {host}:{port}: {e.strerror}") from e
        return probe.getsockname()[1]


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _start(context, settings: Settings, host: str, port: int, counts: Array[c_int], slot: int) -> BaseProcess:
    process = context.Process(target=_serve_one, args=(settings, host, port, counts, slot), daemon=False)
    process.start()
    return process


def _serve_one(settings: Settings, host: str, port: int, counts: Array[c_int], slot: int) -> None:
    """One worker process: its own app (model, batching worker, admission limit, index watch)
    on its own socket, its connections counted in `counts[slot]` and shed when it holds too many."""
    from api.app import create_app

    quiet_out_of_files_errors()
    sock = listening_socket(host, port)
    share = ConnectionShare(counts, slot)
    app = shedding(create_app(settings), share)
    config = server_config(app, settings, host, port, http=counting_protocol(http_protocol(settings), share))
    uvicorn.Server(config).run(sockets=[sock])


def _stop_all(processes: list[BaseProcess], grace_s: float) -> None:
    """SIGTERM to every process (uvicorn finishes its requests), then SIGKILL to any still running."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(grace_s + 5)
        if process.is_alive():
            process.kill()
            process.join()
