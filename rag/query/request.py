"""The rules a request must meet before it is searched, the same on every surface (CLI, HTTP, SSE, /v1, MCP).

- A question (or query) is valid Unicode, has at least one character that is
  neither whitespace nor a control code (`CONTENT_PATTERN`, which the HTTP
  schema publishes as its `pattern`, so the documentation and the check are
  one rule), is at most `max_chars` long, and is cleaned of control codes.
- `k` is 1 to `MAX_K`.
- A question carries at most `MAX_HISTORY` earlier messages (the latest), and
  every message, earlier ones included, is valid text of at most
  `MAX_MESSAGE_CHARS` characters.
- Edition and document filters name editions and documents the index holds.

A broken rule raises `InvalidRequestError`, a `BadQueryError` whose message says
what is wrong; it is also a `ValueError`, so a pydantic validator may raise it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from rag.core.errors import BadQueryError
from rag.core.types import Turn
from rag.query.cleaning import lone_surrogate, strip_control

MAX_K = 50
DEFAULT_K = 10
MAX_HISTORY = 20
#: The ceiling on a question's length; a service may set a lower one (RAG_MAX_QUESTION_CHARS).
MAX_TEXT_CHARS = 2000
#: The ceiling on any one message of a conversation.
MAX_MESSAGE_CHARS = 20_000
#: How many valid names an error about an unknown one lists.
LISTED_NAMES = 20

# A character that is neither a control code nor whitespace, in Python's sense or JSON Schema's (ECMA-262):
# spelled out, because the two read `\s` differently (U+0085 is whitespace to Python only, U+FEFF to ECMA only).
CONTENT_PATTERN = r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
_CONTENT = re.compile(CONTENT_PATTERN)


class InvalidRequestError(BadQueryError, ValueError):
    """A request that breaks one of the rules above."""


def valid_text(text: str, what: str = "the text") -> str:
    """`text` itself, if it is valid Unicode (no lone surrogates: the tokenizer and a JSON reply would fail on one)."""
    surrogate = lone_surrogate(text)
    if surrogate is not None:
        raise InvalidRequestError(f"{what} contains a lone surrogate ({surrogate}), which is not a character: "
                                  "send valid Unicode text")
    return text


def has_content(text: str, what: str = "the text") -> str:
    """`text` itself, if something in it is neither whitespace nor a control code (`CONTENT_PATTERN`)."""
    if not _CONTENT.search(text):
        raise InvalidRequestError(f"{what} must not be empty or only whitespace and control characters")
    return text


def check_length(text: str, max_chars: int = MAX_TEXT_CHARS, what: str = "the text") -> str:
    if len(text) > max_chars:
        raise InvalidRequestError(f"{what} is {len(text)} characters; the limit is {max_chars}")
    return text


def clean_question(text: str, max_chars: int = MAX_TEXT_CHARS, what: str = "the question") -> str:
    """The question as it is searched: checked by the rules above, without ANSI codes and control characters.
    Text of nothing but escape sequences stays as it is: the pipeline abstains on it."""
    check_length(has_content(valid_text(text, what), what), max_chars, what)
    return strip_control(text) or text


def check_k(k: int) -> int:
    if isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise InvalidRequestError(f"k must be a whole number from 1 to {MAX_K}, not {k!r}")
    return k


def check_message(text: str, what: str = "a message") -> str:
    """One message of a conversation: valid text of at most MAX_MESSAGE_CHARS."""
    return check_length(valid_text(text, what), MAX_MESSAGE_CHARS, what)


def recent_turns(turns: Sequence[Turn]) -> list[Turn]:
    """The latest MAX_HISTORY turns, each checked by `check_message`."""
    for i, turn in enumerate(turns):
        check_message(turn.content, f"earlier message {i + 1}")
    return list(turns[-MAX_HISTORY:])


def check_names(asked: Iterable[str] | None, known: Iterable[str], what: str) -> None:
    """Every name in `asked` is one of `known`; else the error names the valid values ("unknown edition '2025'")."""
    known = sorted(set(known))
    unknown = sorted(set(asked or ()) - set(known))
    if not unknown:
        return
    listed = ", ".join(known[:LISTED_NAMES]) + (f" and {len(known) - LISTED_NAMES} more" if len(known) > LISTED_NAMES else "")
    raise InvalidRequestError(f"unknown {what} {', '.join(repr(n) for n in unknown[:LISTED_NAMES])}: "
                              f"the index has {listed or 'none'}")
