"""Every golden set scored in one run: the per-set table `rag eval --all` prints.

The sets and what each may be used for are listed in eval/sets.toml. A set on a
guide outside corpus/ (`corpus = "third_guide"`) is scored on an index of
corpus/ plus that guide, built once in the work folder and reused while
unchanged: the new guide sits beside the two, as a user who dropped it in would
have it.
"""

from __future__ import annotations

import shutil
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from eval.golden import GoldenQuestion, load_golden
from eval.harness import EvalRun, evaluate
from rag.service import QAService

EVAL_DIR = Path(__file__).resolve().parent
SETS_FILE = EVAL_DIR / "sets.toml"
Role = Literal["dev", "train", "seen", "holdout"]


@dataclass(frozen=True)
class GoldenSetSpec:
    """One golden set of the suite: its file, its role, and the guides it needs beside corpus/."""

    name: str
    file: Path
    role: Role
    corpus: Path | None = None


def load_suite(path: Path = SETS_FILE) -> list[GoldenSetSpec]:
    """The suite's sets, in the file's order."""
    rows = tomllib.loads(path.read_text(encoding="utf-8"))["set"]
    return [
        GoldenSetSpec(r["name"], path.parent / r["file"], r["role"], path.parent / r["corpus"] if "corpus" in r else None)
        for r in rows
    ]


def run_suite(
    service: QAService,
    specs: Iterable[GoldenSetSpec],
    work_dir: Path,
    progress: Callable[[Iterable, str], Iterable] = lambda it, _: it,
) -> dict[str, EvalRun]:
    """Score every set with the service's retriever and pipeline (another service for a set
    that needs extra guides, sharing the model)."""
    runs = {}
    for spec in specs:
        engine = service_for(service, spec, work_dir).engine
        questions = load_golden(spec.file)
        runs[spec.name] = evaluate(questions, engine.retriever, pipeline=engine.pipeline,
                                   progress=lambda it, s=spec: progress(it, s.name))
    return runs


WORK_DIR = Path("runs/eval")


def questions_of(service: QAService, roles: tuple[Role, ...],
                 work_dir: Path = WORK_DIR) -> list[tuple[str, QAService, GoldenQuestion]]:
    """Every question of the sets with one of `roles`, with its set's name and the service it is asked
    of (a set on other guides: one on corpus/ and those guides, built once in `work_dir`)."""
    specs = [spec for spec in load_suite() if spec.role in roles]
    services = {spec.name: service_for(service, spec, work_dir) for spec in specs}
    return [(spec.name, services[spec.name], q) for spec in specs for q in load_golden(spec.file)]


def service_for(service: QAService, spec: GoldenSetSpec, work_dir: Path) -> QAService:
    """The service a set is asked of: this one, or one on corpus/ and the set's own guides."""
    if spec.corpus is None:
        return service
    corpus = work_dir / f"corpus-{spec.name}"
    _mirror(service.settings.corpus_dir, spec.corpus, corpus)
    settings = service.settings.model_copy(update={"corpus_dir": corpus, "index_dir": work_dir / f"index-{spec.name}"})
    extended = QAService(settings, embedder=service.embedder, fitted=service.fitted)
    extended.build()
    return extended


def _mirror(base: Path, extra: Path, target: Path) -> None:
    """`target` holds exactly the files of `base` and `extra` (copied only when changed)."""
    target.mkdir(parents=True, exist_ok=True)
    wanted = {p.name: p for folder in (base, extra) for p in sorted(folder.iterdir()) if p.is_file()}
    for stale in set(p.name for p in target.iterdir()) - set(wanted):
        (target / stale).unlink()
    for name, source in wanted.items():
        copy = target / name
        if not copy.exists() or copy.read_bytes() != source.read_bytes():
            shutil.copyfile(source, copy)
