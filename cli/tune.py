"""`rag tune`: fit the answer path's learned parts on the labelled golden sets, cross-validated.

Each command prints its cross-validated report as JSON and writes the fitted model
where the service reads it: by default the shipped profile in rag/profiles/, or
with --out into an index folder (which then carries its own, fitted on its corpus).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console

from rag.core.errors import RagError

if TYPE_CHECKING:
    from rag.service import QAService

tune_app = typer.Typer(help="Fit the query map, the sentence scorer and the decline model on labelled questions "
                        "(in that order: each is fitted on what the ones before it give).", no_args_is_help=True)
err = Console(stderr=True)

OutOpt = Annotated[Optional[Path], typer.Option("--out", help="Where to write the fitted model [default: the shipped one in rag/profiles/]")]
IndexOpt = Annotated[Optional[Path], typer.Option("--index", help="Index folder \\[env RAG_INDEX_DIR, default index/]")]


def _service(index: Path | None) -> QAService:
    from rag.service import QAService
    from rag.settings import Settings

    service = QAService(Settings(**({"index_dir": index} if index is not None else {})), fitted=False)
    service.ensure_index()
    return service


@tune_app.command("queries")
def queries(out: OutOpt = None, index: IndexOpt = None) -> None:
    """Fit the query map (a linear map of question vectors that ranks each labelled question's evidence
    sentences first) on the dev, train and seen sets; report leave-one-set-out cross-validation against
    the plain vectors; write query_map.npz. Refit the selection and abstention models after it."""
    from rich.progress import track

    from eval.tune_queries import run
    from rag.retrieve.query_map import DEFAULT_MODEL

    try:
        report = run(_service(index), out or DEFAULT_MODEL,
                     progress=lambda it: track(it, description="questions", console=err, transient=True))
    except RagError as e:
        err.print(f"[red]error:[/red] {e}", highlight=False)
        raise typer.Exit(1) from e
    print(json.dumps(report, indent=2))


@tune_app.command("selection")
def selection(out: OutOpt = None, index: IndexOpt = None) -> None:
    """Fit the sentence scorer (listwise logistic regression over the generator's features) on the
    dev and train sets; report question-level cross-validation against the untuned order; choose
    the generator's thresholds by the answers they give; write selection.json."""
    from rich.progress import track

    from eval.tune_selection import run
    from rag.answer.extractive.model import DEFAULT_MODEL

    try:
        report = run(_service(index), out or DEFAULT_MODEL,
                     progress=lambda it: track(it, description="questions", console=err, transient=True))
    except RagError as e:
        err.print(f"[red]error:[/red] {e}", highlight=False)
        raise typer.Exit(1) from e
    print(json.dumps(report, indent=2))


@tune_app.command("abstention")
def abstention(out: OutOpt = None, index: IndexOpt = None) -> None:
    """Fit the decline model (detail questions the passages touch but do not answer) on the dev,
    train and seen sets; report cross-validated abstain accuracy and false-abstain rate against the
    rules alone; write abstention.json."""
    from eval.tune_abstention import run
    from rag.answer.abstention import DEFAULT_MODEL

    try:
        report = run(_service(index), out or DEFAULT_MODEL)
    except RagError as e:
        err.print(f"[red]error:[/red] {e}", highlight=False)
        raise typer.Exit(1) from e
    print(json.dumps(report, indent=2))
