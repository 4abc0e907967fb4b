"""The generator plug point: anything that turns a question and passages into a cited answer."""

from __future__ import annotations

from typing import Protocol

from rag.core.types import Answer, ScoredChunk

NOT_COVERED = "The guides don't cover this."


class Generator(Protocol):
    """Writes an answer from retrieved passages; every claim marked [n] for citations[n]."""

    name: str

    def generate(self, question: str, passages: list[ScoredChunk]) -> Answer: ...
