"""One inference worker with dynamic batching, for the query encoder of a server.

Torch runs worst when many OS threads call it: its OpenMP pools contend, and a
7 ms encode becomes 13-14 ms once calls come from a thread pool. So every
query encode of the service goes through one dedicated thread, and the
service runs torch there on one OpenMP thread (`on_start`): libgomp keeps a
warm team only for the process's initial thread, so from any other thread a
two-thread encode of one question takes 11-12 ms against 7.7 ms on one thread,
and the second core stays free for the rest of each request (bench_load:
1 client 55 -> 77 req/s, 8 clients 141-148 -> 145-162, 32 unchanged; server
CPU per request -35%). It takes all
the requests waiting at that moment (up to `max_batch` texts, optionally
waiting `max_wait_ms` for more) and encodes them in one call: a batch of 8-16
questions costs about as much as 3-4 single ones. Alone, a request is encoded
at once, so one client waits no longer than before.

The queue is bounded: when `max_queue` requests are already waiting,
`encode_queries` raises `OverloadedError` at once (the API answers 503 with
Retry-After) instead of making everyone wait longer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from rag.core.errors import OverloadedError
from rag.core.types import QueryEncoder

log = logging.getLogger(__name__)


@dataclass
class _Request:
    texts: list[str]
    done: threading.Event = field(default_factory=threading.Event)
    vectors: np.ndarray | None = None
    error: BaseException | None = None


#: Called after each batch with (requests in it, texts in it, seconds the encode took).
BatchObserver = Callable[[int, int, float], None]


class BatchingEncoder:
    """`encode_queries` for any number of threads, run on one worker thread in batches."""

    def __init__(
        self,
        encoder: QueryEncoder,
        max_batch: int = 16,
        max_wait_ms: float = 0.0,
        max_queue: int = 64,
        retry_after_s: int = 1,
        on_batch: BatchObserver | None = None,
        on_start: Callable[[], object] | None = None,
    ) -> None:
        """`on_start` runs first on the worker thread (to set up the encoder's threading)."""
        self.encoder = encoder
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.max_queue = max_queue
        self.retry_after_s = retry_after_s
        self.on_batch = on_batch
        self.on_start = on_start
        self._waiting: deque[_Request] = deque()
        self._ready = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="query-encoder", daemon=True)
        self._thread.start()

    @property
    def queue_depth(self) -> int:
        """Requests waiting for the worker (not counting the batch it is encoding)."""
        return len(self._waiting)

    def encode_queries(self, queries: list[str]) -> np.ndarray:
        """Normalised vectors of `queries`, encoded on the worker thread; raises OverloadedError when the
        queue is full."""
        request = _Request(list(queries))
        with self._ready:
            if self._closed:
                raise RuntimeError("the query encoder is closed")
            if len(self._waiting) >= self.max_queue:
                raise OverloadedError(
                    f"the server is busy ({len(self._waiting)} queries waiting); retry in {self.retry_after_s} s",
                    retry_after_s=self.retry_after_s,
                )
            self._waiting.append(request)
            self._ready.notify()
        request.done.wait()
        if request.error is not None:
            raise request.error
        return request.vectors  # type: ignore[return-value]  # set with done, unless error is

    def close(self, timeout: float = 10.0) -> None:
        """Finish what is queued, then stop the worker."""
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._thread.join(timeout)

    def _run(self) -> None:
        if self.on_start is not None:
            self.on_start()
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            self._encode(batch)

    def _next_batch(self) -> list[_Request] | None:
        with self._ready:
            while not self._waiting:
                if self._closed:
                    return None
                self._ready.wait()
            batch = self._take()
            if self.max_wait > 0 and self._texts(batch) < self.max_batch:
                deadline = time.monotonic() + self.max_wait
                while self._texts(batch) < self.max_batch and (left := deadline - time.monotonic()) > 0:
                    self._ready.wait(left)
                    batch += self._take(self.max_batch - self._texts(batch), at_least_one=False)
            return batch

    def _take(self, budget: int | None = None, at_least_one: bool = True) -> list[_Request]:
        """Waiting requests, in order, up to `budget` texts; at least one when asked, so that a request
        bigger than a batch is not stuck."""
        budget = self.max_batch if budget is None else budget
        taken: list[_Request] = []
        while self._waiting and (
            (at_least_one and not taken) or self._texts(taken) + len(self._waiting[0].texts) <= budget
        ):
            taken.append(self._waiting.popleft())
        return taken

    @staticmethod
    def _texts(batch: list[_Request]) -> int:
        return sum(len(r.texts) for r in batch)

    def _encode(self, batch: list[_Request]) -> None:
        texts = [t for r in batch for t in r.texts]
        started = time.perf_counter()
        try:
            vectors = self.encoder.encode_queries(texts)
        except BaseException as e:  # handed to every caller; the worker lives on
            log.warning("query encoding failed: %s", e)
            for r in batch:
                r.error = e
                r.done.set()
            return
        if self.on_batch is not None:
            self.on_batch(len(batch), len(texts), time.perf_counter() - started)
        start = 0
        for r in batch:
            r.vectors = vectors[start : start + len(r.texts)]
            start += len(r.texts)
            r.done.set()
