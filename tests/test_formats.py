"""HTML and PDF guides: main text only, pages named, offsets into the kept extracted text,
unreadable files skipped while the rest builds."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader, PdfWriter
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from rag.core.text import clean_text
from rag.index.build import build_index
from rag.index.store import load_index
from rag.ingest.formats import EXTRACTED_DIR, UnreadableDocument, html_text, pdf_text
from rag.settings import Settings

PAGE = """<!doctype html><html><head><title>Kaggle Notes 2027</title>
<style>.x { color: red }</style><script>var tracking = "SCRIPTJUNK";</script></head>
<body><nav><a href="/">Home</a> <a href="/jobs">NAVJUNK Jobs</a></nav>
<header>Site header HEADERJUNK</header>
<main><h1>Kaggle Notes 2027</h1>
<h2>Feature engineering</h2><p>Target encoding leaks unless it is computed out of fold.</p>
<ul><li>Use <b>GroupKFold</b> when rows share a user.</li><li>Check leakage before tuning.</li></ul>
<h2>Ensembling</h2><p>Blending a gradient-boosted model with a neural net often adds a point of AUC.</p></main>
<footer>Copyright FOOTERJUNK</footer></body></html>"""

PAGES = [
    ["MLOps Field Notes", "Feature stores keep training and serving features consistent.",
     "Teams adopt them after a training-serving skew incident."],
    ["Shadow deployments send real traffic to a new model without acting on its answers.",
     "Compare its predictions with the live model for a week before switching."],
]


def make_pdf(pages: list[list[str]], password: str | None = None, title: str = "MLOps Field Notes") -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    pdf.setTitle(title)
    for lines in pages:
        for i, line in enumerate(lines):
            pdf.drawString(72, 770 - 18 * i, line)
        pdf.showPage()
    pdf.save()
    if password is None:
        return buffer.getvalue()
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(buffer.getvalue())))
    writer.encrypt(password, algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_html_keeps_the_main_text_and_its_headings_and_drops_navigation_and_scripts():
    text = html_text(PAGE.encode(), "fallback")
    assert text.startswith("Kaggle Notes 2027\n")
    assert "## Feature engineering" in text and "## Ensembling" in text
    assert "Use GroupKFold when rows share a user." in text
    for junk in ("SCRIPTJUNK", "NAVJUNK", "HEADERJUNK", "FOOTERJUNK", "color: red"):
        assert junk not in text


def test_pdf_text_is_split_by_page_under_page_headings():
    text = pdf_text(make_pdf(PAGES), "fallback")
    assert text.startswith("MLOps Field Notes\n")
    page1, page2 = text.index("## Page 1"), text.index("## Page 2")
    assert page1 < text.index("Feature stores keep") < page2 < text.index("Shadow deployments")


@pytest.mark.parametrize("data, reason", [
    (make_pdf(PAGES, password="secret"), "encrypted"),
    (b"%PDF-1.4\n\x00\x01garbage" * 10, "not a readable PDF"),
])
def test_unreadable_pdfs_say_why(data, reason):
    with pytest.raises(UnreadableDocument, match=reason):
        pdf_text(data, "x")


def test_a_corpus_of_html_and_pdf_builds_with_exact_offsets_and_skips_unreadable_files(tmp_path, embedder, caplog):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "kaggle.html").write_text(PAGE, encoding="utf-8")
    (corpus / "mlops.pdf").write_bytes(make_pdf(PAGES))
    (corpus / "locked.pdf").write_bytes(make_pdf(PAGES, password="secret"))
    (corpus / "junk.pdf").write_bytes(bytes(range(256)) * 8)
    (corpus / "junk.htm").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" * 50)
    index_dir = tmp_path / "index"
    settings = Settings(corpus_dir=corpus, index_dir=index_dir)

    report = build_index(corpus, index_dir, settings.index_settings(embedder), embedder)

    assert sorted(report.skipped) == ["junk.htm", "junk.pdf", "locked.pdf"]
    assert any("locked.pdf" in r.message and "encrypted" in r.message for r in caplog.records)
    index = load_index(index_dir, settings.index_settings(embedder))
    assert {c.doc for c in index.chunks} == {"kaggle.html", "mlops.pdf"}
    for chunk in index.chunks:
        extracted = (index_dir / EXTRACTED_DIR / f"{chunk.doc}.txt").read_text(encoding="utf-8")
        for quote in chunk.quotes():
            assert clean_text(extracted[quote.start : quote.end]) == quote.text
        assert "JUNK" not in chunk.text
    retriever = settings.retriever(index, embedder)
    top = retriever.retrieve("How long should a shadow deployment run before switching?", k=1)[0].chunk
    assert (top.doc, top.section) == ("mlops.pdf", "Page 2")
    top = retriever.retrieve("When does target encoding leak?", k=1)[0].chunk
    assert (top.doc, top.section) == ("kaggle.html", "Kaggle Notes 2027 > Feature engineering")
