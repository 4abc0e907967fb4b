"""The `rag` command: build the index, search, ask, evaluate, serve.

This package is the composition root: it imports rag/, api/ and eval/, and
none of them import it. Each command imports what it needs when it runs, so
`rag --help` starts in a blink and `rag ask` loads no build or server code.
"""

from __future__ import annotations

import json
import logging
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, Optional

import typer
from rich.console import Console

from cli.diff import diff_command
from cli.tune import tune_app
from rag.core.errors import RagError
from rag.query.request import MAX_K, clean_question

if TYPE_CHECKING:
    from rag.service import QAService
    from rag.settings import Settings

app = typer.Typer(
    help="guides-qa: cited answers from machine-learning career guides, offline.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
index_app = typer.Typer(help="Build and inspect the index.", no_args_is_help=True)
app.add_typer(index_app, name="index")
app.add_typer(tune_app, name="tune")
app.command("diff")(diff_command)
# Eval tables are wide; rich would squeeze them to 80 columns when output is piped.
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True)  # one message, one line: never wrap paths

CorpusOpt = Annotated[Optional[Path], typer.Option("--corpus", help="Guides folder \\[env RAG_CORPUS_DIR, default corpus/]")]
IndexOpt = Annotated[Optional[Path], typer.Option("--index", help="Index folder \\[env RAG_INDEX_DIR, default index/]")]
KOpt = Annotated[int, typer.Option("--k", min=1, max=MAX_K, help="How many passages")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text")]
MODES = ("dense", "bm25", "hybrid")
ModeOpt = Annotated[str, typer.Option("--mode", help="Retriever: dense, bm25 or hybrid")]


def _settings(corpus: Path | None = None, index: Path | None = None) -> Settings:
    from rag.settings import Settings

    overrides = {k: v for k, v in (("corpus_dir", corpus), ("index_dir", index)) if v is not None}
    return Settings(**overrides)


def _check_modes(modes: list[str], given: str, allowed: str = "dense, bm25 or hybrid") -> None:
    if any(m not in MODES for m in modes):
        _fail(f"--mode must be {allowed}, not {given!r}")


def _service(corpus: Path | None = None, index: Path | None = None) -> QAService:
    from rag.service import QAService

    return QAService(_settings(corpus, index))


def _warn_if_stale(service: QAService) -> None:
    """A note on stderr when the index is older than the corpus: its answers come from the old text."""
    staleness = service.staleness()
    if staleness.stale:
        err.print(f"[yellow]note:[/yellow] {staleness.message}", highlight=False)


def _stale_json(service: QAService) -> dict | None:
    """As the HTTP API's `stale_index`: null when the index is current."""
    staleness = service.staleness()
    return staleness.to_json() if staleness.stale else None


def _question(text: str, settings: Settings, what: str = "the question") -> str:
    """The question by the request rule every surface uses (rag.query.request)."""
    try:
        return clean_question(text, settings.max_question_chars, what)
    except RagError as e:
        _fail(str(e))


def _fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(1)


@index_app.command("build")
def index_build(
    corpus: CorpusOpt = None,
    index: IndexOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if nothing changed")] = False,
    ray: Annotated[Optional[str], typer.Option(
        "--ray", metavar="ADDRESS",
        help="Embed on a Ray cluster: its address (ray://HOST:10001, HOST:6379 or auto), or 'local' to start one here",
    )] = None,
) -> None:
    """Build or update the index; re-running with nothing changed is a fast no-op."""
    from cli.progress import embedding_progress
    from rag.index.freshness import named_files

    service = _service(corpus, index)
    encoder = None
    if ray is not None:
        from rag.encoders.distributed import RayEncoder

        encoder = RayEncoder(ray, batch_size=service.embedder.batch_size, embed_dtype=service.embedder.embed_dtype)
    try:
        report = service.build(force=force, progress=embedding_progress, encoder=encoder)
    except RagError as e:
        _fail(str(e))
    for name, _ in report.skipped.items():
        err.print(f"[yellow]skipped:[/yellow] {name} (empty, binary, unreadable, or only page clutter)", highlight=False)
    if report.status == "unchanged":
        out.print(f"index is up to date ({report.chunk_count} chunks) in {report.seconds:.2f} s")
        return
    changes = ", ".join(named_files(label, names) for label, names in
                        (("added", report.added), ("changed", report.changed), ("removed", report.removed)) if names)
    out.print(f"built {report.chunk_count} chunks ({report.embedded} new, {report.reused} reused) in {report.seconds:.1f} s "
              f"→ {service.settings.index_dir}" + (f"; {changes}" if changes else ""), highlight=False)


@index_app.command("verify")
def index_verify(index: IndexOpt = None) -> None:
    """Checksum every index file against its manifest (loading hashes only files up to 64 MiB)."""
    from rag.index.store import read_manifest, verify_files

    folder = _settings(index=index).index_dir
    try:
        manifest = read_manifest(folder)
        verify_files(folder, manifest)
    except RagError as e:
        _fail(str(e))
    out.print(f"index in {folder} is intact: {len(manifest.checksums)} files, {manifest.chunk_count} chunks, "
              f"{manifest.faiss_index}", highlight=False)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for")],
    k: KOpt = 5,
    json_out: JsonOpt = False,
    mode: ModeOpt = "hybrid",
    edition: Annotated[Optional[list[str]], typer.Option("--edition", help="Only these editions (e.g. 2026)")] = None,
    index: IndexOpt = None,
) -> None:
    """Ranked passages for QUERY: guide, section, score and text."""
    _check_modes([mode], mode)
    settings = _settings(index=index)
    query = _question(query, settings, "the query")
    service = _service(index=index)
    try:
        filters = service.filters(editions=edition)
        results = service.retriever(mode).retrieve(query, k=k, filters=filters)  # type: ignore[arg-type]
        _warn_if_stale(service)
    except RagError as e:
        _fail(str(e))
    if json_out:
        rows = [{**r.chunk.to_json(), "score": r.score} for r in results]
        print(json.dumps({"results": rows, "stale_index": _stale_json(service)}, ensure_ascii=False, indent=2))
        return
    for rank, r in enumerate(results, start=1):
        out.print(f"[bold]{rank}. {r.chunk.doc}[/bold] ({r.chunk.edition or '-'}) · {r.chunk.section} · score {r.score:.3f}",
                  highlight=False)
        out.print(f"   {r.chunk.text}\n", highlight=False)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="A question about ML skills")],
    k: KOpt = 10,
    json_out: JsonOpt = False,
    index: IndexOpt = None,
) -> None:
    """Answer QUESTION from the guides, with numbered citations."""
    question = _question(question, _settings(index=index))
    service = _service(index=index)
    try:
        result = service.engine.pipeline.ask(question, k=k)
        _warn_if_stale(service)
    except RagError as e:
        _fail(str(e))
    answer = result.answer
    if json_out:
        print(json.dumps({**answer.to_json(), "timings": result.timings, "stale_index": _stale_json(service)},
                         ensure_ascii=False, indent=2))
        return
    out.print(answer.answer + "\n", highlight=False)
    if answer.notice:
        err.print(f"[yellow]note:[/yellow] {answer.notice}")
    for c in answer.citations:
        out.print(f"[bold][{c.n}][/bold] {c.doc} ({c.edition or '-'}) · {c.section} · chars {c.start}-{c.end}", highlight=False)
        out.print(f"    {c.text}", highlight=False)
    if answer.abstained:
        out.print("[dim]Nearest passages:[/dim]")
        for p in result.passages[:3]:
            out.print(f"  · {p.chunk.doc} · {p.chunk.section}: {p.chunk.text[:200]}…", highlight=False)


@app.command("eval")
def eval_command(
    golden: Annotated[Optional[Path], typer.Option("--golden", help="Golden set (JSONL, CONTRACTS §1)")] = None,
    k: KOpt = 10,
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="Write metrics.json, retrieved.jsonl, answers.jsonl here")] = None,
    mode: Annotated[str, typer.Option("--mode", help="dense, bm25, hybrid, or all (side by side)")] = "hybrid",
    beir: Annotated[Optional[Path], typer.Option("--beir", help="A BEIR-format folder to benchmark instead")] = None,
    split: Annotated[str, typer.Option("--split", help="BEIR qrels split")] = "test",
    beir_index: Annotated[Path, typer.Option("--beir-index", help="Index folder for the BEIR corpus")] = Path("runs/beir-index"),
    followup: Annotated[str, typer.Option(
        "--followup-mode", help="Questions with history: read alone, prefixed with the earlier questions, or in context")] = "context",
    index: IndexOpt = None,
    all_sets: Annotated[bool, typer.Option("--all", help="Every golden set of eval/sets.toml, one row each")] = False,
    work: Annotated[Path, typer.Option("--work", help="With --all: folder for the indexes of sets on extra guides")] = Path("runs/eval"),
) -> None:
    """Score a golden set (or every set with --all, or a BEIR benchmark) and print tables."""
    from cli.evaluation import run_beir_eval, run_golden_eval, run_suite_eval

    modes = list(MODES) if mode == "all" else [mode]
    _check_modes(modes, mode, "dense, bm25, hybrid or all")
    if (golden is not None) + (beir is not None) + all_sets != 1:
        _fail("give exactly one of --golden FILE, --all or --beir DIR")
    if followup not in ("alone", "prefix", "context"):
        _fail(f"--followup-mode must be alone, prefix or context, not {followup!r}")
    try:
        if beir is not None:
            run_beir_eval(out, beir, split, beir_index, modes)
        elif all_sets:
            run_suite_eval(out, _service(index=index), work, out_dir)
        else:
            run_golden_eval(out, _service(index=index), golden, k, out_dir, modes, followup)  # type: ignore[arg-type]
    except RagError as e:
        _fail(str(e))


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port")] = 8000,
    corpus: CorpusOpt = None,
    index: IndexOpt = None,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64,
                                         help="Server processes sharing the memory-mapped index (each loads the model)")] = 1,
    ray: Annotated[Optional[str], typer.Option("--ray", help="Serve on Ray Serve at this cluster address ('local' starts one)")] = None,
    replicas: Annotated[int, typer.Option("--replicas", min=1, max=64, help="Ray Serve replicas (with --ray)")] = 2,
) -> None:
    """Run the HTTP service (POST /ask, POST /search, GET /health, GET /metrics); builds the index first if it is missing or out of date.

    Limits come from the environment: RAG_MAX_BODY_BYTES, RAG_QUEUE_MAX (503 beyond it), RAG_WORKER_THREADS,
    RAG_REQUEST_READ_TIMEOUT_S, RAG_KEEP_ALIVE_TIMEOUT_S, RAG_GRACEFUL_SHUTDOWN_S; the
    question encoder from RAG_QUERY_ENCODER (torch or onnx-int8)."""
    import uvicorn

    from api.app import create_app
    from api.server import server_config
    from cli.progress import embedding_progress

    service = _service(corpus, index)
    try:
        report = service.ensure_index(progress=partial(embedding_progress, label="building the index: embedding"))
    except RagError as e:
        _fail(str(e))
    if report:
        out.print(f"built the index: {report.chunk_count} chunks in {report.seconds:.1f} s")
    progress = partial(embedding_progress, label="rebuilding the index in the background: embedding")
    settings = service.settings
    if ray is not None:
        from api.ray_serve import serve_on_ray

        try:
            serve_on_ray(settings, ray, replicas, host, port)
        except RagError as e:
            _fail(str(e))
        return
    if workers > 1:
        from api.workers import serve_workers

        try:
            serve_workers(settings, host, port, workers)
        except RagError as e:
            _fail(str(e))
        return
    app = create_app(settings, service, build_progress=progress)
    uvicorn.Server(server_config(app, settings, host, port)).run()


@app.command("mcp")
def mcp_command(corpus: CorpusOpt = None, index: IndexOpt = None) -> None:
    """Run an MCP server over stdio with the tools search_guides and ask_guides, for agent hosts
    (builds the index first if it is missing or out of date). Configure a host with the command: rag mcp"""
    from api.mcp_server import serve_stdio

    service = _service(corpus, index)
    try:
        service.ensure_index()
        service.warm_up()
    except RagError as e:
        _fail(str(e))
    serve_stdio(service)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    app()


if __name__ == "__main__":
    main()
