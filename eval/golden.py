"""Golden-set files (CONTRACTS §1): one validated question per JSONL line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from rag.core.errors import RagError

QuestionType = Literal["lookup", "paraphrase", "list", "cross-guide", "unanswerable"]


class Evidence(BaseModel):
    doc: str
    text: str = Field(min_length=1)


class HistoryTurn(BaseModel):
    role: Literal["user", "assistant"]
    content: str = Field(min_length=1)


class GoldenQuestion(BaseModel):
    id: str
    question: str = Field(min_length=1)
    answerable: bool
    evidence: list[Evidence]
    answer_keywords: list[str]
    type: QuestionType
    # Earlier turns of a conversation, oldest first: `question` is a follow-up to them.
    history: list[HistoryTurn] = []

    @property
    def spans(self) -> list[str]:
        return [e.text for e in self.evidence]


class GoldenSetError(RagError):
    """A golden-set file that cannot be read or does not follow the format."""


def load_golden(path: Path) -> list[GoldenQuestion]:
    """Read and validate a golden set; errors name the file and line."""
    if not path.is_file():
        raise GoldenSetError(f"golden set {path} not found")
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            questions.append(GoldenQuestion.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValidationError) as e:
            raise GoldenSetError(f"{path}:{number}: not a valid golden question ({_first_error(e)})") from e
    if not questions:
        raise GoldenSetError(f"golden set {path} has no questions")
    return questions


def _first_error(e: Exception) -> str:
    if isinstance(e, ValidationError):
        err = e.errors()[0]
        return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
    return str(e)
