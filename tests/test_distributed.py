"""`--ray`: a build on a real two-node Ray cluster on loopback (127.0.0.2, see rag.encoders.distributed.LOOPBACK) is the plain build's index,
also when a worker is killed mid-build."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from served import RAY_NORMAL_PRIORITY, free_port

from rag.encoders.distributed import LOOPBACK
from rag.index.store import load_index
from rag.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
RAG = str(Path(sys.executable).with_name("rag"))
RAY = str(Path(sys.executable).with_name("ray"))
NODE = [f"--node-ip-address={LOOPBACK}", "--num-cpus=1", "--object-store-memory=80000000", "--disable-usage-stats"]
# How far a Ray build's vectors may be from a plain build's. In bfloat16 (CPUs with native bfloat16) the
# kernels round differently with one torch thread (a Ray worker) than with the machine's cores (a plain build):
# sentence vectors differed by 5.7e-4 on a 2-core machine, within bfloat16's unit roundoff (2^-9).
ROUNDING = {"float32": 1e-4, "bfloat16": 2.0**-9}
QUERIES = ["Which deep learning frameworks should I learn?", "How do I deploy a model?", "statistics for data science"]


def _pids_under(marker: str) -> set[int]:
    """Processes whose command line names `marker` (our cluster's own temp folder), and their descendants
    (workers and agents rename themselves "ray::…")."""
    parents, marked = {}, set()
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit():
                parents[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
                if marker in (proc / "cmdline").read_bytes().decode(errors="replace"):
                    marked.add(int(proc.name))
        except (OSError, IndexError, ValueError):
            continue
    grown = True
    while grown:
        children = {pid for pid, parent in parents.items() if parent in marked} - marked
        marked |= children
        grown = bool(children)
    return marked


def _worker_pids(title: str = "ray::EncoderWorker") -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cmdline").read_bytes().startswith(title.encode()):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


@pytest.fixture(scope="module")
def ray_cluster():
    """A head and a second node, one CPU each. Stopped by killing the processes of this
    cluster only (`ray stop` would stop every Ray cluster on the machine)."""
    temp = tempfile.mkdtemp(prefix="rayt", dir="/tmp")  # Ray's socket paths must stay short
    port = free_port(LOOPBACK)
    # Ray's dashboard asks cloud metadata endpoints (169.254.169.254) which cloud it runs on unless
    # ~/ray_bootstrap_config.yaml names a provider: the cluster gets a home of its own that does.
    home = Path(temp) / "home"
    home.mkdir()
    (home / "ray_bootstrap_config.yaml").write_text("provider:\n  type: local\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0",
           "HOME": str(home), **RAY_NORMAL_PRIORITY}
    run = lambda *args: subprocess.run([RAY, "start", *args, *NODE, f"--temp-dir={temp}"], env=env, check=True,  # noqa: E731
                                       capture_output=True, timeout=180)
    try:
        run("--head", f"--port={port}", "--include-dashboard=false")
        run(f"--address={LOOPBACK}:{port}")
        yield f"{LOOPBACK}:{port}"
    finally:
        for _ in range(2):
            for pid in _pids_under(temp):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(1)
        shutil.rmtree(temp, ignore_errors=True)


def _assert_same_index(a: Path, b: Path, embedder) -> None:
    settings = Settings()
    one, two = load_index(a, settings.index_settings(embedder)), load_index(b, settings.index_settings(embedder))
    assert list(one.chunks) == list(two.chunks)
    tolerance = ROUNDING[one.manifest.settings.embed_dtype]
    assert np.abs(np.asarray(one.vectors) - np.asarray(two.vectors)).max() < tolerance
    assert np.abs(np.asarray(one.sentence_vectors) - np.asarray(two.sentence_vectors)).max() < tolerance
    for query in QUERIES:
        ranked = [[r.chunk.chunk_id for r in settings.retriever(i, embedder).retrieve(query, k=10)]
                  for i in (one, two)]
        assert ranked[0] == ranked[1], query


def _ray_build(corpus: Path, folder: Path, address: str) -> subprocess.CompletedProcess:
    """`rag index build --ray ADDRESS`, as a user runs it. In its own process: a Ray driver leaves gRPC
    threads behind after ray.shutdown(), and they crashed the test process at exit (exit code 139)."""
    return subprocess.run([RAG, "index", "build", "--corpus", str(corpus), "--index", str(folder), "--ray", address],
                          env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"},
                          capture_output=True, text=True, timeout=600)


def test_a_build_on_a_two_node_ray_cluster_equals_a_plain_build(ray_cluster, built_index, embedder, tmp_path):
    # The guides are embedded in several slices of PASSAGES_PER_CALL passages, so both nodes get work.
    folder = tmp_path / "index"
    done = _ray_build(CORPUS, folder, ray_cluster)
    assert done.returncode == 0, done.stderr
    _assert_same_index(built_index, folder, embedder)


def test_a_worker_killed_mid_build_is_retried_and_the_index_is_still_the_same(
    ray_cluster, built_index, embedder, tmp_path
):
    killed: list[int] = []

    def kill_first_worker() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            pids = _worker_pids()
            if pids:
                time.sleep(0.5)  # let it start on a slice
                try:
                    os.kill(pids[0], signal.SIGKILL)
                except ProcessLookupError:
                    continue  # that worker is already gone: take the next one seen
                killed.append(pids[0])
            time.sleep(0.2)

    killer = threading.Thread(target=kill_first_worker, daemon=True)
    killer.start()
    folder = tmp_path / "index"
    done = _ray_build(CORPUS, folder, ray_cluster)
    killer.join(timeout=5)
    assert done.returncode == 0, done.stderr
    assert killed, "no Ray worker process was seen"
    _assert_same_index(built_index, folder, embedder)


def test_an_unreachable_cluster_fails_the_build_cleanly_and_leaves_the_index(corpus_copy, index_copy):
    corpus, folder = corpus_copy, index_copy
    (corpus / "new.md").write_text("# Notes 2027\n\n## Rust\nRust is gaining ground for ML tooling.", encoding="utf-8")
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    done = _ray_build(corpus, folder, f"{LOOPBACK}:{free_port(LOOPBACK)}")
    assert done.returncode == 1 and "cannot connect to Ray" in done.stderr
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before
