"""The web page (GET /, its script and style) and the guides it links to (GET /guides/{doc}).

Plain files from api/web/, no build step and nothing fetched from elsewhere: the
Content-Security-Policy lets a page load only this server's own files.
"""

from __future__ import annotations

from functools import lru_cache
from html import escape
from pathlib import Path
from string import Template
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse

from api.deps import Service
from api.guide_view import PASSAGE_ID, guide_article
from rag.index.outline import GuideOutline
from rag.service import QAService

WEB = Path(__file__).parent / "web"
ASSETS = {"app.js": "text/javascript", "style.css": "text/css"}
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}
Span = Annotated[str, Query(pattern=r"^\d{1,9}-\d{1,9}$", description="start-end, character offsets")]

router = APIRouter(include_in_schema=False)


@router.get("/")
def index_page() -> FileResponse:
    return FileResponse(WEB / "index.html", media_type="text/html", headers=HEADERS)


@router.get("/web/{name}")
def asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise HTTPException(404, f"no such file: {name}")
    return FileResponse(WEB / name, media_type=ASSETS[name], headers=HEADERS)


@router.get("/guides/{doc}", response_class=HTMLResponse)
def guide_page(
    doc: str,
    service: Service,
    start: Annotated[int | None, Query(ge=0)] = None,
    end: Annotated[int | None, Query(ge=0)] = None,
    q: Annotated[list[Span], Query(description="quoted sentences to mark, as start-end")] = [],  # noqa: B006
) -> HTMLResponse:
    """A guide of the index, as the index holds it, with the passage `start`–`end` marked and scrolled to."""
    guide = _indexed_guide(service, doc)
    passage = (start, end) if start is not None and end is not None and start < end else None
    quotes = [(int(a), int(b)) for a, b in (span.split("-") for span in q)]
    article = guide_article(guide, passage, quotes)
    jump = f'<a class="jump" href="#{PASSAGE_ID}">Back to the cited passage</a>' if passage else ""
    html = _template().substitute(title=escape(guide.title), edition=escape(guide.edition or "undated"),
                                  doc=escape(guide.doc), article=article, jump=jump)
    return HTMLResponse(html, headers=HEADERS)


def _indexed_guide(service: QAService, doc: str) -> GuideOutline:
    """The guide `doc` as the index holds it; 404 for a name the index does not hold (so no
    path reaches outside the index)."""
    guide = service.engine.index.outline.guides.get(doc)
    if guide is None:
        raise HTTPException(404, f"no guide named {doc!r} in the index")
    return guide


@lru_cache(maxsize=1)
def _template() -> Template:
    return Template((WEB / "guide.html").read_text(encoding="utf-8"))
