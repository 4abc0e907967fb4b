"""Text of the guide formats that are not plain text: saved web pages and PDFs.

The extracted text is what gets parsed, chunked and cited, so a citation's
`start`/`end` point into it, not into the HTML or PDF bytes; the build keeps it
in the index folder (`extracted/<file name>.txt`) so the offsets stay checkable.
It is written as a title line, then `## Heading` lines (HTML headings; one
`## Page N` per PDF page, so chunks never cross a page and a citation's section
names its page), list items as `- ` lines and one paragraph per line: Markdown,
which rag.ingest.markdown reads back.
"""

from __future__ import annotations

import io
import logging
import re

from rag.core.errors import CorpusError

HTML_SUFFIXES = (".html", ".htm")
PDF_SUFFIXES = (".pdf",)
EXTRACTED_SUFFIXES = HTML_SUFFIXES + PDF_SUFFIXES
EXTRACTED_DIR = "extracted"

# Page furniture and code, not content.
_DROPPED_TAGS = ("script", "style", "noscript", "template", "svg", "iframe", "nav", "header", "footer", "aside", "form")
_BLOCK_TAGS = ("h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "blockquote", "dt", "dd", "td", "th", "figcaption")


class UnreadableDocument(CorpusError):
    """A corpus file whose text cannot be extracted (encrypted, damaged, not what its name says)."""


def needs_extraction(name: str) -> bool:
    return name.lower().endswith(EXTRACTED_SUFFIXES)


def extract_text(name: str, data: bytes) -> str:
    """The text of an HTML or PDF file, as markdown with headings; UnreadableDocument if there is none."""
    text = pdf_text(data, _stem(name)) if name.lower().endswith(PDF_SUFFIXES) else html_text(data, _stem(name))
    return text.replace("\r\n", "\n").replace("\r", "\n")  # the stored copy must read back offset for offset


def html_text(data: bytes, fallback_title: str) -> str:
    """Main text of a saved web page: inside <main> or <article> when there is one, without
    navigation, headers, footers, scripts and styles; headings become `#` lines."""
    from selectolax.lexbor import LexborHTMLParser

    if b"\x00" in data:
        raise UnreadableDocument("binary data, not an HTML page")
    tree = LexborHTMLParser(data.decode("utf-8", errors="replace"))
    title_node = tree.css_first("title")
    title = _squash(title_node.text()) if title_node else ""
    tree.strip_tags(list(_DROPPED_TAGS))
    root = tree.css_first("main") or tree.css_first("article") or tree.body
    if root is None:
        raise UnreadableDocument("no <body> in the page")
    lines = [line for node in root.css(", ".join(_BLOCK_TAGS)) if not _inside_block(node, root) and (line := _block_line(node))]
    if not lines:
        raise UnreadableDocument("no text in the page's main content")
    return f"{title or fallback_title}\n\n" + "\n\n".join(lines) + "\n"


def _inside_block(node, root) -> bool:
    """True when an enclosing element below `root` is itself a block whose text includes this one."""
    parent = node.parent
    while parent is not None and parent != root:
        if parent.tag in _BLOCK_TAGS:
            return True
        parent = parent.parent
    return False


def _block_line(node) -> str:
    text = _squash(node.text(separator=" "))
    if not text:
        return ""
    if re.fullmatch(r"h[1-6]", node.tag):
        return f"{'#' * int(node.tag[1])} {text}"
    return f"- {text}" if node.tag == "li" else text


def pdf_text(data: bytes, fallback_title: str) -> str:
    """Text of a PDF, page by page under `## Page N` headings (pages numbered from 1)."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its repair notes; our one warning line says what matters

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnreadableDocument("encrypted PDF (needs a password)")
        title = _squash(str(reader.metadata.get("/Title") or "") if reader.metadata else "")
        pages = [_squash_lines(page.extract_text() or "") for page in reader.pages]
    except UnreadableDocument:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as e:
        raise UnreadableDocument(f"not a readable PDF ({e})") from e
    if not any(pages):
        raise UnreadableDocument("no text in the PDF (scanned pages need OCR)")
    body = "\n\n".join(f"## Page {n}\n{text}" for n, text in enumerate(pages, start=1) if text)
    return f"{title or fallback_title}\n\n{body}\n"


def _squash(text: str) -> str:
    return " ".join(text.split())


def _squash_lines(text: str) -> str:
    """Lines of a PDF page joined into paragraphs: a line break inside a sentence is layout, not structure."""
    return re.sub(r"[ \t]*\n[ \t]*(?=[a-z0-9(,;])", " ", text).strip()


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0]
