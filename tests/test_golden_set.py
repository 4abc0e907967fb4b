"""Structural and grounding checks for the guides-qa golden sets.

Every question in eval/golden/guides.jsonl (dev), eval/golden/guides_holdout.jsonl
eval/golden/guides_holdout2.jsonl and guides_holdout3.jsonl (holdouts) must follow the contract and be
grounded: each evidence span is an exact substring of a corpus file and every
answer keyword appears in the cited evidence.
"""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
CORPUS = ROOT / "corpus"
GOLDEN = ROOT / "eval" / "golden"
DEV_FILE = GOLDEN / "guides.jsonl"
HOLDOUT_FILE = GOLDEN / "guides_holdout.jsonl"
HOLDOUT2_FILE = GOLDEN / "guides_holdout2.jsonl"
HOLDOUT3_FILE = GOLDEN / "guides_holdout3.jsonl"

REQUIRED_KEYS = {"id", "question", "answerable", "evidence", "answer_keywords", "type"}
TYPES = {"lookup", "paraphrase", "list", "cross-guide", "unanswerable"}
GUIDE_2024 = "000_66311b75d3a066c9.txt"
GUIDE_2026 = "003_6cee5c8495e18b4b.txt"
MIN_SPAN, MAX_SPAN = 40, 300


def _load_lines(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    return [(i, line) for i, line in enumerate(lines, 1) if line.strip()]


def _records(path):
    out = []
    for lineno, line in _load_lines(path):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            rec = None
        out.append((path.name, lineno, line, rec))
    return out


ALL = [r for f in (DEV_FILE, HOLDOUT_FILE, HOLDOUT2_FILE, HOLDOUT3_FILE) for r in _records(f)]


def _param_id(item):
    name, lineno, _, rec = item
    if isinstance(rec, dict) and isinstance(rec.get("id"), str):
        return rec["id"]
    return f"{name}:{lineno}"


_CORPUS_CACHE = {}


def _corpus_text(doc):
    if doc not in _CORPUS_CACHE:
        _CORPUS_CACHE[doc] = (CORPUS / doc).read_text(encoding="utf-8")
    return _CORPUS_CACHE[doc]


@pytest.mark.parametrize("item", ALL, ids=[_param_id(x) for x in ALL])
def test_question(item):
    name, lineno, line, rec = item
    assert rec is not None, f"{name}:{lineno} is not valid JSON"
    assert isinstance(rec, dict), f"{name}:{lineno} is not a JSON object"
    assert set(rec) == REQUIRED_KEYS, f"keys {sorted(rec)} != {sorted(REQUIRED_KEYS)}"

    assert isinstance(rec["id"], str) and rec["id"]
    assert isinstance(rec["question"], str) and rec["question"].strip()
    assert isinstance(rec["answerable"], bool)
    assert isinstance(rec["evidence"], list)
    assert isinstance(rec["answer_keywords"], list)
    assert all(isinstance(k, str) and k.strip() for k in rec["answer_keywords"])
    assert rec["type"] in TYPES, f"unknown type {rec['type']!r}"

    for ev in rec["evidence"]:
        assert isinstance(ev, dict) and set(ev) == {"doc", "text"}, f"bad evidence item {ev!r}"
        assert isinstance(ev["doc"], str) and isinstance(ev["text"], str)

    if rec["type"] == "unanswerable":
        assert rec["answerable"] is False
    else:
        assert rec["answerable"] is True, "answerable=false requires type 'unanswerable'"

    if not rec["answerable"]:
        assert rec["evidence"] == [], "unanswerable questions must have no evidence"
        assert rec["answer_keywords"] == [], "unanswerable questions must have no keywords"
        return

    assert len(rec["evidence"]) >= 1, "answerable question without evidence"
    assert len(rec["answer_keywords"]) >= 1, "answerable question without keywords"

    for ev in rec["evidence"]:
        path = CORPUS / ev["doc"]
        assert ev["doc"] == Path(ev["doc"]).name, f"doc must be a file name, got {ev['doc']!r}"
        assert path.is_file(), f"corpus file {ev['doc']} not found in {CORPUS}"
        text = ev["text"]
        assert MIN_SPAN <= len(text) <= MAX_SPAN, f"span length {len(text)} outside {MIN_SPAN}-{MAX_SPAN}: {text[:60]!r}"
        assert text in _corpus_text(ev["doc"]), f"span not found verbatim in {ev['doc']}: {text[:80]!r}"

    joined = " ".join(ev["text"] for ev in rec["evidence"]).lower()
    for kw in rec["answer_keywords"]:
        assert kw.lower() in joined, f"keyword {kw!r} not in evidence"

    if rec["type"] == "cross-guide":
        docs = {ev["doc"] for ev in rec["evidence"]}
        assert {GUIDE_2024, GUIDE_2026} <= docs, f"cross-guide must cite both guides, got {sorted(docs)}"


def test_ids_unique_across_files():
    ids = [rec["id"] for _, _, _, rec in ALL if isinstance(rec, dict) and "id" in rec]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    assert not dupes, f"duplicate ids: {dupes}"


@pytest.mark.parametrize(
    "path,prefix", [(DEV_FILE, "d"), (HOLDOUT_FILE, "h"), (HOLDOUT2_FILE, "g"), (HOLDOUT3_FILE, "h3_")],
    ids=["dev", "holdout", "holdout2", "holdout3"],
)
def test_id_prefix(path, prefix):
    bad = [
        rec.get("id") if isinstance(rec, dict) else f"{path.name}:{lineno}"
        for _, lineno, _, rec in _records(path)
        if not (isinstance(rec, dict) and str(rec.get("id", "")).startswith(prefix))
    ]
    assert not bad, f"ids in {path.name} must start with {prefix!r}: {bad}"


def test_dev_set_size_and_unanswerable_count():
    recs = [rec for _, _, _, rec in _records(DEV_FILE)]
    assert len(recs) >= 60, f"dev set has only {len(recs)} questions"
    n_unans = sum(1 for r in recs if isinstance(r, dict) and r.get("type") == "unanswerable")
    assert n_unans >= 10, f"dev set has only {n_unans} unanswerable questions"


@pytest.mark.parametrize(
    "path", [HOLDOUT_FILE, HOLDOUT2_FILE, HOLDOUT3_FILE], ids=["holdout", "holdout2", "holdout3"]
)
def test_holdout_covers_all_types(path):
    recs = [rec for _, _, _, rec in _records(path)]
    types = {r.get("type") for r in recs if isinstance(r, dict)}
    assert types == TYPES, f"holdout missing types: {sorted(TYPES - types)}"
