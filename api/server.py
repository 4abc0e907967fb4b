"""How the service runs under uvicorn: connection timeouts, header limits, graceful shutdown, quiet EMFILE.

uvicorn's own `timeout_keep_alive` only starts once a response is sent, so a
client that connects and sends nothing, or stops in the middle of its headers
or body, would hold a socket (and a file descriptor) forever. `TimedH11Protocol`
closes such a connection when no byte of the request it is waiting for
arrives for `read_timeout_s`, and when the whole request has not arrived
`deadline_s` after the connection opened or its previous response ended: a
client that drips one byte every few seconds is cut too. A request that has
fully arrived is never cut: the time the handler takes is not a read.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import time

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from rag.settings import Settings

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 16 * 1024


class TimedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus a read timeout while a request is incomplete (see the module doc)."""

    read_timeout_s: float = 10.0
    deadline_s: float = 30.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._last_read = self._waiting_since = time.monotonic()
        self._read_timer = self.loop.call_later(min(self.read_timeout_s, self.deadline_s), self._check_read)

    def on_response_complete(self) -> None:
        self._last_read = self._waiting_since = time.monotonic()  # the next request's time starts now
        super().on_response_complete()

    def data_received(self, data: bytes) -> None:
        self._last_read = time.monotonic()
        super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._read_timer.cancel()
        super().connection_lost(exc)

    def _waiting_for_request(self) -> bool:
        """True while the client owes us bytes: before or inside a request's headers or body (the first one's, or the
        next one's on a kept-alive connection, when the previous cycle's response is complete)."""
        cycle = self.cycle
        return self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and (
            cycle is None or cycle.response_complete or not cycle.response_started)

    def _check_read(self) -> None:
        if self.transport.is_closing():
            return
        if not self._waiting_for_request():  # the handler runs: nothing is owed until its response ends
            self._read_timer = self.loop.call_later(self.read_timeout_s, self._check_read)
            return
        now = time.monotonic()
        idle, waited = now - self._last_read, now - self._waiting_since
        if idle >= self.read_timeout_s or waited >= self.deadline_s:
            self.transport.close()
            return
        next_check = min(self.read_timeout_s - idle, self.deadline_s - waited)
        self._read_timer = self.loop.call_later(max(next_check, 0.05), self._check_read)


def protocol_with_timeout(read_timeout_s: float, deadline_s: float = 30.0) -> type[TimedH11Protocol]:
    return type("TimedH11Protocol", (TimedH11Protocol,), {"read_timeout_s": read_timeout_s, "deadline_s": deadline_s})


class OncePerInterval(logging.Filter):
    """Lets an error about running out of file descriptors through once per `interval_s`.

    When the process hits its file limit, every accept attempt fails and logs
    "too many open files": megabytes a second, which fill the disk and hide
    everything else. One line a minute says the same.
    """

    def __init__(self, interval_s: float = 60.0) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._last = -float("inf")
        self.suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if not _is_out_of_files(record):
            return True
        now = time.monotonic()
        if now - self._last < self.interval_s:
            self.suppressed += 1
            return False
        if self.suppressed:
            record.msg = f"{record.msg} ({self.suppressed} more like it were not logged)"
        self._last, self.suppressed = now, 0
        return True


def _is_out_of_files(record: logging.LogRecord) -> bool:
    exc = record.exc_info[1] if record.exc_info else None
    if isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE):
        return True
    return "too many open files" in record.getMessage().lower()


def quiet_out_of_files_errors(interval_s: float = 60.0) -> None:
    """Install `OncePerInterval` on the loggers that report failed accepts (asyncio's, uvicorn's)."""
    shared = OncePerInterval(interval_s)
    for name in ("asyncio", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, OncePerInterval) for f in logger.filters):
            logger.addFilter(shared)


def server_config(app, settings: Settings, host: str = "127.0.0.1", port: int = 8000, **overrides) -> uvicorn.Config:
    """The uvicorn configuration `rag serve` runs with: the limits in `settings`, h11 with a read timeout."""
    quiet_out_of_files_errors()
    return uvicorn.Config(app, **{**server_options(settings, host, port), **overrides})


def http_protocol(settings: Settings) -> type[TimedH11Protocol]:
    """The protocol `rag serve` speaks HTTP with: h11 with the read timeouts in `settings`."""
    return protocol_with_timeout(settings.request_read_timeout_s, settings.request_deadline_s)


def server_options(settings: Settings, host: str, port: int) -> dict:
    """uvicorn's options for `rag serve` (see `server_config`)."""
    return dict(
        host=host,
        port=port,
        http=http_protocol(settings),
        # asyncio's loop, not uvloop even when installed (a dependency of a dependency may bring it): libuv meets
        # EMFILE by accepting and closing connections silently, so running out of descriptors would go unlogged.
        loop="asyncio",
        timeout_keep_alive=settings.keep_alive_timeout_s,
        timeout_graceful_shutdown=settings.graceful_shutdown_s,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        log_level="info",
    )
