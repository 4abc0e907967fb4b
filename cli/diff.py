"""`rag diff [SECTION]`: what changed between the editions of each series, section by section."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console

from rag.core.errors import RagError

if TYPE_CHECKING:
    from rag.answer.changes import SectionChanges


def diff_command(
    section: Annotated[Optional[str], typer.Argument(help="Only sections whose heading path contains this")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of text")] = False,
    index: Annotated[Optional[Path], typer.Option("--index", help="Index folder \\[env RAG_INDEX_DIR, default index/]")] = None,
) -> None:
    """List what changed between editions, section by section: items both name, renamed, or only in one; every item cited."""
    from rag.answer.changes import section_changes
    from rag.service import QAService
    from rag.settings import Settings

    settings = Settings(**({"index_dir": index} if index is not None else {}))
    err = Console(stderr=True, soft_wrap=True)
    try:
        engine_index = QAService(settings).engine.index
    except RagError as e:
        err.print(f"[red]error:[/red] {e}", highlight=False)
        raise typer.Exit(1) from e
    found = section_changes(engine_index.alignment, engine_index.outline.text_of, section)
    if json_out:
        print(json.dumps({"sections": [s.to_json() for s in found]}, ensure_ascii=False, indent=2))
        return
    if not found:
        err.print("no changes found" + (f" in a section matching {section!r}" if section else ""))
        raise typer.Exit(1)
    out = Console(soft_wrap=True)
    for s in found:
        out.print(_heading(s), highlight=False)
        for c in s.changes:
            out.print(f"  {c.kind:8} {c.text}", highlight=False)
            for n in c.nodes:
                out.print(f"           [{n.edition}] {n.label} · {n.doc} chars {n.start}-{n.end} · {n.section}", highlight=False,
                          markup=False)
        out.print()


def _heading(s: SectionChanges) -> str:
    older = " | ".join(s.older_sections) or "(none)"
    newer = " | ".join(s.newer_sections) or "(none)"
    return f"[bold]{s.older}: {older}  →  {s.newer}: {newer}[/bold]"
