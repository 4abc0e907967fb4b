"""`rag tune`: fit the answer path's learned parts on the labelled golden sets, cross-validated.

Each command prints its cross-validated report as JSON and writes the fitted model
where the service reads it: by default the shipped profile in rag/profiles/, or
with --out into an index folder (which then carries its own, fitted on its corpus).
"""

from __future__ import annotations

import json
from collections.abc import Callable
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


def _fit(run: Callable[..., dict], index: Path | None, out: Path, with_progress: bool = True) -> None:
    """Run one fit on the labelled sets against the index; print its report as JSON, or the error."""
    from rich.progress import track

    progress = {"progress": lambda it: track(it, description="questions", console=err, transient=True)} if with_progress else {}
    try:
        report = run(_service(index), out, **progress)
    except RagError as e:
        err.print(f"[red]error:[/red] {e}", highlight=False)
        raise typer.Exit(1) from e
    print(json.dumps(report, indent=2))


@tune_app.command("queries")
def queries(out: OutOpt = None, index: IndexOpt = None) -> None:
    """Fit the query map (a linear map of question vectors that ranks each labelled question's evidence
    sentences first) on the dev, train and seen sets; report leave-one-set-out cross-validation against
    the plain vectors; write query_map.npz. Refit the selection and abstention models after it."""
    from eval.tune_queries import run
    from rag.retrieve.query_map import DEFAULT_MODEL

    _fit(run, index, out or DEFAULT_MODEL)


@tune_app.command("selection")
def selection(out: OutOpt = None, index: IndexOpt = None) -> None:
    """Fit the sentence scorers (listwise logistic regression over the generator's features), with the
    query map and without, on the dev and train sets; report question-level cross-validation against
    the hand-set weights; choose the generator's thresholds by the answers they give; write
    selection.json and selection_plain.json beside it."""
    from eval.tune_selection import run
    from rag.answer.extractive.model import DEFAULT_MODEL

    _fit(run, index, out or DEFAULT_MODEL)


@tune_app.command("abstention")
def abstention(out: OutOpt = None, index: IndexOpt = None) -> None:
    """Fit the decline model (detail questions the passages touch but do not answer) on the dev,
    train and seen sets; report cross-validated abstain accuracy and false-abstain rate against the
    rules alone; write abstention.json."""
    from eval.tune_abstention import run
    from rag.answer.abstention import DEFAULT_MODEL

    _fit(run, index, out or DEFAULT_MODEL, with_progress=False)
