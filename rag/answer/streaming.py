"""An answer as it is written: text deltas first, the finished Answer last.

A generator that can stream (an LLM relaying tokens as its server sends them)
has a `stream` method; any other one is run whole and its text handed out a
sentence at a time, so every generator can feed `POST /ask/stream`.
"""

from __future__ import annotations

import re
from collections.abc import Generator as Steps
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from rag.answer.generation import Generator
from rag.core.types import Answer, ScoredChunk

# A sentence ends at . ! ? or a [n] marker, takes the markers right after it, then the spaces.
_SENTENCE = re.compile(r".*?(?:[.!?…]|\[\d+\])(?:\s*\[\d+\])*(?:\s+|$)|.+", re.DOTALL)


@runtime_checkable
class StreamingGenerator(Protocol):
    """A generator that yields its answer's text as it goes, then the whole Answer last."""

    def stream(self, question: str, passages: list[ScoredChunk]) -> Iterator[str | Answer]: ...


@dataclass(frozen=True)
class Found:
    """The passages a question retrieved, reported before its answer is written."""

    passages: list[ScoredChunk]
    carried: str = ""  # what a follow-up took from the conversation (rag.query.conversation.Contextualised)


def stream_answer(
    generator: Generator, question: str, passages: list[ScoredChunk], live: bool = True
) -> Iterator[str | Answer]:
    """Text deltas, then the Answer: the generator's own stream when it has one (and `live`),
    else its whole answer cut into sentences."""
    if live and isinstance(generator, StreamingGenerator):
        yield from generator.stream(question, passages)
        return
    answer = generator.generate(question, passages)
    yield from sentence_deltas(answer.answer)
    yield answer


def sentence_deltas(text: str) -> Iterator[str]:
    """`text` in sentence-sized pieces that join back to it exactly; a sentence's `[n]`
    markers stay with it."""
    for match in _SENTENCE.finditer(text):
        if match.group():
            yield match.group()


def split_answer(parts: Iterator[str | Answer]) -> Steps[str, None, Answer]:
    """Relay the text deltas of `parts`; the Answer that ends them is the return value."""
    for part in parts:
        if isinstance(part, Answer):
            return part
        yield part
    raise RuntimeError("the answer stream ended without its Answer")
