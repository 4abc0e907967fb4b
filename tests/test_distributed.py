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
from served import free_port

from rag.core.errors import IndexBuildError
from rag.encoders.distributed import LOOPBACK, RayEncoder
from rag.index.build import build_index
from rag.index.store import load_index
from rag.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).with_name("ray"))
NODE = [f"--node-ip-address={LOOPBACK}", "--num-cpus=1", "--object-store-memory=80000000", "--disable-usage-stats"]
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
           "HOME": str(home)}
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


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> Path:
    """The first ~3,000 characters of each guide: enough for several Ray slices, quick to embed."""
    folder = tmp_path_factory.mktemp("ray-corpus")
    for guide in sorted((ROOT / "corpus").iterdir()):
        (folder / guide.name).write_text(guide.read_text(encoding="utf-8")[:3000], encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def plain_index(small_corpus, tmp_path_factory, embedder) -> Path:
    folder = tmp_path_factory.mktemp("plain") / "index"
    build_index(small_corpus, folder, Settings().index_settings(embedder), embedder)
    return folder


def _assert_same_index(a: Path, b: Path, embedder) -> None:
    settings = Settings()
    one, two = load_index(a, settings.index_settings(embedder)), load_index(b, settings.index_settings(embedder))
    assert list(one.chunks) == list(two.chunks)
    assert np.abs(np.asarray(one.vectors) - np.asarray(two.vectors)).max() < 1e-4
    assert np.abs(np.asarray(one.sentence_vectors) - np.asarray(two.sentence_vectors)).max() < 1e-4
    for query in QUERIES:
        ranked = [[r.chunk.chunk_id for r in settings.retriever(i, embedder).retrieve(query, k=10)]
                  for i in (one, two)]
        assert ranked[0] == ranked[1], query


def test_a_build_on_a_two_node_ray_cluster_equals_a_plain_build(ray_cluster, small_corpus, plain_index, embedder, tmp_path):
    folder = tmp_path / "index"
    encoder = RayEncoder(ray_cluster, slice_size=32)  # two slices, so both nodes get work
    report = build_index(small_corpus, folder, Settings().index_settings(embedder), embedder, encoder=encoder)
    assert report.status == "built" and report.embedded == report.chunk_count > 0
    _assert_same_index(plain_index, folder, embedder)


def test_a_worker_killed_mid_build_is_retried_and_the_index_is_still_the_same(
    ray_cluster, small_corpus, plain_index, embedder, tmp_path
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
    # Small slices: the build outlasts the killer's wait on a fast machine too.
    build_index(small_corpus, folder, Settings().index_settings(embedder), embedder, encoder=RayEncoder(ray_cluster, slice_size=8))
    killer.join(timeout=5)
    assert killed, "no Ray worker process was seen"
    _assert_same_index(plain_index, folder, embedder)


def test_an_unreachable_cluster_fails_the_build_cleanly_and_leaves_the_index(small_corpus, plain_index, embedder, tmp_path):
    corpus, folder = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(small_corpus, corpus)
    (corpus / "new.md").write_text("# Notes 2027\n\n## Rust\nRust is gaining ground for ML tooling.", encoding="utf-8")
    shutil.copytree(plain_index, folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    with pytest.raises(IndexBuildError, match="cannot connect to Ray"):
        build_index(corpus, folder, Settings().index_settings(embedder), embedder,
                    encoder=RayEncoder(f"{LOOPBACK}:{free_port(LOOPBACK)}"))
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before
