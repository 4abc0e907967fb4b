"""An answer generator backed by any OpenAI-compatible chat-completions server.

Ollama, vLLM, llama.cpp's server and OpenAI all speak `POST {base_url}/chat/completions`.
The model only sees numbered passages and must cite them as [n]. Its reply is checked
sentence by sentence against the passages it cites (rag.answer.grounding): a wrong marker is
taken off, a sentence no cited passage supports is dropped, and a reply left citing
nothing is not trusted. When the server fails, the fallback (extractive) generator
answers instead, with a notice saying so, so a flaky LLM never breaks a query.

`stream` relays the reply's text as the server sends it (OpenAI server-sent events),
then yields the checked Answer: its text may be shorter than the deltas joined.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import tiktoken

from rag.answer.generation import NOT_COVERED, Generator
from rag.answer.grounding import check_citations, sentences, settled_text
from rag.core.errors import GeneratorError
from rag.core.text import TOKEN_ENCODING, count_tokens
from rag.core.types import Answer, Citation, ScoredChunk

log = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You answer questions about these guides: {topic}. Use ONLY the numbered passages "
    "in the user's message, never your own knowledge. Your first sentence answers the question "
    "directly. Be short and say only what was asked: one or two sentences when the question asks "
    "for one thing; when it asks for several things (tools, skills, steps), the items, one per "
    'line starting with "- "; when it asks about both editions of the guide, what each edition '
    "says, then one sentence comparing them (what both share, what only one has). No introduction, "
    "no filler, no advice of your own. End every sentence and every item with the number of the "
    "passage that says it, in square brackets, like [1] or [2][3]; cite only passage numbers that "
    "appear in the message, and only a passage that says what the sentence says. When the passages "
    "come from different editions of the guide (e.g. the 2024 and the 2026 guide), say which edition "
    "(year) says what. If the passages do not answer the question, reply with exactly this sentence "
    "and nothing else: " + NOT_COVERED.replace("{", "{{").replace("}", "}}")
)

DRAFT_HEADING = ("Draft answer quoted from the passages along the guides' structure (whole lists; what the "
                 "editions share and differ in). Use it where it answers the question, keeping its citations:")


class LLMGenerator:
    """Writes cited answers with an LLM; falls back to `fallback` when the server fails."""

    name = "llm"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str = "",
        timeout: float = 30.0,
        context_tokens: int = 3000,
        *,
        fallback: Generator,
        topic: str = "the guides in this index",
    ) -> None:
        self.topic = topic
        self.base_url = base_url
        self.model = model
        self.fallback = fallback
        self.api_key = api_key
        self.timeout = timeout
        self.context_tokens = context_tokens
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def generate(self, question: str, passages: list[ScoredChunk]) -> Answer:
        if not passages:
            return _abstain()
        sent = budget_passages(passages, self.context_tokens)
        try:
            reply = self._complete(self._messages(question, passages, sent))
        except GeneratorError as exc:
            return self._fall_back(question, passages, exc)
        return parse_reply(reply, passages[: len(sent)])

    def stream(self, question: str, passages: list[ScoredChunk]) -> Iterator[str | Answer]:
        """The checked answer's text as the reply arrives, a sentence at a time once the rule
        of rag.answer.grounding keeps it (`settled_text`), then the checked Answer: an unsupported
        sentence is never shown. When the server fails, the fallback's answer (its text as
        one delta if nothing was sent yet). Closing the iterator closes the upstream request."""
        if not passages:
            answer = _abstain()
            yield answer.answer
            yield answer
            return
        sent = budget_passages(passages, self.context_tokens)
        texts = [p.chunk.text for p in passages[: len(sent)]]
        editions = [p.chunk.edition for p in passages[: len(sent)]]
        reply, shown, complete = "", "", 0
        try:
            for delta in self._complete_stream(self._messages(question, passages, sent)):
                reply += delta
                if (now := len(sentences(reply)) - 1) > complete:  # a sentence is complete once the next begins
                    complete = now
                    settled = settled_text(reply, texts, editions)
                    if len(settled) > len(shown):
                        yield settled[len(shown) :]
                        shown = settled
        except GeneratorError as exc:
            answer = self._fall_back(question, passages, exc)
            if not shown:
                yield answer.answer
            yield answer
            return
        answer = parse_reply(reply, passages[: len(sent)])
        if answer.answer.startswith(shown.rstrip()):  # a dropped last sentence leaves a space shown
            if len(answer.answer) > len(shown):
                yield answer.answer[len(shown) :]
        else:  # cannot happen while settled_text holds to the rule; the Answer is what counts
            log.warning("streamed text is not the start of the checked answer: %.80r", shown)
        yield answer

    def _messages(self, question: str, passages: list[ScoredChunk], sent: list[str]) -> list[dict[str, str]]:
        """The prompt for the passages that fit the budget (`sent`, rendered), with their draft."""
        return build_messages(question, sent, self.topic, self._draft(question, passages[: len(sent)]))

    def _draft(self, question: str, sent: list[ScoredChunk]) -> str:
        """The extractive answer from the sent passages, its markers in the prompt's numbering: it
        brings what the passages alone do not show the model — a list whole under its lead-in, and
        what the editions share and differ in, read off their alignment."""
        draft = self.fallback.generate(question, sent)
        if draft.abstained:
            return ""
        number = {p.chunk.chunk_id: n for n, p in enumerate(sent, start=1)}
        prompt_n = {c.n: number.get(c.chunk_id) for c in draft.citations}

        def renumbered(match: re.Match[str]) -> str:
            n = prompt_n.get(int(match.group(1)))
            return f"[{n}]" if n else ""

        return re.sub(r"\[(\d+)\]", renumbered, draft.answer)

    def _fall_back(self, question: str, passages: list[ScoredChunk], exc: GeneratorError) -> Answer:
        log.warning("LLM generation failed, answering extractively: %s", exc)
        answer = self.fallback.generate(question, passages)
        notice = f"LLM server at {self.base_url} failed ({exc}); answered extractively instead."
        return dataclasses.replace(answer, notice=notice)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
                self._client = httpx.Client(timeout=self.timeout, headers=headers)
            return self._client

    def _complete(self, messages: list[dict[str, str]]) -> str:
        """The assistant's reply text; every failure becomes a GeneratorError with a short reason."""
        with self._transport_errors():
            response = self._http().post(self._url(), json=self._body(messages, stream=False))
        _check_status(response)
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, LookupError, TypeError) as exc:
            raise GeneratorError("malformed reply") from exc
        if not isinstance(content, str):
            raise GeneratorError("reply has no text content")
        return content

    def _complete_stream(self, messages: list[dict[str, str]]) -> Iterator[str]:
        """The reply's text pieces from the server's `data:` events, up to `data: [DONE]`."""
        body = self._body(messages, stream=True)
        with self._transport_errors(), self._http().stream("POST", self._url(), json=body) as response:
            _check_status(response)
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue  # blank separators, comments, "event:" lines
                data = line.removeprefix("data:").strip()
                if data == "[DONE]":
                    return
                delta = _delta_text(data)
                if delta:
                    yield delta
        raise GeneratorError("the stream ended before [DONE]")

    def _url(self) -> str:
        return f"{self.base_url.rstrip('/')}/chat/completions"

    def _body(self, messages: list[dict[str, str]], stream: bool) -> dict:
        return {"model": self.model, "messages": messages, "temperature": 0, "stream": stream}

    @contextmanager
    def _transport_errors(self) -> Iterator[None]:
        try:
            yield
        except httpx.TimeoutException as exc:
            raise GeneratorError(f"timed out after {self.timeout:g} s") from exc
        except httpx.HTTPError as exc:
            raise GeneratorError(f"{type(exc).__name__}: {exc}") from exc


def _check_status(response: httpx.Response) -> None:
    if not response.is_success:
        raise GeneratorError(f"HTTP {response.status_code}")


def _delta_text(data: str) -> str:
    """The text of one `chat.completion.chunk` (empty for a chunk without any, e.g. usage)."""
    try:
        chunk = json.loads(data)
        if "error" in chunk:
            raise GeneratorError(f"error in stream: {str(chunk['error'])[:200]}")
        choices = chunk["choices"]
        content = choices[0]["delta"].get("content") if choices else None
    except (ValueError, LookupError, TypeError, AttributeError) as exc:
        raise GeneratorError("malformed stream chunk") from exc
    return content if isinstance(content, str) else ""


def budget_passages(passages: list[ScoredChunk], context_tokens: int) -> list[str]:
    """Rendered passages, in rank order, while their tokens stay within `context_tokens`.

    The first passage is always sent, its text cut to the budget if it alone is over.
    """
    first = render_passage(1, passages[0])
    if count_tokens(first) > context_tokens:
        first = _truncated_first(passages[0], context_tokens)
    sent, total = [first], count_tokens(first)
    for n, passage in enumerate(passages[1:], start=2):
        block = render_passage(n, passage)
        total += count_tokens(block)
        if total > context_tokens:
            break
        sent.append(block)
    return sent


def _truncated_first(passage: ScoredChunk, context_tokens: int) -> str:
    head = render_passage(1, passage, text="")
    encoding = tiktoken.get_encoding(TOKEN_ENCODING)
    tokens = encoding.encode_ordinary(passage.chunk.text)[: max(context_tokens - count_tokens(head), 0)]
    return render_passage(1, passage, text=encoding.decode(tokens))


def render_passage(n: int, passage: ScoredChunk, text: str | None = None) -> str:
    """`[n] (2026 guide — Section) text`; the edition or section is left out when unknown."""
    chunk = passage.chunk
    source = " — ".join(p for p in (f"{chunk.edition} guide" if chunk.edition else "", chunk.section) if p)
    body = chunk.text if text is None else text
    return f"[{n}] ({source}) {body}" if source else f"[{n}] {body}"


def build_messages(question: str, rendered: list[str], topic: str, draft: str = "") -> list[dict[str, str]]:
    """The chat messages for one question: the instructions, naming what the index holds, then the
    passages, and the draft read off the guides' structure (`LLMGenerator._draft`) when there is one."""
    notes = f"\n\n{DRAFT_HEADING}\n{draft}" if draft else ""
    user = "Passages:\n\n" + "\n\n".join(rendered) + notes + f"\n\nQuestion: {question}"
    return [{"role": "system", "content": SYSTEM_PROMPT.format(topic=topic)}, {"role": "user", "content": user}]


def parse_reply(reply: str, sent: list[ScoredChunk]) -> Answer:
    """An Answer citing the passages the reply marks, checked against them (rag.answer.grounding);
    abstains when no supported sentence cites a passage.

    `sent` are the passages the prompt numbered 1..len(sent); markers outside that
    range are dropped from the text, and citations keep the prompt's numbering.
    """
    text = reply.strip()
    if _normalise(text).startswith(_normalise(NOT_COVERED)):
        return _abstain()
    text, cited = check_citations(text, [p.chunk.text for p in sent], [p.chunk.edition for p in sent])
    if not cited:
        log.warning("LLM reply cites no passage; not trusted: %.80r", reply)
        return _abstain()
    return Answer(
        answer=text,
        abstained=False,
        citations=[Citation.of(n, sent[n - 1]) for n in cited],
        generator=LLMGenerator.name,
    )


def _normalise(text: str) -> str:
    """Case- and apostrophe-insensitive, so "The guides don’t cover this." still abstains."""
    return text.replace("\u2019", "'").casefold()


def _abstain() -> Answer:
    return Answer(answer=NOT_COVERED, abstained=True, citations=[], generator=LLMGenerator.name)
