"""Embed a build's passages on a Ray cluster: `rag index build --ray ADDRESS`.

One Ray actor per worker CPU loads the model once and encodes slices of
PASSAGES_PER_CALL passages, exactly the slices a local build encodes (same
length order, same model batches), so the vectors match a plain build's to
float rounding. Everything else (chunking, BM25, FAISS, the atomic swap) stays
on the driver: the cluster only ever sees passage texts.

A worker that dies is restarted and its slice retried by Ray (`max_restarts`,
`max_task_retries`); if that fails too, the build fails with IndexBuildError
before anything is written, so the serving index is untouched. Ray is only
started when something needs embedding: a no-op rebuild never connects.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from rag.core.errors import IndexBuildError
from rag.encoders.embedding import PASSAGES_PER_CALL, EmbedDtype, length_sorted_slices, resolve_embed_dtype

log = logging.getLogger(__name__)

# Ray's usage statistics ask cloud metadata endpoints (169.254.169.254) which cloud it runs on; an
# index build has no business on the network beyond its cluster.
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

LOCAL = "local"
# Ray replaces 127.0.0.1 and "localhost" by the machine's routable address when a node or driver
# registers; any other loopback address it keeps. A local Ray, or a cluster on loopback, uses this one,
# so its traffic stays on loopback.
LOOPBACK = "127.0.0.2"
# A local Ray on a shared machine: a small object store (passage texts and vectors are small).
LOCAL_OBJECT_STORE_BYTES = 100 * 1024 * 1024
RESTARTS = 2


class EncoderWorker:
    """A Ray actor: one model per worker process, one torch thread per worker CPU."""

    def __init__(self, batch_size: int, embed_dtype: EmbedDtype) -> None:
        from rag.encoders.embedding import Embedder, torch_threads

        torch_threads(1)
        self.embedder = Embedder(batch_size=batch_size, embed_dtype=embed_dtype)

    def encode(self, slice_id: int, texts: list[str]) -> tuple[int, np.ndarray]:
        return slice_id, self.embedder.encode_passages(texts)


class RayEncoder:
    """A PassageEncoder (see rag.encoders.embedding) that runs on the Ray cluster at `address`
    ("local" starts one in this process, "auto" finds a running one)."""

    def __init__(self, address: str, batch_size: int = 32, slice_size: int = PASSAGES_PER_CALL,
                 local_cpus: int | None = None, embed_dtype: EmbedDtype = "auto") -> None:
        self.address = address
        self.batch_size = batch_size
        # Resolved here, on the driver: every worker embeds in the precision the index records.
        self.embed_dtype = resolve_embed_dtype(embed_dtype)
        # Whole model batches per slice, so the workers' batches are a plain build's (see encode_passages).
        self.slice_size = max(1, round(slice_size / batch_size)) * batch_size
        self.local_cpus = local_cpus

    def __call__(self, texts: Sequence[str], on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        import ray

        self._connect()
        try:
            return self._encode(texts, on_batch)
        except ray.exceptions.RayError as e:
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise IndexBuildError(f"the embedding on Ray failed ({reason}); the previous index is untouched") from e
        finally:
            ray.shutdown()

    def _connect(self) -> None:
        import rag

        connect(self.address, [Path(rag.__file__).parent], self.local_cpus)

    def _encode(self, texts: Sequence[str], on_batch: Callable[[int], None] | None) -> np.ndarray:
        import ray
        from ray.util import ActorPool

        slices = length_sorted_slices(texts, self.slice_size)
        worker = ray.remote(num_cpus=1, max_restarts=RESTARTS, max_task_retries=RESTARTS)(EncoderWorker)
        count = max(1, min(int(ray.cluster_resources().get("CPU", 1)), len(slices)))
        log.info("embedding %d passages on %d Ray workers", len(texts), count)
        pool = ActorPool([worker.remote(self.batch_size, self.embed_dtype) for _ in range(count)])
        jobs = ((i, [texts[j] for j in rows]) for i, rows in enumerate(slices))
        vectors = np.empty((len(texts), 0), dtype=np.float32)
        for slice_id, block in pool.map_unordered(lambda actor, job: actor.encode.remote(*job), jobs):
            if vectors.shape[1] == 0:
                vectors = np.empty((len(texts), block.shape[1]), dtype=np.float32)
            vectors[slices[slice_id]] = block
            if on_batch:
                on_batch(len(block))
        return vectors


def connect(address: str, packages: list[Path], local_cpus: int | None = None) -> None:
    """Join the Ray cluster at `address` ("local" starts one in this process, "auto" finds a running one),
    shipping `packages` (folders of Python packages) to its workers."""
    import ray

    runtime_env = {"py_modules": [str(p) for p in packages]}
    if address not in (LOCAL, "auto"):
        _check_reachable(address)
    try:
        if address == LOCAL:
            # Ray starts its workers at niceness 15 so that its own daemons stay responsive; on a local
            # cluster the workers do all of the work (the embedding, Serve's replicas), and on a busy
            # machine they got ~7% of a CPU that way (issue 17's measurements).
            os.environ.setdefault("RAY_worker_niceness", "0")
            ray.init(num_cpus=local_cpus, object_store_memory=LOCAL_OBJECT_STORE_BYTES, include_dashboard=False,
                     runtime_env=runtime_env, log_to_driver=False, configure_logging=False, _node_ip_address=LOOPBACK)
        else:
            ray.init(address=address, runtime_env=runtime_env, log_to_driver=False, configure_logging=False,
                     **_driver_address(address))
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise IndexBuildError(f"cannot connect to Ray at {address!r} ({e}) — start it with 'ray start --head' "
                              "or pass --ray local") from e


def _driver_address(address: str) -> dict[str, str]:
    """For a cluster on loopback, the driver registers on loopback too (see LOOPBACK)."""
    host = address.removeprefix("ray://").rpartition(":")[0]
    return {"_node_ip_address": LOOPBACK} if host.startswith("127.") else {}


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail in seconds, not after Ray's minute of reconnect attempts, when nothing listens at HOST:PORT."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except (OSError, ValueError) as e:
        raise IndexBuildError(f"cannot connect to Ray at {address!r} ({e}) — start it with 'ray start --head' "
                              "or pass --ray local") from e
