"""Benchmark of the HTTP service: /search and /ask over a real uvicorn server, against the encoder floor.

A script, not a test: it prints comparable figures (medians, p95s) and can write
them as JSON. It builds an index of the project's corpus/ into a temporary folder
(the project's own index/ is never touched unless --index names it), serves
`create_app(settings, service)` with uvicorn on 127.0.0.1 in a background thread,
and times, with one keep-alive httpx client, every golden question through:

    encode     service.embedder.encode_queries([q])        in-process: the floor
    retrieve   service.retriever().retrieve(q, k=10)       in-process: /search minus HTTP
    pipeline   service.engine.pipeline.ask(q, k=10)        in-process: /ask minus HTTP
    /search    POST /search {"query": q, "k": 10}          wall clock, client side
    /ask       POST /ask {"question": q, "k": 10}          wall clock, client side

interleaved (each question through all five in a rotating order), so a change in
the machine's load hits them alike.

    python bench/bench_http.py [--repeats N] [--json OUT] [--index DIR]

See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from timing import finish, log, machine_facts, pct, summary_ms  # noqa: E402

from api.app import create_app  # noqa: E402
from rag.service import QAService  # noqa: E402
from rag.settings import Settings  # noqa: E402

CORPUS_DIR = ROOT / "corpus"
GOLDEN = ROOT / "eval" / "golden" / "guides.jsonl"
K = 10
WARMUP_QUESTIONS = 5
SEARCH_TARGET = 1.5  # /search p50 over encode p50 should stay at or below this


# ---------------------------------------------------------------- helpers


def questions() -> list[str]:
    rows = [json.loads(line) for line in GOLDEN.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["question"] for r in rows]


# ---------------------------------------------------------------- the server


class BackgroundServer:
    """uvicorn on 127.0.0.1 in a daemon thread, on a port the OS picked; `stop()` shuts it down cleanly."""

    def __init__(self, app) -> None:
        # bind first, then hand the socket to uvicorn: the port cannot be taken in between
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       name="uvicorn", daemon=True)

    def start(self, timeout: float = 300.0) -> float:
        """Start the server and wait until /health answers 200; returns the seconds it took."""
        started = time.perf_counter()
        self.thread.start()
        deadline = started + timeout
        with httpx.Client(base_url=self.url, timeout=5.0, trust_env=False) as probe:
            while time.perf_counter() < deadline:
                if not self.thread.is_alive():
                    raise RuntimeError("the uvicorn thread ended before /health answered (see the log above)")
                if self.server.started:
                    try:
                        if probe.get("/health").status_code == 200:
                            return time.perf_counter() - started
                    except httpx.TransportError:
                        pass
                time.sleep(0.05)
        raise RuntimeError(f"/health did not answer 200 within {timeout:.0f}s")

    def stop(self, timeout: float = 30.0) -> bool:
        """Ask uvicorn to exit (as on SIGINT: finish requests, run the lifespan shutdown); True if it did."""
        self.server.should_exit = True
        self.thread.join(timeout)
        self.sock.close()
        return not self.thread.is_alive()


# ---------------------------------------------------------------- the benchmark


def post(client: httpx.Client, path: str, body: dict) -> tuple[dict, float]:
    """One request, timed on the client around the call (send, server work, full body read)."""
    start = time.perf_counter()
    response = client.post(path, json=body)
    elapsed = (time.perf_counter() - start) * 1e3
    if response.status_code != 200:
        raise RuntimeError(f"POST {path} answered {response.status_code}: {response.text[:300]}")
    return response.json(), elapsed


def run(service: QAService, url: str, qs: list[str], repeats: int) -> dict[str, Any]:
    retriever = service.retriever()
    pipeline = service.engine.pipeline
    times: dict[str, list[float]] = {}
    server: dict[str, list[float]] = {"search_retrieve_ms": [], "ask_retrieve_ms": [], "ask_generate_ms": []}
    overhead: dict[str, list[float]] = {"search": [], "ask": []}  # wall clock minus the server-reported time
    abstained = 0

    with httpx.Client(base_url=url, timeout=120.0, trust_env=False) as client:

        def encode(q: str) -> None:
            service.embedder.encode_queries([q])

        def retrieve(q: str) -> None:
            retriever.retrieve(q, k=K)

        def pipeline_ask(q: str) -> None:
            pipeline.ask(q, k=K)

        def search(q: str) -> float:
            body, ms = post(client, "/search", {"query": q, "k": K})
            t = body["timings"]
            server["search_retrieve_ms"].append(t["retrieve_ms"])
            overhead["search"].append(ms - t["retrieve_ms"])
            return ms

        def ask(q: str) -> float:
            nonlocal abstained
            body, ms = post(client, "/ask", {"question": q, "k": K})
            t = body["timings"]
            server["ask_retrieve_ms"].append(t["retrieve_ms"])
            server["ask_generate_ms"].append(t["generate_ms"])
            overhead["ask"].append(ms - t["retrieve_ms"] - t["generate_ms"])
            abstained += body["abstained"]
            return ms

        ops: dict[str, Callable[[str], float | None]] = {
            "encode": encode, "retrieve": retrieve, "pipeline": pipeline_ask, "/search": search, "/ask": ask,
        }
        # warm-up: model, tokenizers, BM25, FAISS, the connection, FastAPI's thread pool
        client.get("/health").raise_for_status()
        for q in qs[:WARMUP_QUESTIONS]:
            for op in ops.values():
                op(q)
        for lst in (*server.values(), *overhead.values()):
            lst.clear()
        abstained = 0
        log(f"warmed up ({WARMUP_QUESTIONS} questions through every operation); timing "
            f"{len(qs)} questions x {repeats}")

        names = list(ops)
        times = {name: [] for name in names}
        for r in range(repeats):
            for j, q in enumerate(qs):
                shift = (r + j) % len(names)
                for name in names[shift:] + names[:shift]:
                    start = time.perf_counter()
                    ms = ops[name](q)
                    if ms is None:
                        ms = (time.perf_counter() - start) * 1e3
                    times[name].append(ms)
            log(f"  repeat {r + 1}/{repeats}: " + ", ".join(
                f"{n} p50 {pct(times[n], 50):.1f} ms" for n in names))

    res: dict[str, Any] = {"questions": len(qs), "repeats": repeats, "k": K,
                           "ops": {name: summary_ms(times[name]) for name in names},
                           "server_timings": {name: summary_ms(v) for name, v in server.items()},
                           "http_overhead": {name: summary_ms(v) for name, v in overhead.items()},
                           "ask_abstained": abstained}
    enc = res["ops"]["encode"]["p50_ms"]
    res["ratios"] = {
        "search_over_encode_p50": res["ops"]["/search"]["p50_ms"] / enc,
        "ask_over_encode_p50": res["ops"]["/ask"]["p50_ms"] / enc,
        "retrieve_over_encode_p50": res["ops"]["retrieve"]["p50_ms"] / enc,
        "search_over_retrieve_p50": res["ops"]["/search"]["p50_ms"] / res["ops"]["retrieve"]["p50_ms"],
        "ask_over_pipeline_p50": res["ops"]["/ask"]["p50_ms"] / res["ops"]["pipeline"]["p50_ms"],
    }
    return res


def bench(index_dir: Path | None, repeats: int) -> dict[str, Any]:
    tmp = None if index_dir else Path(tempfile.mkdtemp(prefix="guides-qa-bench-http-"))
    try:
        folder = index_dir or tmp / "index"
        settings = Settings(corpus_dir=CORPUS_DIR, index_dir=folder)
        service = QAService(settings)
        log(f"index: {folder}" + (" (temporary)" if tmp else ""))
        start = time.perf_counter()
        report = service.ensure_index()
        index_s = time.perf_counter() - start
        log(f"  ensure_index: {index_s:.1f}s, " + (f"built {report.chunk_count} chunks" if report else "loaded as is"))
        start = time.perf_counter()
        service.warm_up()
        log(f"  warm_up (model load): {time.perf_counter() - start:.1f}s")

        srv = BackgroundServer(create_app(settings, service))
        up_s = srv.start()
        log(f"uvicorn on {srv.url}: /health 200 after {up_s:.2f}s")
        try:
            res = run(service, srv.url, questions(), repeats)
        finally:
            clean = srv.stop()
            log("server stopped cleanly" if clean else "server thread did not stop within 30s")
        manifest = service.engine.index.manifest
        import torch

        res.update({
            "index": {"dir": str(folder), "temporary": tmp is not None, "built": report is not None,
                      "ensure_index_s": index_s, "chunks": manifest.chunk_count, "faiss_index": manifest.faiss_index},
            "settings": {"retrieval_mode": settings.retrieval_mode, "fusion": settings.fusion,
                         "generator": settings.generator, "sentence_weight": settings.sentence_weight},
            "server": {"startup_s": up_s, "stopped_cleanly": clean, "uvicorn": uvicorn.__version__,
                       "httpx": httpx.__version__},
            "torch_threads": torch.get_num_threads(),
        })
        return res
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- report


def print_tables(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(width=132)
    m = results["machine"]
    b = results["http"]
    console.print(f"python {m['python']}, {m['cpus']} CPUs, torch threads {b['torch_threads']}, uvicorn "
                  f"{b['server']['uvicorn']}, httpx {b['server']['httpx']}; load average at start "
                  f"{m['loadavg_start'][0]:.2f}, at end {m['loadavg_end'][0]:.2f} (above ~0.5, other work "
                  f"shared the CPUs and every time is inflated)")
    ix, st = b["index"], b["settings"]
    t = Table(title=f"HTTP service, {b['questions']} golden questions x {b['repeats']}, k={b['k']} "
                    f"({ix['chunks']} chunks, {ix['faiss_index']}, {st['retrieval_mode']}/{st['fusion']}, "
                    f"generator {st['generator']})")
    t.add_column("operation")
    t.add_column("p50 ms", justify="right")
    t.add_column("p95 ms", justify="right")
    t.add_column("mean ms", justify="right")
    t.add_column("p50 / encode", justify="right")
    t.add_column("note")
    enc = b["ops"]["encode"]["p50_ms"]
    notes = {
        "encode": "embedder.encode_queries([q]), in-process: the floor",
        "retrieve": "service.retriever().retrieve(q, 10), in-process",
        "/search": "POST /search, client wall clock (keep-alive)",
        "pipeline": "service.engine.pipeline.ask(q, 10), in-process",
        "/ask": f"POST /ask, client wall clock; abstained {b['ask_abstained']}/{b['ops']['/ask']['count']}",
    }
    for name in ("encode", "retrieve", "/search", "pipeline", "/ask"):
        s = b["ops"][name]
        t.add_row(name, f"{s['p50_ms']:.2f}", f"{s['p95_ms']:.2f}", f"{s['mean_ms']:.2f}",
                  f"{s['p50_ms'] / enc:.2f}x", escape(notes[name]))
    sv, ov = b["server_timings"], b["http_overhead"]
    t.add_section()
    rows = [
        ("/search server retrieve_ms", sv["search_retrieve_ms"], "timings.retrieve_ms in the /search response"),
        ("/search wall - server", ov["search"], "HTTP, FastAPI, validation, JSON, per request"),
        ("/ask server retrieve_ms", sv["ask_retrieve_ms"], "timings.retrieve_ms in the /ask response"),
        ("/ask server generate_ms", sv["ask_generate_ms"], "timings.generate_ms (extractive: reuses the retriever's sentence cosines)"),
        ("/ask wall - server", ov["ask"], "HTTP, FastAPI, validation, JSON, per request"),
    ]
    for name, s, note in rows:
        t.add_row(name, f"{s['p50_ms']:.2f}", f"{s['p95_ms']:.2f}", f"{s['mean_ms']:.2f}", "", note)
    console.print(t)
    r = b["ratios"]
    verdict = "ok" if r["search_over_encode_p50"] <= SEARCH_TARGET else "OVER TARGET"
    console.print(f"/search p50 / encode p50 = {r['search_over_encode_p50']:.2f}x (target <= {SEARCH_TARGET}: "
                  f"{verdict}); /ask p50 / encode p50 = {r['ask_over_encode_p50']:.2f}x; "
                  f"/search / in-process retrieve = {r['search_over_retrieve_p50']:.2f}x; "
                  f"/ask / in-process pipeline = {r['ask_over_pipeline_p50']:.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="times each golden question is run (default 3)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--index", type=Path, help="serve this index folder (built there if missing) instead of "
                        "a temporary one")
    args = parser.parse_args(argv)

    results: dict[str, Any] = {"machine": machine_facts()}
    log(f"load average at start: {' '.join(f'{x:.2f}' for x in results['machine']['loadavg_start'])}")
    results["http"] = bench(args.index.resolve() if args.index else None, max(1, args.repeats))
    log(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return finish(results, print_tables, args.json)


if __name__ == "__main__":
    sys.exit(main())
