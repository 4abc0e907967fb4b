"""GET /diff: what changed between editions, section by section (rag.answer.changes); GET /changes: the page that shows it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from api.deps import Service
from api.errors import error_responses
from api.pages import HEADERS
from rag.answer.changes import section_changes

WEB = Path(__file__).parent / "web"
MAX_SECTION_CHARS = 200
ASSET_TYPES = {"js": "text/javascript", "css": "text/css"}

router = APIRouter()


@router.get("/diff", summary="What changed between editions, section by section", responses=error_responses(422, 503))
def diff(
    service: Service,
    section: Annotated[str | None, Query(max_length=MAX_SECTION_CHARS,
                                         description="Only sections whose heading path contains this (case aside)")] = None,
) -> dict:
    """Per group of aligned sections: the items both editions name, the items renamed, and the items only
    one edition has, each with its guide, edition, section and character offsets (its citation)."""
    index = service.engine.index
    return {"sections": [s.to_json() for s in section_changes(index.alignment, index.outline.text_of, section or None)]}


@router.get("/changes", include_in_schema=False)
def changes_page() -> FileResponse:
    return FileResponse(WEB / "changes.html", media_type="text/html", headers=HEADERS)


@router.get("/changes.{kind}", include_in_schema=False)
def changes_asset(kind: Literal["js", "css"]) -> FileResponse:
    return FileResponse(WEB / f"changes.{kind}", media_type=ASSET_TYPES[kind], headers=HEADERS)
