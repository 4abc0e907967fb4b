"""The web page's files (GET /, /web/…) and the guide page (GET /guides/{doc})."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from test_formats import PAGE, PAGES, make_pdf

from api.app import create_app
from api.pages import WEB
from rag.service import QAService
from rag.settings import Settings

GUIDE_2026 = "003_6cee5c8495e18b4b.txt"
MLOPS_QUESTION = "Which MLOps tools should I learn?"


@pytest.fixture(scope="module")
def client(service: QAService):
    with TestClient(create_app(service.settings, service)) as c:
        yield c


@pytest.fixture(scope="module")
def cited(client: TestClient) -> dict:
    """The first citation of a real answer."""
    answer = client.post("/ask", json={"question": MLOPS_QUESTION}).json()
    return answer["citations"][0]


def visible_text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_the_page_and_its_files_are_served_with_a_self_only_policy(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert 'id="question"' in page.text and 'src="/web/app.js"' in page.text
    for name, kind in [("app.js", "text/javascript"), ("style.css", "text/css")]:
        response = client.get(f"/web/{name}")
        assert response.status_code == 200 and response.headers["content-type"].startswith(kind)
        assert response.text == (WEB / name).read_text(encoding="utf-8")


def test_the_page_loads_nothing_from_elsewhere() -> None:
    for path in WEB.iterdir():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(?:src|href)\s*=\s*[\"']?(?:https?:)?//", text), path.name
        assert not re.search(r"url\(\s*[\"']?(?:https?:)?//|@import", text), path.name


def test_the_page_never_puts_server_text_in_as_html() -> None:
    script = (WEB / "app.js").read_text(encoding="utf-8")
    assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write", script)


@pytest.mark.parametrize("name", ["index.html", "guide.html", "../app.py", "..%2Fapp.py", "nope.js"])
def test_only_the_pages_assets_are_served(client: TestClient, name: str) -> None:
    assert client.get(f"/web/{name}").status_code == 404


def test_guide_page_marks_the_cited_passage_and_its_quotes(client: TestClient, cited: dict) -> None:
    quote = cited["quotes"][0]
    response = client.get(f"/guides/{cited['doc']}",
                          params={"start": cited["start"], "end": cited["end"], "q": f"{quote['start']}-{quote['end']}"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    anchored = re.search(r'<mark class="(\w+)" id="passage">(.*?)</mark>', html)
    assert anchored, "the passage's first sentence carries the scroll target"
    marked = " ".join(visible_text(m) for m in re.findall(r'<mark class="\w+"(?: id="passage")?>(.*?)</mark>', html))
    assert visible_text(cited["text"]) == marked  # exactly the passage's sentences, nothing else
    quoted = [visible_text(m) for m in re.findall(r'<mark class="quote"[^>]*>(.*?)</mark>', html)]
    assert visible_text(quote["text"]) in quoted
    assert html.count('id="passage"') == 1
    assert "Essential Machine Learning Skills for 2026" in html and "2026 edition" in html


def test_guide_page_without_a_passage_is_the_whole_guide(client: TestClient) -> None:
    response = client.get(f"/guides/{GUIDE_2026}")
    assert response.status_code == 200
    assert "<mark" not in response.text and 'href="#passage"' not in response.text
    assert "MLOps bridges the gap between ML development and IT operations." in response.text
    assert response.text.count("<h2>") > 5


def test_guide_page_escapes_the_guide_text(client: TestClient) -> None:
    html = client.get(f"/guides/{GUIDE_2026}").text
    assert "AI &amp; Machine Learning" in html
    body = html.split('<main class="guide">', 1)[1]
    assert not re.search(r"<(?!/?(?:p|h[1-4]|mark|article|main|code|body|html)\b)[a-z]", body)


@pytest.mark.parametrize(
    "doc",
    ["nope.txt", "..%2Fpyproject.toml", "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "003_6cee5c8495e18b4b",
     "003_6cee5c8495e18b4b.txt%00"],
)
def test_guide_page_refuses_what_the_index_does_not_hold(client: TestClient, doc: str) -> None:
    response = client.get(f"/guides/{doc}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize("params", [{"q": "abc"}, {"q": "1-2-3"}, {"start": "-4"}, {"end": "x"}])
def test_guide_page_rejects_bad_offsets(client: TestClient, params: dict) -> None:
    response = client.get(f"/guides/{GUIDE_2026}", params=params)
    assert response.status_code == 422 and response.json()["error"]


def test_html_and_pdf_guides_show_their_marks_where_the_index_put_them(
    service: QAService, corpus_copy: Path, index_copy: Path
) -> None:
    """The view reads the index's own text and offsets: the raw HTML or PDF file is never re-parsed, and a
    guide changed since the build still shows the text the answers come from."""
    (corpus_copy / "kaggle.html").write_text(PAGE, encoding="utf-8")
    (corpus_copy / "fieldnotes.pdf").write_bytes(make_pdf(PAGES))
    settings = Settings(corpus_dir=corpus_copy, index_dir=index_copy)
    built = QAService(settings, service.embedder)
    built.build()
    with TestClient(create_app(settings, built)) as c:
        for doc in ("kaggle.html", "fieldnotes.pdf"):
            chunks = [ch for ch in built.engine.index.chunks if ch.doc == doc]
            assert chunks, doc
            for chunk in chunks:
                quote = chunk.quotes()[-1]
                params = {"start": chunk.start, "end": chunk.end, "q": f"{quote.start}-{quote.end}"}
                response = c.get(f"/guides/{doc}", params=params)
                assert response.status_code == 200, (doc, response.text)
                html = response.text
                marked = " ".join(visible_text(m) for m in re.findall(r'<mark class="\w+"(?: id="passage")?>(.*?)</mark>', html))
                assert marked == visible_text(chunk.text), doc
                assert visible_text(quote.text) in [visible_text(m) for m in re.findall(r'<mark class="quote"[^>]*>(.*?)</mark>', html)]
            with (corpus_copy / doc).open("ab") as f:
                f.write(b"\n<p>Changed after the build.</p>\n")
            after = c.get(f"/guides/{doc}", params={"start": chunks[0].start, "end": chunks[0].end})
            assert after.status_code == 200 and "Changed after the build" not in after.text


# Each example question on the page, with its key terms: a cited passage (heading and text) must hold them.
EXAMPLE_TERMS = {
    "Which MLOps tools should I learn?": ["mlops", "tools"],
    "What does the 2024 guide say about vector databases?": ["vector databases"],
    "Which optimizers besides gradient descent should I know?": ["optimizers", "gradient descent"],
}


def test_the_examples_on_the_page_are_questions_the_tool_answers_well(service: QAService) -> None:
    page = (WEB / "index.html").read_text(encoding="utf-8")
    examples = [unescape(e) for e in re.findall(r'<button type="button" class="example">([^<]+)</button>', page)]
    assert examples == list(EXAMPLE_TERMS)  # a new example gets its terms here
    for question, terms in EXAMPLE_TERMS.items():
        answer = service.engine.pipeline.ask(question).answer
        assert not answer.abstained, question
        cited = [f"{c.section} {c.text}".lower() for c in answer.citations]
        assert any(all(term in text for term in terms) for text in cited), (question, answer.answer)
