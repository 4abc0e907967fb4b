"""Question → passages → answer, with honest abstention when the evidence is weak."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from rag.answerability import Mentions, NearTerms, abstain_reason
from rag.generation import NOT_COVERED, Generator
from rag.retrieval import Filters, Retriever
from rag.types import Answer, ScoredChunk, Turn


@dataclass
class AskResult:
    answer: Answer
    passages: list[ScoredChunk]
    timings: dict[str, float] = field(default_factory=dict)


class QAPipeline:
    """Retrieves, decides whether the guides cover the question, and generates.

    When the passages cannot answer (see rag.answerability; the strength
    threshold is calibrated by eval/calibrate.py) the pipeline abstains and the
    nearest passages are returned instead of a guess.
    """

    def __init__(
        self,
        retriever: Retriever,
        generator: Generator,
        abstain_threshold: float,
        mentions: Mentions | None = None,
        near: NearTerms | None = None,
    ) -> None:
        self.retriever = retriever
        self.generator = generator
        self.abstain_threshold = abstain_threshold
        self.mentions = mentions
        self.near = near

    def ask(
        self, question: str, k: int = 10, filters: Filters | None = None, history: Sequence[Turn] = ()
    ) -> AskResult:
        """Answer `question`; `history` holds the conversation's earlier turns, oldest first
        (not used yet: follow-up questions are read alone)."""
        started = time.perf_counter()
        passages = self.retriever.retrieve(question, k=k, filters=filters)
        retrieved = time.perf_counter()
        answer = self.answer(question, passages)
        done = time.perf_counter()
        timings = {"retrieve_ms": (retrieved - started) * 1000, "generate_ms": (done - retrieved) * 1000}
        return AskResult(answer, passages, {k: round(v, 2) for k, v in timings.items()})

    def answer(self, question: str, passages: list[ScoredChunk]) -> Answer:
        reason = abstain_reason(question, passages, self.abstain_threshold, self.mentions, self.near)
        if reason is not None:
            return abstention(self.generator.name, reason)
        answer = self.generator.generate(question, passages)
        if answer.abstained and not answer.answer:
            return abstention(self.generator.name)
        return answer


def abstention(generator: str, reason: str = "") -> Answer:
    return Answer(
        answer=" ".join(filter(None, [NOT_COVERED, reason, "The nearest passages are listed with the response."])),
        abstained=True,
        citations=[],
        generator=generator,
    )
