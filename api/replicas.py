"""More than one serving process: the index watch every process runs, the probes, and a replica's app.

`rag serve --workers N` (api.workers) and Ray Serve replicas (api.ray_serve) each
run their own app: their own model, batching worker and admission limit, all
sharing the index's memory-mapped files and page cache.

The index folder is the pointer to the index version served: a build writes a
new folder and swaps it in with one rename (rag.index.build). Every process
watches that path (`IndexWatch`) and loads the new version when the folder
behind it changes, so one rebuild, wherever it ran (a worker's
POST /index/rebuild, or `rag index build`), reaches all of them.

`/livez` and `/readyz` are the probes a Kubernetes deployment (or Ray Serve) asks.
"""

from __future__ import annotations

import logging
import threading

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from api.server import quiet_out_of_files_errors
from rag.core.errors import RagError
from rag.service import QAService
from rag.settings import Settings

log = logging.getLogger(__name__)

WATCH_INTERVAL_S = 1.0


class IndexWatch:
    """A thread that reloads the service's index when its folder is swapped for a newer build."""

    def __init__(self, service: QAService, interval_s: float = WATCH_INTERVAL_S) -> None:
        self._service = service
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="index-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                if self._service.reload_if_swapped():
                    log.info("serving the index built at %s", self._service.engine.index.manifest.built_at)
            except RagError as e:
                log.warning("a new index in %s does not load; still serving the previous one: %s",
                            self._service.settings.index_dir, e)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


probes = APIRouter(tags=["probes"])


@probes.get("/livez", summary="Liveness: the process answers (a Kubernetes liveness probe)")
async def livez() -> dict[str, str]:
    return {"status": "alive"}


@probes.get("/readyz", summary="Readiness: 200 once the index is loaded and questions can be encoded, else 503",
            responses={503: {"description": "still starting"}})
async def readyz(request: Request) -> JSONResponse:
    service: QAService | None = getattr(request.app.state, "service", None)
    ready = service is not None and service.ready
    return JSONResponse({"status": "ready" if ready else "starting"}, status_code=200 if ready else 503)


def worker_app() -> FastAPI:
    """A replica's app (Ray Serve builds one in each replica), configured by the environment."""
    from api.app import create_app

    quiet_out_of_files_errors()
    return create_app(Settings())

