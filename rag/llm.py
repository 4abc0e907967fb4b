"""An answer generator backed by any OpenAI-compatible chat-completions server.

Ollama, vLLM, llama.cpp's server and OpenAI all speak `POST {base_url}/chat/completions`.
The model only sees numbered passages and must cite them as [n]; a reply that cites
nothing valid is not trusted. When the server fails, the fallback (extractive)
generator answers instead, with a notice saying so, so a flaky LLM never breaks a query.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading

import httpx
import tiktoken

from rag.chunking import TOKEN_ENCODING, count_tokens
from rag.errors import GeneratorError
from rag.generation import NOT_COVERED, Generator
from rag.types import Answer, Citation, ScoredChunk

log = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You answer questions about machine-learning career guides using ONLY the numbered passages "
    "in the user's message, never your own knowledge. Mark every claim with the number of the "
    "passage that supports it in square brackets, like [1] or [2][3]; cite only passage numbers "
    "that appear in the message. When the passages come from different editions of the guide "
    "(e.g. the 2024 and the 2026 guide), say which edition (year) says what. If the passages do "
    f"not answer the question, reply with exactly this sentence and nothing else: {NOT_COVERED}"
)

# One to three digits: "[2024]" is a year the model quoted, not a passage number.
_MARKER = re.compile(r"([ \t]*)\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")


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
    ) -> None:
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
            reply = self._complete(build_messages(question, sent))
        except GeneratorError as exc:
            log.warning("LLM generation failed, answering extractively: %s", exc)
            answer = self.fallback.generate(question, passages)
            notice = f"LLM server at {self.base_url} failed ({exc}); answered extractively instead."
            return dataclasses.replace(answer, notice=notice)
        return parse_reply(reply, passages[: len(sent)])

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
        url = f"{self.base_url.rstrip('/')}/chat/completions"
        body = {"model": self.model, "messages": messages, "temperature": 0, "stream": False}
        try:
            response = self._http().post(url, json=body)
        except httpx.TimeoutException as exc:
            raise GeneratorError(f"timed out after {self.timeout:g} s") from exc
        except httpx.HTTPError as exc:
            raise GeneratorError(f"{type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise GeneratorError(f"HTTP {response.status_code}")
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, LookupError, TypeError) as exc:
            raise GeneratorError("malformed reply") from exc
        if not isinstance(content, str):
            raise GeneratorError("reply has no text content")
        return content


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


def build_messages(question: str, rendered: list[str]) -> list[dict[str, str]]:
    user = "Passages:\n\n" + "\n\n".join(rendered) + f"\n\nQuestion: {question}"
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def parse_reply(reply: str, sent: list[ScoredChunk]) -> Answer:
    """An Answer citing the passages the reply marks; abstains when it cites none validly.

    `sent` are the passages the prompt numbered 1..len(sent); markers outside that
    range are dropped from the text, and citations keep the prompt's numbering.
    """
    text = reply.strip()
    if _normalise(text).startswith(_normalise(NOT_COVERED)):
        return _abstain()
    cited: list[int] = []

    def keep_valid(match: re.Match[str]) -> str:
        lead, numbers = match.groups()
        valid = [n for n in dict.fromkeys(map(int, numbers.split(","))) if 1 <= n <= len(sent)]
        for n in valid:
            if n not in cited:
                cited.append(n)
        return f"{lead}[{', '.join(map(str, valid))}]" if valid else ""

    text = _MARKER.sub(keep_valid, text).strip()
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
