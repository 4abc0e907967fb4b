"""rag.answer.streaming and QAPipeline.steps: an answer as deltas, then the whole of it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rag.answer.streaming import Found, sentence_deltas, stream_answer
from rag.core.types import Answer, Citation, ScoredChunk
from rag.pipeline import AskResult, QAPipeline
from rag.service import QAService

MLOPS_QUESTION = "Which MLOps tools should I learn?"


class ScriptedStream:
    """A generator that streams: yields `pieces`, then an Answer of them; records how far it got."""

    name = "scripted"

    def __init__(self, pieces: list[str]) -> None:
        self.pieces = pieces
        self.sent = 0
        self.closed = False

    def generate(self, question: str, passages: list[ScoredChunk]) -> Answer:
        raise AssertionError("a generator that can stream is streamed")

    def stream(self, question: str, passages: list[ScoredChunk]) -> Iterator[str | Answer]:
        try:
            for piece in self.pieces:
                self.sent += 1
                yield piece
            yield Answer("".join(self.pieces), False, [Citation.of(1, passages[0])], generator=self.name)
        finally:
            self.closed = True


@pytest.mark.parametrize(
    "text",
    [
        "According to the 2026 guide: MLOps bridges the gap. [1] Tools like DVC matter. [1]\n\nThe 2024 guide adds: Kubeflow. [2]",
        "One sentence without a marker. Another one? Yes! [3] [4] And a tail without an end",
        "Markers grouped [1][2] then text. [1, 2] Done.",
        "",
    ],
)
def test_sentence_deltas_join_back_to_the_text(text: str) -> None:
    assert "".join(sentence_deltas(text)) == text


def test_sentence_deltas_keep_markers_with_their_sentence() -> None:
    text = "MLOps bridges the gap. [1] It applies DevOps to ML. [1] [2]\n\nThe 2024 guide adds: Docker. [3]"
    assert list(sentence_deltas(text)) == [
        "MLOps bridges the gap. [1] ",
        "It applies DevOps to ML. [1] [2]\n\n",
        "The 2024 guide adds: Docker. [3]",
    ]


def test_stream_answer_cuts_a_whole_answer_into_sentences(service: QAService) -> None:
    pipeline = service.engine.pipeline
    passages = pipeline.retriever.retrieve(MLOPS_QUESTION)
    parts = list(stream_answer(pipeline.generator, MLOPS_QUESTION, passages))
    *deltas, answer = parts
    assert isinstance(answer, Answer) and not answer.abstained
    assert len(deltas) > 1 and all(isinstance(d, str) for d in deltas)
    assert "".join(deltas) == answer.answer
    assert answer == pipeline.generator.generate(MLOPS_QUESTION, passages)


def test_stream_answer_uses_the_generators_own_stream(service: QAService) -> None:
    passages = service.engine.retriever.retrieve(MLOPS_QUESTION)
    streamer = ScriptedStream(["Kubeflow ", "and MLflow. [1]"])
    *deltas, answer = stream_answer(streamer, MLOPS_QUESTION, passages)
    assert deltas == ["Kubeflow ", "and MLflow. [1]"]
    assert answer.answer == "Kubeflow and MLflow. [1]" and answer.generator == "scripted"


def test_steps_report_passages_then_deltas_then_the_same_result_as_ask(service: QAService) -> None:
    pipeline = service.engine.pipeline
    first, *deltas, result = pipeline.steps(MLOPS_QUESTION)
    assert isinstance(first, Found) and isinstance(result, AskResult)
    assert [p.chunk.chunk_id for p in first.passages] == [p.chunk.chunk_id for p in result.passages]
    assert "".join(deltas) == result.answer.answer
    whole = pipeline.ask(MLOPS_QUESTION)
    assert whole.answer == result.answer
    assert set(whole.timings) == set(result.timings) == {"retrieve_ms", "generate_ms"}


def test_steps_stream_an_abstention_like_ask_gives_it(service: QAService) -> None:
    pipeline = service.engine.pipeline
    _, *deltas, result = pipeline.steps("Is Rust good for machine learning?")
    assert result.answer.abstained and "Rust" in result.answer.answer
    assert "".join(deltas) == result.answer.answer
    assert pipeline.ask("Is Rust good for machine learning?").answer == result.answer


def test_closing_steps_early_stops_the_generator(service: QAService) -> None:
    engine = service.engine
    streamer = ScriptedStream([f"Sentence {i}. [1] " for i in range(20)])
    pipeline = QAPipeline(engine.retriever, streamer, service.settings.abstain_threshold, engine.index.bm25.mentions)
    steps = pipeline.steps(MLOPS_QUESTION)
    assert isinstance(next(steps), Found)
    assert next(steps) == "Sentence 0. [1] "
    steps.close()
    assert streamer.closed and streamer.sent == 1
