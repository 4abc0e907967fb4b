"""`rag serve --ray ADDRESS --replicas N`: the service as a Ray Serve deployment.

Each replica is the same app as `rag serve` (`worker_app`, built on the
replica from the environment the driver passes on), so it is stateless: the
index it serves is the one in the folder RAG_INDEX_DIR names (a shared path on
a real cluster), and it follows a rebuild by the same folder swap every
process watches (api.replicas.IndexWatch). Ray Serve's proxy spreads requests
over the replicas and replaces one that dies; `/livez` and `/readyz` are for
the probes of whatever runs the proxy.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from rag.encoders.distributed import connect
from rag.settings import Settings

log = logging.getLogger(__name__)

APP_NAME = "guides-qa"
# Replicas share the machine's cores with the proxy and with each other: don't let a CPU count block placement.
REPLICA_CPUS = 0.5
HEALTH_CHECK_PERIOD_S = 2.0
# Ray Serve waits a fixed 60 s for its HTTP proxy; a busy machine can take longer to start one.
START_ATTEMPTS = 4


def serve_on_ray(settings: Settings, address: str, replicas: int, host: str, port: int) -> None:
    """Deploy `replicas` replicas on the Ray cluster at `address` and run until interrupted; the index must exist."""
    import ray
    from ray import serve

    import api
    import rag
    from api.replicas import worker_app

    connect(address, [Path(rag.__file__).parent, Path(api.__file__).parent])
    _patiently(lambda: serve.start(http_options={"host": host, "port": port}))
    environment = {"RAG_INDEX_DIR": str(settings.index_dir.absolute()),
                   "RAG_CORPUS_DIR": str(settings.corpus_dir.absolute())}
    deployment = serve.deployment(
        serve.ingress(worker_app)(),
        name=APP_NAME,
        num_replicas=replicas,
        health_check_period_s=HEALTH_CHECK_PERIOD_S,
        ray_actor_options={"num_cpus": REPLICA_CPUS, "runtime_env": {"env_vars": environment}},
    )
    _patiently(lambda: serve.run(deployment.bind(), name=APP_NAME, route_prefix="/"))
    log.info("serving %d replicas on http://%s:%d", replicas, host, port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        serve.shutdown()
        ray.shutdown()


def _patiently(step: Callable[[], object], attempts: int = START_ATTEMPTS) -> None:
    """Run a Serve start-up step, again while it times out waiting for the proxy: the proxy and the
    controller go on starting, and the next call joins them instead of starting new ones."""
    for attempt in range(1, attempts + 1):
        try:
            step()
            return
        except TimeoutError:
            if attempt == attempts:
                raise
            log.warning("Ray Serve's HTTP proxy is still starting (a busy machine?); waiting again (%d/%d)",
                        attempt, attempts - 1)
