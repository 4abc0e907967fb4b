"""Load benchmark of the HTTP service: /ask and /search mixed at 1, 8 and 32 concurrent clients.

A script, not a test. In one run it:

1. times a bare `Embedder().encode_queries([q])` of the golden questions in a
   separate process (the floor any /search stands on);
2. starts the real service (`rag serve`, a uvicorn subprocess on 127.0.0.1 and
   a free port) and waits for /health;
3. for each concurrency level, runs that many asyncio clients (httpx, one
   keep-alive connection each) sending /search and /search alternately with
   /ask over the golden questions, bounded by --requests and --seconds; it
   records latency per route, failures (any non-200 or transport error), 503s,
   the server's CPU (cores used) and the /health latency sampled meanwhile;
4. with --hostile, sends oversized bodies and opens idle sockets while
   sampling the server's RSS, and reports peak RSS / idle RSS;
5. prints the table and the ratios the targets are about.

    python bench/bench_load.py [--clients 1,8,32] [--requests 600] [--seconds 20]
                               [--index DIR] [--code DIR] [--hostile] [--json OUT]
                               [--env NAME=VALUE ...] [--peer-url URL [--peer-pid PID]]

`--code DIR` serves another checkout of the project (e.g. the branch start,
extracted with `git archive`), so before and after are measured by one script.
`--peer-url URL` (a txtai API serving the same passages, bench/peer_txtai/) adds two runs to every
level, interleaved with ours: our /search alone, and txtai's GET /search, same clients and questions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from timing import finish, log, machine_facts, pct  # noqa: E402

GOLDEN = ROOT / "eval" / "golden" / "guides.jsonl"
K = 10

BARE_ENCODE = """
import json, sys, time
from rag.encoders.embedding import Embedder
questions = json.loads(sys.stdin.read())
e = Embedder()
for q in questions[:5]:
    e.encode_queries([q])
ms = []
for q in questions:
    t = time.perf_counter(); e.encode_queries([q]); ms.append((time.perf_counter() - t) * 1000)
print(json.dumps(ms))
"""


def questions() -> list[str]:
    rows = [json.loads(line) for line in GOLDEN.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["question"] for r in rows]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def code_env(code: Path, extra: dict[str, str]) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(code), "HF_HUB_OFFLINE": "1", **extra}


def bare_encode_ms(code: Path, qs: list[str], env: dict[str, str]) -> list[float]:
    """Per-question encode time in a fresh process of its own, the server idle."""
    done = subprocess.run([sys.executable, "-c", BARE_ENCODE], input=json.dumps(qs), capture_output=True,
                          text=True, cwd=code, env=env, timeout=600, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


class Server:
    """`rag serve` in a subprocess; stopped with SIGTERM (SIGKILL if it hangs)."""

    def __init__(self, code: Path, index: Path, env: dict[str, str], args: list[str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)  # noqa: SIM115 (closed in stop())
        cmd = [sys.executable, "-c", "from cli.main import main; main()", "serve", "--host", "127.0.0.1",
               "--port", str(self.port), "--corpus", str(code / "corpus"), "--index", str(index), *args]
        self.proc = subprocess.Popen(cmd, cwd=code, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {Path(self.log.name).read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError("server did not come up")

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> float:
        """SIGTERM; returns seconds to exit."""
        started = time.monotonic()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return time.monotonic() - started


def _stat(pid: int) -> list[str]:
    """/proc/PID/stat's fields after the command name (field 3 on); [] once the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def _cpu_seconds(pid: int) -> float:
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") if fields else 0.0


def tree_cpu_seconds(pid: int | None) -> float:
    """CPU time of a server and every process under it (`--workers N` serves from child processes)."""
    return sum(_cpu_seconds(p) for p in _process_tree(pid)) if pid else 0.0


def _process_tree(root: int) -> list[int]:
    parents = {int(p.name): _stat(int(p.name)) for p in Path("/proc").iterdir() if p.name.isdigit()}
    tree, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, f in parents.items() if f and int(f[1]) in frontier]
        tree += frontier
    return tree


def py_spy(pid: int, seconds: float, out: Path) -> subprocess.Popen:
    """Sample the server and its child processes with py-spy for `seconds`, folded stacks (--format raw) into `out`."""
    return subprocess.Popen(["py-spy", "record", "--pid", str(pid), "--subprocesses", "--nonblocking", "--format", "raw",
                             "--rate", "100",
                             "--duration", str(int(seconds)), "--output", str(out)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


# What a client sends: (route label, the request) for its i-th request, question q.
Send = Callable[[httpx.AsyncClient, int, str], tuple[str, Awaitable[httpx.Response]]]


def ours(search_only: bool = False) -> Send:
    """Our service: /search alternating with /ask (or /search only), POST with a JSON body."""
    def send(http: httpx.AsyncClient, i: int, q: str) -> tuple[str, Awaitable[httpx.Response]]:
        if i % 2 and not search_only:
            return "/ask", http.post("/ask", json={"question": q, "k": K})
        return "/search", http.post("/search", json={"query": q, "k": K})
    return send


def txtai(http: httpx.AsyncClient, i: int, q: str) -> tuple[str, Awaitable[httpx.Response]]:
    """txtai's API: GET /search?query=...&limit=K."""
    return "/search", http.get("/search", params={"query": q, "limit": K})


RUNS: dict[str, Send] = {"ours": ours(), "ours, /search only": ours(search_only=True), "txtai": txtai}


async def run_level(url: str, clients: int, qs: list[str], max_requests: int, seconds: float,
                    send: Send = RUNS["ours"], health: str | None = "/health") -> dict[str, Any]:
    """`clients` concurrent clients until `max_requests` are sent or `seconds` pass; a probe of
    `health` (if any) every 250 ms meanwhile."""
    latencies: dict[str, list[float]] = {"/search": [], "/ask": []}
    failures: dict[str, int] = {}
    rejected_ms: list[float] = []  # 503s: how fast admission control says no
    sent = 0

    async def client(worker: int, http: httpx.AsyncClient) -> None:
        nonlocal sent
        async with http:
            i = worker
            while sent < max_requests and time.monotonic() < deadline:
                sent += 1
                started = time.perf_counter()
                route, request = send(http, i, qs[i % len(qs)])
                i += clients
                try:
                    outcome = (await request).status_code
                except httpx.HTTPError as e:
                    outcome = type(e).__name__
                elapsed = (time.perf_counter() - started) * 1000
                if outcome == 200:
                    latencies[route].append(elapsed)
                else:
                    failures[str(outcome)] = failures.get(str(outcome), 0) + 1
                    if outcome == 503:
                        rejected_ms.append(elapsed)

    async def health_probe(stop: asyncio.Event) -> list[float]:
        ms = []
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            while health and not stop.is_set():
                started = time.perf_counter()
                try:
                    await http.get(health)
                    ms.append((time.perf_counter() - started) * 1000)
                except httpx.HTTPError:
                    ms.append(30_000.0)
                await asyncio.sleep(0.25)
        return ms

    # Made before the clock starts: each AsyncClient builds an SSL context (~20 ms of this process's CPU), and
    # made inside the clients they held up the first requests' replies (the slowest 1% were that first wave).
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    https = [httpx.AsyncClient(base_url=url, timeout=30, limits=limits) for _ in range(clients)]
    stop = asyncio.Event()
    probe = asyncio.create_task(health_probe(stop))
    deadline = time.monotonic() + seconds
    started = time.perf_counter()
    await asyncio.gather(*(client(w, http) for w, http in enumerate(https)))
    wall = time.perf_counter() - started
    stop.set()
    health_ms = await probe
    everything = latencies["/search"] + latencies["/ask"]
    ok = len(everything)
    return {
        "clients": clients, "ok": ok, "failed": sum(failures.values()), "failures": failures, "seconds": wall,
        "throughput": ok / wall,
        "p50_ms": pct(everything, 50) if ok else None, "p95_ms": pct(everything, 95) if ok else None,
        "p99_ms": pct(everything, 99) if ok else None, "max_ms": max(everything) if ok else None,
        "search_p50_ms": pct(latencies["/search"], 50) if latencies["/search"] else None,
        "ask_p50_ms": pct(latencies["/ask"], 50) if latencies["/ask"] else None,
        "health_p99_ms": pct(health_ms, 99) if health_ms else None,
        "rejected_p50_ms": pct(rejected_ms, 50) if rejected_ms else None,
        "rejected_p99_ms": pct(rejected_ms, 99) if rejected_ms else None,
    }


def hostile(server: Server, body_mib: int, idle_sockets: int) -> dict[str, Any]:
    """Oversized bodies (4 at once) and idle sockets, with the server's RSS sampled meanwhile."""
    idle = server.rss_mib()
    peak = idle
    payload = b'{"question": "' + b"a" * (body_mib << 20) + b'"}'
    sockets = []
    statuses: list[str] = []

    async def big() -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=120) as http:
            try:
                r = await http.post("/ask", content=payload, headers={"content-type": "application/json"})
                statuses.append(str(r.status_code))
            except httpx.HTTPError as e:
                statuses.append(type(e).__name__)

    async def sample(stop: asyncio.Event) -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, server.rss_mib())
            await asyncio.sleep(0.02)

    async def run() -> None:
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample(stop))
        await asyncio.gather(*(big() for _ in range(4)))
        stop.set()
        await sampler

    for _ in range(idle_sockets):
        s = socket.create_connection(("127.0.0.1", server.port))
        sockets.append(s)
    asyncio.run(run())
    started = time.perf_counter()
    health = httpx.get(f"{server.url}/health", timeout=30).status_code
    health_ms = (time.perf_counter() - started) * 1000
    for s in sockets:
        s.close()
    return {"idle_rss_mib": idle, "peak_rss_mib": peak, "ratio": peak / idle, "big_body_statuses": statuses,
            "body_mib": body_mib, "idle_sockets": idle_sockets, "health_status_with_idle_sockets": health,
            "health_ms_with_idle_sockets": health_ms}


def print_tables(results: dict) -> None:
    console = Console(width=200)
    m = results["machine"]
    console.print(f"load average: start {m['loadavg_start'][0]:.2f}, end {m['loadavg_end'][0]:.2f} (2 cores: "
                  f"above ~1 other work shared the CPUs); server: {results['code']} {' '.join(results['env'])}")
    t = Table(title=f"/ask + /search mixed (run 'ours'), k={K}, {results['questions']} golden questions")
    for col in ("run", "clients", "ok", "failed", "req/s", "x 1 client", "p50 ms", "p95 ms", "p99 ms", "max ms",
                "/search p50", "/ask p50", "/health p99", "503 p50", "503 p99", "server cores", "CPU ms/req",
                "client cores"):
        t.add_column(col, justify="right")
    def f(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"
    runs = dict.fromkeys(r.get("run", "ours") for r in results["levels"])
    for run in runs:  # a run's rows together; "x 1 client" against its own first level
        rows = [r for r in results["levels"] if r.get("run", "ours") == run]
        for r in rows:
            cores = r["server_cores"]
            t.add_row(run, str(r["clients"]), str(r["ok"]), f"{r['failed']} {r['failures'] or ''}",
                      f"{r['throughput']:.1f}", f"{r['throughput'] / rows[0]['throughput']:.2f}x", f(r["p50_ms"]),
                      f(r["p95_ms"]), f(r["p99_ms"]), f(r["max_ms"]), f(r["search_p50_ms"]), f(r["ask_p50_ms"]),
                      f(r["health_p99_ms"]), f(r.get("rejected_p50_ms")), f(r.get("rejected_p99_ms")),
                      "-" if cores is None else f"{cores:.2f}",
                      "-" if cores is None else f"{1000 * cores / r['throughput']:.1f}",
                      f"{r['client_cores']:.2f}" if "client_cores" in r else "-")
    console.print(t)
    enc = results["bare_encode_p50_ms"]
    one = results["levels"][0]  # ours, mixed
    console.print(f"bare encode p50 (separate process) {enc:.2f} ms; /search p50 at 1 client "
                  f"{one['search_p50_ms']:.2f} ms = {one['search_p50_ms'] / enc:.2f}x (target <= 1.2x)")
    if "hostile" in results:
        h = results["hostile"]
        console.print(f"hostile: 4 x {h['body_mib']} MiB bodies -> {h['big_body_statuses']}; RSS idle "
                      f"{h['idle_rss_mib']:.0f} MiB, peak {h['peak_rss_mib']:.0f} MiB = {h['ratio']:.2f}x "
                      f"(target <= 1.2x); /health with {h['idle_sockets']} idle sockets open: "
                      f"{h['health_status_with_idle_sockets']} in {h['health_ms_with_idle_sockets']:.0f} ms")
    console.print(f"SIGTERM to exit: {results['stop_seconds']:.2f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="1,8,32", help="concurrency levels, comma-separated")
    parser.add_argument("--requests", type=int, default=600, help="requests per level at most (default 600)")
    parser.add_argument("--seconds", type=float, default=20, help="seconds per level at most (default 20)")
    parser.add_argument("--index", type=Path, help="index folder (built there if missing); default a temporary one")
    parser.add_argument("--code", type=Path, default=ROOT, help="project checkout to serve (default this one)")
    parser.add_argument("--hostile", action="store_true", help="also measure RSS under oversized bodies")
    parser.add_argument("--body-mib", type=int, default=50, help="size of each hostile body (default 50 MiB)")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server, e.g. "
                        "RAG_QUERY_ENCODER=onnx-int8")
    parser.add_argument("--serve-arg", action="append", default=[], help="extra argument for `rag serve`")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--peer-url", help="a txtai API serving the same passages (bench/peer_txtai): each level "
                        "also runs our /search alone and txtai's GET /search, same clients and questions")
    parser.add_argument("--peer-pid", type=int, help="the peer server's PID, for its CPU (optional)")
    parser.add_argument("--profile", type=Path, help="after the levels, py-spy the server under the last level's load again; "
                        "folded stacks to this file")
    args = parser.parse_args(argv)

    code = args.code.resolve()
    extra = dict(e.split("=", 1) for e in args.env)
    env = code_env(code, extra)
    qs = questions()
    results: dict[str, Any] = {"machine": machine_facts(), "code": str(code), "env": args.env,
                               "questions": len(qs), "levels": []}
    log(f"load average at start: {results['machine']['loadavg_start'][0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        index = (args.index or Path(tmp) / "index").resolve()
        log("bare encode in a separate process")
        results["bare_encode_ms"] = bare_encode_ms(code, qs, env)
        results["bare_encode_p50_ms"] = pct(results["bare_encode_ms"], 50)
        log(f"starting the server ({code})")
        server = Server(code, index, env, args.serve_arg)
        try:
            server.wait_ready()
            asyncio.run(run_level(server.url, 2, qs, 40, 10))  # warm-up
            levels = [int(c) for c in args.clients.split(",")]
            runs = ["ours", "ours, /search only", "txtai"] if args.peer_url else ["ours"]
            if args.peer_url:
                asyncio.run(run_level(args.peer_url, 2, qs, 40, 10, txtai, None))  # warm-up
            for clients in levels:
                for run in runs:  # interleaved per level, so a change in load hits every run alike
                    url, pid = (args.peer_url, args.peer_pid) if run == "txtai" else (server.url, server.proc.pid)
                    cpu, client_cpu = tree_cpu_seconds(pid), time.process_time()
                    level = asyncio.run(run_level(url, clients, qs, args.requests, args.seconds, RUNS[run],
                                                  None if run == "txtai" else "/health"))
                    level["run"] = run
                    level["server_cores"] = (tree_cpu_seconds(pid) - cpu) / level["seconds"] if pid else None
                    # the clients share this process: near 1 core, they (not the server) bound the latencies
                    level["client_cores"] = (time.process_time() - client_cpu) / level["seconds"]
                    log(f"{run}, {clients} clients: {level['throughput']:.1f} req/s, p99 {level['p99_ms']} ms, "
                        f"failed {level['failed']}, load {os.getloadavg()[0]:.2f}")
                    results["levels"].append(level)
            if args.profile:  # a run of its own: sampling costs the server some CPU, the table's figures are clean
                spy = py_spy(server.proc.pid, args.seconds, args.profile)
                results["profiled_level"] = asyncio.run(run_level(server.url, levels[-1], qs, args.requests, args.seconds))
                spy.wait()
                log(f"py-spy profile of {levels[-1]} clients: {args.profile} (bench/profile_summary.py reads it)")
            if args.hostile:
                log("hostile input")
                results["hostile"] = hostile(server, args.body_mib, 200)
        finally:
            results["stop_seconds"] = server.stop()
            results["server_log_tail"] = Path(server.log.name).read_text()[-3000:]
            os.unlink(server.log.name)
    return finish(results, print_tables, args.json)


if __name__ == "__main__":
    sys.exit(main())
