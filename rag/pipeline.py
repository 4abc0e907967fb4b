"""Question → passages → answer, with honest abstention when the evidence is weak."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

from rag.answer.abstention import AbstentionModel
from rag.answer.answerability import Mentions, NearTerms, abstain_reason
from rag.answer.generation import NOT_COVERED, Generator
from rag.answer.streaming import Found, sentence_deltas, split_answer, stream_answer
from rag.core.types import Answer, ScoredChunk, Turn
from rag.query.conversation import Contextualised, contextualise
from rag.retrieve.hybrid import Filters, Retriever


@dataclass
class AskResult:
    answer: Answer
    passages: list[ScoredChunk]
    timings: dict[str, float] = field(default_factory=dict)
    carried: str = ""  # what a follow-up took from the conversation (rag.query.conversation.Contextualised)


class QAPipeline:
    """Retrieves, decides whether the guides cover the question, and generates.

    When the passages cannot answer (see rag.answer.answerability; the strength
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
        abstention: AbstentionModel | None = None,
    ) -> None:
        self.abstention = abstention
        self.retriever = retriever
        self.generator = generator
        self.abstain_threshold = abstain_threshold
        self.mentions = mentions
        self.near = near

    def ask(
        self, question: str, k: int = 10, filters: Filters | None = None, history: Sequence[Turn] = ()
    ) -> AskResult:
        """Answer `question`; `history` holds the conversation's earlier turns, oldest first, and
        a follow-up is answered as the conversation means it (see rag.query.conversation)."""
        *_, result = self.steps(question, k, filters, history, live=False)
        assert isinstance(result, AskResult), "steps() ends with the AskResult"
        return result

    def steps(
        self, question: str, k: int = 10, filters: Filters | None = None, history: Sequence[Turn] = (),
        live: bool = True,
    ) -> Iterator[Found | str | AskResult]:
        """The one path of `ask` and of a streamed answer: the passages found, the answer's
        text in deltas, then the AskResult. `live` lets a generator that can stream do so
        (else it writes the whole answer first). Closing the iterator early stops the work."""
        started = time.perf_counter()
        asked, passages = retrieve_in_context(self.retriever, question, history, k, filters)
        retrieved = time.perf_counter()
        yield Found(passages, asked.carried)
        answer = yield from split_answer(self.answer_steps(asked.question, passages, live, placed=bool(asked.place_of),
                                                              followup=asked.followup))
        done = time.perf_counter()
        timings = {"retrieve_ms": (retrieved - started) * 1000, "generate_ms": (done - retrieved) * 1000}
        yield AskResult(answer, passages, {k: round(v, 2) for k, v in timings.items()}, asked.carried)

    def answer(self, question: str, passages: list[ScoredChunk], placed: bool = False, followup: bool = False) -> Answer:
        """The answer to `question` from `passages` (`placed` and `followup` as in `answer_steps`)."""
        *_, answer = self.answer_steps(question, passages, live=False, placed=placed, followup=followup)
        assert isinstance(answer, Answer), "answer_steps() ends with the Answer"
        return answer

    def answer_steps(
        self, question: str, passages: list[ScoredChunk], live: bool = True, placed: bool = False,
        followup: bool = False,
    ) -> Iterator[str | Answer]:
        """The answer's text in deltas, then the Answer, or an abstention's. `placed` passages come from
        the place an earlier answer named ("that section"): they are where to answer, whatever their scores.
        The fitted decline is for questions that stand alone, as it was fitted: a `followup` is read with
        the earlier turn's words, whose names are not what it asks about."""
        reason = None if placed else abstain_reason(question, passages, self.abstain_threshold, self.mentions, self.near)
        if reason is None and self.abstention is not None and not (placed or followup):
            reason = self.abstention.reason(question, passages)
        if reason is None:
            answer = yield from split_answer(stream_answer(self.generator, question, passages, live))
            if answer.answer or not answer.abstained:
                yield answer
                return
        answer = abstention(self.generator.name, reason or "")
        yield from sentence_deltas(answer.answer)
        yield answer


def retrieve_in_context(
    retriever: Retriever, question: str, history: Sequence[Turn] = (), k: int = 10, filters: Filters | None = None
) -> tuple[Contextualised, list[ScoredChunk]]:
    """The question as the conversation means it, and the passages for it, best first."""
    asked = contextualise(question, history)
    if asked.place_of:
        found = retriever.retrieve(asked.place_of, k=1, filters=filters)
        if found:
            place = found[0].chunk
            within = replace(filters or Filters(), sections=frozenset({(place.doc, place.section)}))
            inside = retriever.retrieve(asked.question, k=k, filters=within)
            if inside:
                return asked, inside
    return asked, retriever.retrieve(asked.question, k=k, filters=filters)


def abstention(generator: str, reason: str = "") -> Answer:
    return Answer(
        # Each surface shows the nearest passages its own way (the page, the CLI, MCP), and an OpenAI
        # chat client shows none, so the answer itself does not promise them.
        answer=" ".join(filter(None, [NOT_COVERED, reason])),
        abstained=True,
        citations=[],
        generator=generator,
    )
