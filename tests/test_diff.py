"""The edition alignment in a real index, and what `rag diff` and GET /diff list from it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from rag.answer.attribution import mentions
from rag.index.alignment import ALIGNMENT, ITEM, Alignment, Node, Thresholds, align_guides, match
from rag.index.store import read_manifest
from rag.ingest.corpus import load_corpus
from rag.service import QAService

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "eval" / "golden" / "alignment.jsonl"


@pytest.fixture(scope="module")
def client(service: QAService):
    with TestClient(create_app(service.settings, service)) as c:
        yield c


def test_the_alignment_is_stored_checksummed_with_the_fitted_thresholds(built_index: Path):
    manifest = read_manifest(built_index)
    assert ALIGNMENT in manifest.checksums
    stored = json.loads((built_index / ALIGNMENT).read_text(encoding="utf-8"))
    assert stored["thresholds"] == {"section": Thresholds.load().section, "item": Thresholds.load().item}
    (pair,) = Alignment.load(built_index).pairs
    assert (pair.series, pair.older, pair.newer) == ("essential-ml-skills", "2024", "2026")


def test_labelled_item_names_are_linked(built_index: Path):
    """Labelled pairs whose two texts are whole list items of the guides: most "same" pairs are
    linked, and few "different" ones."""
    (pair,) = Alignment.load(built_index).pairs
    items = {(n.doc, n.text): n for m in pair.items for n in (m.older, m.newer) if n is not None and n.is_list_item}
    linked = {(m.older, m.newer) for m in pair.items if m.older and m.newer}
    outcome = {True: [], False: []}
    for row in map(json.loads, GOLDEN.read_text(encoding="utf-8").splitlines()):
        a, b = items.get((row["a"]["doc"], row["a"]["text"])), items.get((row["b"]["doc"], row["b"]["text"]))
        if row["kind"] == ITEM and a and b:
            outcome[row["same"]].append((a, b) in linked)
    assert len(outcome[True]) >= 5 and len(outcome[False]) >= 5
    assert np.mean(outcome[True]) >= 0.6
    assert np.mean(outcome[False]) <= 0.3


def test_every_pair_of_editions_within_a_series_is_aligned(embedder):
    guides = load_corpus(ROOT / "corpus")
    third = replace(guides[1], doc="third.txt", edition="2028")
    other_series = replace(guides[0], doc="other.txt", series="another-series")
    pairs = align_guides([*guides, third, other_series], [], embedder.encode_queries, Thresholds.load())
    assert {(p.older, p.newer) for p in pairs} == {("2024", "2026"), ("2024", "2028"), ("2026", "2028")}
    same = next(p for p in pairs if p.newer_doc == "third.txt" and p.older == "2026")
    assert all(m.older is not None and m.newer is not None and m.older.text == m.newer.text for m in same.sections)


def test_links_are_best_partners_above_the_threshold():
    nodes = [Node(ITEM, d, e, "S", t, None, 0, 1, 0, None) for d, e, t in
             (("a", "1", "x"), ("a", "1", "y"), ("b", "2", "x2"), ("b", "2", "z"))]
    vectors = {"x": np.array([1.0, 0.0]), "y": np.array([0.8, 0.6]), "x2": np.array([1.0, 0.0]), "z": np.array([0.0, 1.0])}
    found = match(nodes[:2], nodes[2:], vectors, threshold=0.7)
    assert [(m.older and m.older.text, m.newer and m.newer.text) for m in found] == [("x", "x2"), ("y", "x2"), (None, "z")]


def test_get_diff_lists_changes_by_section_each_item_cited(client: TestClient):
    body = client.get("/diff").json()
    assert body["sections"]
    kinds = {c["kind"] for s in body["sections"] for c in s["changes"]}
    assert kinds >= {"both", "only"}
    guides = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "corpus").glob("*.txt")}
    for s in body["sections"]:
        for change in s["changes"]:
            assert change["items"]
            for item in change["items"]:
                assert item["edition"] in (s["older"], s["newer"])
                assert item["label"] and item["label"] != "null"  # prose items are shown by their first words
                # Each item backs a name the change attributes to its edition, and is cited where it is.
                names = change["names"][item["edition"]]
                assert any(mentions(item["text"], name) and name in change["text"] for name in names)
                source = guides[item["doc"]][item["start"]:item["end"]]
                assert item["text"].split()[0] in source


def test_get_diff_filters_by_section_and_rejects_oversized_input(client: TestClient):
    only = client.get("/diff", params={"section": "mlops"}).json()["sections"]
    assert only and all(any("mlops" in p.lower() for p in s["older_sections"] + s["newer_sections"]) for s in only)
    assert client.get("/diff", params={"section": "no such heading anywhere"}).json() == {"sections": []}
    assert client.get("/diff", params={"section": "x" * 500}).status_code == 422


def test_rag_diff_prints_the_same_changes(built_index: Path, client: TestClient):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    run = subprocess.run([sys.executable, "-m", "cli.main", "diff", "mlops", "--index", str(built_index), "--json"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == client.get("/diff", params={"section": "mlops"}).json()
    text = subprocess.run([sys.executable, "-m", "cli.main", "diff", "mlops", "--index", str(built_index)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert "Both guides name" in text.stdout and "chars" in text.stdout
