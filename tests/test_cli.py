"""The `rag` console script (CONTRACTS §2), run for real in subprocesses.

Each model-loading subprocess costs a few seconds, so the cheap invocations
(help, bad input) run concurrently in one batch, and so do search/ask/eval.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_beir import write_beir

from rag.index.store import read_manifest

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "eval" / "golden" / "guides.jsonl"


@dataclass
class Run:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def env(workdir: Path) -> dict[str, str]:
    """Hermetic: defaults point at empty temp folders; no RAG_* or terminal width leaks in."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("RAG_") and k not in ("COLUMNS", "FORCE_COLOR")}
    return base | {
        "HF_HUB_OFFLINE": "1",
        "RAG_INDEX_DIR": str(workdir / "default-index"),
        "RAG_CORPUS_DIR": str(workdir / "default-corpus"),
    }


def rag(env: dict[str, str], cwd: Path, *args: str) -> Run:
    started = time.perf_counter()
    done = subprocess.run(["rag", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    return Run(args, done.returncode, done.stdout, done.stderr, time.perf_counter() - started)


def rag_concurrently(env: dict[str, str], cwd: Path, commands: dict[str, list[str]]) -> dict[str, Run]:
    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        futures = {name: pool.submit(rag, env, cwd, *args) for name, args in commands.items()}
        return {name: f.result() for name, f in futures.items()}


def chunk_rows(index: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in (index / "chunks.jsonl").read_text(encoding="utf-8").splitlines()]
    return {row["chunk_id"]: row for row in rows}


def assert_one_line_error(run: Run, *needles: str) -> None:
    assert run.returncode != 0, run
    assert "Traceback" not in run.stderr, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"


# --------------------------------------------------------------------------- cheap runs: help and bad input


@pytest.fixture(scope="module")
def quick(env: dict[str, str], workdir: Path, built_index: Path) -> dict[str, Run]:
    empty = workdir / "empty-corpus"
    empty.mkdir()
    (empty / "notes.docx").write_bytes(b"PK\x03\x04 not a guide format")
    no_index = workdir / "no-index-here"
    no_index.mkdir()
    return rag_concurrently(env, workdir, {
        "help": ["--help"],
        "build-help": ["index", "build", "--help"],
        "empty-corpus": ["index", "build", "--corpus", str(empty), "--index", str(workdir / "idx-empty")],
        "missing-corpus": ["index", "build", "--corpus", str(workdir / "no-such-folder"),
                           "--index", str(workdir / "idx-missing")],
        "no-index": ["search", "x", "--index", str(no_index)],
        "empty-query": ["search", "", "--index", str(built_index)],
        "eval-no-set": ["eval", "--index", str(built_index)],
        "k-over-limit": ["ask", "mlops", "--k", "51", "--index", str(built_index)],
        "blank-question": ["ask", "\u0085\u00a0", "--index", str(built_index)],
        "unknown-edition": ["search", "vector databases", "--edition", "2025", "--index", str(built_index)],
    })


def test_help_lists_every_command(quick: dict[str, Run]) -> None:
    run = quick["help"]
    assert run.returncode == 0, run.stderr
    for command in ("index", "search", "ask", "eval", "serve"):
        assert re.search(rf"\b{command}\b", run.stdout), f"{command} missing from --help"
    assert "guides" in run.stdout.lower()


def test_index_build_help_explains_its_options_and_environment(quick: dict[str, Run]) -> None:
    run = quick["build-help"]
    assert run.returncode == 0, run.stderr
    for text in ("--corpus", "--index", "--force", "RAG_CORPUS_DIR", "RAG_INDEX_DIR", "no-op"):
        assert text in run.stdout, f"{text} missing from 'rag index build --help'"


def test_index_build_on_folder_without_guides_fails_with_one_line_naming_it(quick: dict[str, Run], workdir: Path):
    assert_one_line_error(quick["empty-corpus"], str(workdir / "empty-corpus"), ".txt or .md")
    assert not (workdir / "idx-empty" / "manifest.json").exists()


def test_index_build_on_missing_corpus_folder_fails_with_one_line_naming_it(quick: dict[str, Run], workdir: Path):
    assert_one_line_error(quick["missing-corpus"], str(workdir / "no-such-folder"), "does not exist")


def test_search_without_an_index_tells_to_run_index_build(quick: dict[str, Run], workdir: Path) -> None:
    assert_one_line_error(quick["no-index"], "rag index build", str(workdir / "no-index-here"))


def test_search_with_empty_query_fails_clearly(quick: dict[str, Run]) -> None:
    assert_one_line_error(quick["empty-query"], "empty")
    assert quick["empty-query"].stdout == ""


def test_the_cli_keeps_the_request_rules_of_every_surface(quick: dict[str, Run]) -> None:
    """k 1-50 as on HTTP and MCP, a question of only whitespace/control characters refused, an unknown
    edition named with the valid ones (rag.query.request)."""
    assert quick["k-over-limit"].returncode != 0 and "50" in quick["k-over-limit"].stderr
    assert_one_line_error(quick["blank-question"], "empty")
    assert_one_line_error(quick["unknown-edition"], "'2025'")
    assert "2024" in quick["unknown-edition"].stderr and "2026" in quick["unknown-edition"].stderr


def test_eval_without_golden_or_beir_fails_clearly(quick: dict[str, Run]) -> None:
    assert_one_line_error(quick["eval-no-set"], "--golden", "--beir")


# --------------------------------------------------------------------------- index build


def test_index_build_builds_then_a_rerun_is_a_fast_no_op(
    env: dict[str, str], workdir: Path, corpus_copy: Path, tmp_path: Path, built_index: Path
) -> None:
    index = tmp_path / "idx"
    first = rag(env, workdir, "index", "build", "--corpus", str(corpus_copy), "--index", str(index))
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    built = re.search(r"built (\d+) chunks", first.stdout)
    assert built, first.stdout
    expected = len(chunk_rows(built_index))
    assert int(built.group(1)) == expected
    assert (index / "manifest.json").is_file()
    assert len(chunk_rows(index)) == expected

    second = rag(env, workdir, "index", "build", "--corpus", str(corpus_copy), "--index", str(index))
    assert second.returncode == 0, second.stderr
    assert "up to date" in second.stdout and f"({expected} chunks)" in second.stdout
    assert second.seconds < first.seconds / 2, (first.seconds, second.seconds)
    progress = first.stderr.strip().splitlines()
    assert progress[0].startswith("embedding 0/") and " texts" in progress[0], first.stderr
    assert progress[-1].endswith(" texts/s"), first.stderr

    (corpus_copy / "000_66311b75d3a066c9.txt").unlink()  # an update with nothing to embed
    third = rag(env, workdir, "index", "build", "--corpus", str(corpus_copy), "--index", str(index))
    assert third.returncode == 0, third.stderr
    assert re.search(r"built \d+ chunks \(0 new, \d+ reused\)", third.stdout), third.stdout
    assert "/s" not in third.stdout + third.stderr and "removed 000_66311b75d3a066c9.txt" in third.stdout


# --------------------------------------------------------------------------- search, ask, eval on the session index


@pytest.fixture(scope="module")
def golden_subset(workdir: Path) -> tuple[Path, list[dict]]:
    """Real golden questions, the first of each type: the full set takes minutes on 2 cores."""
    picked: dict[str, dict] = {}
    for line in GOLDEN.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        picked.setdefault(row["type"], row)
    rows = list(picked.values())
    path = workdir / "golden-subset.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path, rows


@pytest.fixture(scope="module")
def answering(env: dict[str, str], workdir: Path, built_index: Path, golden_subset) -> dict[str, Run]:
    index = str(built_index)
    beir = write_beir(workdir / "tiny-beir")
    return rag_concurrently(env, workdir, {
        "beir": ["eval", "--beir", str(beir), "--beir-index", str(workdir / "beir-index"), "--mode", "all"],
        "search": ["search", "vector databases", "--k", "3", "--json", "--index", index],
        "ask": ["ask", "Which MLOps tools should I learn?", "--json", "--index", index],
        "eval": ["eval", "--golden", str(golden_subset[0]), "--out", str(workdir / "run"), "--index", index],
    })


def test_search_json_prints_k_ranked_passages(answering: dict[str, Run], built_index: Path) -> None:
    run = answering["search"]
    assert run.returncode == 0, run.stderr
    results = json.loads(run.stdout)["results"]
    assert len(results) == 3
    chunks = chunk_rows(built_index)
    for r in results:
        assert {"text", "doc", "section", "chunk_id", "score"} <= r.keys()
        assert r["text"] == chunks[r["chunk_id"]]["text"]
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)
    assert "vector database" in (results[0]["section"] + results[0]["text"]).lower()


def test_ask_json_prints_answer_with_citations(answering: dict[str, Run], built_index: Path) -> None:
    run = answering["ask"]
    assert run.returncode == 0, run.stderr
    body = json.loads(run.stdout)
    assert body["answer"].strip() and body["abstained"] is False
    assert body["citations"]
    chunks = chunk_rows(built_index)
    for c in body["citations"]:
        assert c["text"] == chunks[c["chunk_id"]]["text"] and c["doc"] == chunks[c["chunk_id"]]["doc"]
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", body["answer"])}
    assert cited and cited <= {c["n"] for c in body["citations"]}


def test_eval_beir_prints_each_mode_and_builds_its_own_index(answering: dict[str, Run], workdir: Path) -> None:
    run = answering["beir"]
    assert run.returncode == 0, run.stderr
    for header in ("ndcg@10", "recall@100", "mrr@10", "dense", "bm25", "hybrid", "tiny-beir (test)"):
        assert header in run.stdout
    assert "index built" in run.stdout and (workdir / "beir-index" / "manifest.json").is_file()


def test_eval_writes_metrics_retrieved_and_answers(answering: dict[str, Run], workdir: Path, golden_subset) -> None:
    run = answering["eval"]
    assert run.returncode == 0, run.stderr
    out = workdir / "run"
    questions = golden_subset[1]
    ids = [q["id"] for q in questions]

    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert {"overall", "by_type"} <= metrics.keys()
    for name in ("context_recall@4000", "mrr@10"):
        assert 0.0 <= metrics["overall"][name] <= 1.0
    assert set(metrics["by_type"]) == {q["type"] for q in questions}
    assert "context_recall@4000" in metrics["by_type"]["lookup"]

    retrieved = [json.loads(line) for line in (out / "retrieved.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in retrieved] == ids
    for row in retrieved:
        assert len(row["retrieved"]) >= 10
        for passage in row["retrieved"]:
            assert {"text", "doc", "chunk_id", "score"} <= passage.keys()
        scores = [p["score"] for p in row["retrieved"]]
        assert scores == sorted(scores, reverse=True)

    answers = [json.loads(line) for line in (out / "answers.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [a["id"] for a in answers] == ids
    for a in answers:
        assert {"id", "answer", "abstained", "citations"} <= a.keys()
        assert isinstance(a["abstained"], bool) and isinstance(a["citations"], list)
        assert all({"text", "doc"} <= c.keys() for c in a["citations"])


def test_index_verify_checksums_every_file_and_names_a_damaged_one(env: dict[str, str], workdir: Path,
                                                                   index_copy: Path) -> None:
    intact = rag(env, workdir, "index", "verify", "--index", str(index_copy))
    assert intact.returncode == 0 and "is intact" in intact.stdout, intact.stderr
    vectors = index_copy / read_manifest(index_copy).segments[0].sentence_vectors
    data = bytearray(vectors.read_bytes())
    data[-4:] = b"\x00\x00\x80\x7f"  # same size, one vector component changed
    vectors.write_bytes(bytes(data))
    assert_one_line_error(rag(env, workdir, "index", "verify", "--index", str(index_copy)),
                          "sentence_embeddings.npy is missing or damaged", "rag index build")
