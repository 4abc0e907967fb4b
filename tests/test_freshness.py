"""A stale index is reported on every surface: the library, the CLI, /health, /ask and its stream.

A guide of a temp corpus is changed after the index was built: each surface names
the file; after a rebuild (the server's own, started in the background when it
starts on a stale index) none of them does.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from rag.index.freshness import CorpusWatch, Staleness, compare
from rag.service import QAService
from rag.settings import Settings

GUIDE = "000_66311b75d3a066c9.txt"
QUESTION = "Which MLOps tools should I learn?"
ADDED_TEXT = "\n\nA new closing note: keep a notebook of every experiment you run.\n"


def change_guide(corpus: Path) -> None:
    path = corpus / GUIDE
    path.write_text(path.read_text(encoding="utf-8") + ADDED_TEXT, encoding="utf-8")


def test_compare_names_changed_added_and_removed_files() -> None:
    staleness = compare({"a.txt": "1", "b.txt": "2", "c.md": "3"}, {"a.txt": "1", "b.txt": "9", "d.md": "4"})
    assert staleness == Staleness(added=("d.md",), changed=("b.txt",), removed=("c.md",))
    assert staleness.stale
    assert "changed b.txt; added d.md; removed c.md" in staleness.message
    assert "rag index build" in staleness.message
    assert not compare({"a.txt": "1"}, {"a.txt": "1"}).stale
    assert compare({"a.txt": "1"}, {"a.txt": "1"}).message == ""


def test_many_files_are_counted_not_listed() -> None:
    staleness = compare({}, {f"g{i}.md": "x" for i in range(40)})
    assert "added 40 files" in staleness.message


def test_the_watch_sees_a_change_made_after_its_first_look(corpus_copy: Path, index_copy: Path, embedder) -> None:
    service = QAService(Settings(corpus_dir=corpus_copy, index_dir=index_copy), embedder)
    watch = CorpusWatch(corpus_copy)
    manifest = service.engine.index.manifest
    assert not watch.staleness(manifest).stale
    change_guide(corpus_copy)
    assert watch.staleness(manifest).changed == (GUIDE,)
    (corpus_copy / "notes.md").write_text("# Notes\n\nA new guide.\n", encoding="utf-8")
    assert watch.staleness(manifest).added == ("notes.md",)


def test_the_service_is_fresh_again_after_a_rebuild(corpus_copy: Path, index_copy: Path, embedder) -> None:
    service = QAService(Settings(corpus_dir=corpus_copy, index_dir=index_copy), embedder)
    assert not service.staleness().stale
    change_guide(corpus_copy)
    assert service.staleness().changed == (GUIDE,)
    service.rebuild()
    assert not service.staleness().stale


def _wait_for_rebuild(client: TestClient) -> dict:
    """/health once the background rebuild has finished (a deadline, not a speed check)."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        health = client.get("/health").json()
        if not health["rebuild_running"]:
            return health
        time.sleep(0.2)
    pytest.fail("the background rebuild did not finish within 10 minutes")


def test_http_surfaces_report_a_stale_index_and_the_server_rebuilds_it_on_start(
    corpus_copy: Path, index_copy: Path, embedder
) -> None:
    settings = Settings(corpus_dir=corpus_copy, index_dir=index_copy)
    with TestClient(create_app(settings, QAService(settings, embedder))) as client:
        assert client.get("/health").json()["stale_index"] is None
        assert client.post("/ask", json={"question": QUESTION}).json()["stale_index"] is None
        change_guide(corpus_copy)  # while it runs
        health = client.get("/health").json()
        assert health["stale_index"]["changed"] == [GUIDE] and GUIDE in health["stale_index"]["message"]
        answer = client.post("/ask", json={"question": QUESTION}).json()
        assert answer["stale_index"]["changed"] == [GUIDE]
        stream = client.post("/ask/stream", json={"question": QUESTION}).text
        done = json.loads(stream.split("event: done", 1)[1].split("data: ", 1)[1].splitlines()[0])
        assert done["stale_index"]["changed"] == [GUIDE]

    with TestClient(create_app(settings, QAService(settings, embedder))) as client:  # a restart: rebuilds
        health = _wait_for_rebuild(client)
        assert health["last_rebuild"]["status"] == "built", health
        assert health["stale_index"] is None
        assert client.post("/ask", json={"question": QUESTION}).json()["stale_index"] is None


def test_the_cli_says_when_the_index_is_older_than_the_corpus(corpus_copy: Path, index_copy: Path) -> None:
    env = {**os.environ, "RAG_CORPUS_DIR": str(corpus_copy), "RAG_INDEX_DIR": str(index_copy), "HF_HUB_OFFLINE": "1"}
    change_guide(corpus_copy)
    run = subprocess.run(["rag", "ask", QUESTION, "--json"], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert f"the index is older than the corpus (changed {GUIDE})" in run.stderr
    assert json.loads(run.stdout)["stale_index"]["changed"] == [GUIDE]
    assert "Loading weights" not in run.stderr  # the model loader's bar is silenced

    built = subprocess.run(["rag", "index", "build"], env=env, capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    search = subprocess.run(["rag", "search", "MLOps tools", "--json"], env=env, capture_output=True, text=True,
                            timeout=600)
    assert search.returncode == 0, search.stderr
    assert "older than the corpus" not in search.stderr
    assert json.loads(search.stdout)["stale_index"] is None


def test_a_corpus_that_cannot_be_read_is_not_reported_stale(tmp_path: Path) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "guide.md").write_text("# A guide\n\nSome text.\n", encoding="utf-8")
    (folder / "outside.md").symlink_to(tmp_path / "elsewhere.md")
    assert CorpusWatch(folder).digests() is None  # a build refuses it and says why; nothing is known to have changed
