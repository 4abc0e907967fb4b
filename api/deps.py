"""What every route that answers needs: the service, and the question-length limit."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from rag.query import request
from rag.service import QAService
from rag.settings import Settings


def get_service(request: Request) -> QAService:
    return request.app.state.service


Service = Annotated[QAService, Depends(get_service)]


def check_length(text: str, settings: Settings) -> None:
    """The service's question-length limit (the request rule's, at RAG_MAX_QUESTION_CHARS)."""
    request.check_length(text, settings.max_question_chars)
