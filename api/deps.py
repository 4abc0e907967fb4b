"""What every route that answers needs: the service, and the question-length limit."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from rag.core.errors import BadQueryError
from rag.service import QAService
from rag.settings import Settings


def get_service(request: Request) -> QAService:
    return request.app.state.service


Service = Annotated[QAService, Depends(get_service)]


def check_length(text: str, settings: Settings) -> None:
    if len(text) > settings.max_question_chars:
        raise BadQueryError(f"text is {len(text)} characters; the limit is {settings.max_question_chars}")
