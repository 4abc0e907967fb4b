"""`rag eval`: run the harness for one or more retrievers and print the tables."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import track
from rich.table import Table

from cli.progress import embedding_progress
from eval.golden import load_golden
from eval.harness import ANSWER_METRICS, SHAPE_METRICS, FollowupMode, evaluate, write_run
from rag.service import QAService
from rag.settings import RetrievalMode, Settings

RETRIEVAL_COLUMNS = ["context_recall@2000", "context_recall@4000", "recall@10", "hit@10", "mrr@10", "ndcg@10"]
BEIR_COLUMNS = ["ndcg@10", "recall@100", "mrr@10"]
SUITE_COLUMNS = ["questions", "context_recall@4000", "mrr@10", "keyword_recall", "citation_precision",
                 "answer_precision", "lead_hit", "abstain_accuracy", "false_abstain_rate", "answer_words",
                 "edition_check_fail_rate"]


def run_golden_eval(
    console: Console, service: QAService, golden: Path, k: int, out_dir: Path | None, modes: list[RetrievalMode],
    followup: FollowupMode = "context",
) -> None:
    """Evaluate each mode; answers are generated for the configured mode only (they do not vary by
    retriever in a side-by-side comparison worth its time)."""
    questions = load_golden(golden)
    summaries = {}
    for mode in modes:
        answering = mode == service.settings.retrieval_mode or len(modes) == 1
        run = evaluate(
            questions,
            service.retriever(mode),
            k=k,
            pipeline=service.engine.pipeline if answering else None,
            progress=lambda it, m=mode: track(it, description=f"{m:>6}", console=console, transient=True),
            followup=followup,
        )
        summaries[mode] = run.summary()
        if out_dir is not None and (answering or len(modes) == 1):
            write_run(run, out_dir)
    console.print(f"[bold]{golden}[/bold]: {len(questions)} questions ({sum(q.answerable for q in questions)} answerable)")
    print_table(console, "retrieval (answerable questions)", {m: s["overall"] for m, s in summaries.items()}, RETRIEVAL_COLUMNS)
    main_mode = service.settings.retrieval_mode if service.settings.retrieval_mode in summaries else modes[0]
    main = summaries[main_mode]
    print_table(console, f"by type ({main_mode})", main["by_type"], RETRIEVAL_COLUMNS + list(ANSWER_METRICS))
    answers = {"overall": main["overall"], **main["by_type"]}
    print_table(console, f"answers ({main_mode})", answers, list(ANSWER_METRICS + SHAPE_METRICS))
    if out_dir is not None:
        console.print(f"wrote {out_dir}/metrics.json, retrieved.jsonl, answers.jsonl")


def run_suite_eval(console: Console, service: QAService, work: Path, out_dir: Path | None) -> None:
    """Every set of eval/sets.toml: one row each, then each set's answers by question type."""
    from eval.suite import load_suite, run_suite

    specs = load_suite()
    runs = run_suite(service, specs, work,
                     progress=lambda it, name: track(it, description=f"{name:>20}", console=console, transient=True))
    rows = {}
    for spec in specs:
        summary = runs[spec.name].summary()
        rows[f"{spec.name} ({spec.role})"] = {"questions": float(len(runs[spec.name].rows)), **summary["overall"]}
        if out_dir is not None:
            write_run(runs[spec.name], out_dir / spec.name)
    print_table(console, "every golden set (answers and retrieval, hybrid)", rows, SUITE_COLUMNS)
    for spec in specs:
        print_table(console, f"{spec.name} by type", runs[spec.name].summary()["by_type"], SUITE_COLUMNS[1:])


def run_beir_eval(console: Console, folder: Path, split: str, index_dir: Path, modes: list[RetrievalMode]) -> None:
    from eval.beir import run_beir
    from rag.encoders.embedding import Embedder

    result = run_beir(folder, split, index_dir, Settings(), Embedder(), modes=tuple(modes), build_progress=embedding_progress)
    title = f"{result.dataset} ({split}): {result.query_count} queries, {result.doc_count} documents"
    print_table(console, title, {m: result.metrics[m] for m in modes}, BEIR_COLUMNS)
    console.print(f"index {result.index_status} in {index_dir} ({result.index_seconds:.1f} s)")


def print_table(console: Console, title: str, rows: dict[str, dict[str, float]], columns: list[str]) -> None:
    table = Table(title=title)
    table.add_column("")
    for c in columns:
        table.add_column(c, justify="right")
    for name, values in rows.items():
        table.add_row(name, *(f"{values[c]:.3f}" if c in values else "-" for c in columns))
    console.print(table)
