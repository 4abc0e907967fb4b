"""Parsing the scraped guides: clutter out, headings found, offsets into the raw file kept."""

from pathlib import Path

import pytest
from conftest import CORPUS

from rag.core.errors import CorpusError
from rag.ingest.corpus import clean_text, load_corpus, parse_document


@pytest.fixture(scope="module")
def guides():
    return {d.doc: d for d in load_corpus(CORPUS)}


def test_every_unit_is_the_cleaned_text_of_its_raw_span(guides):
    for doc in guides.values():
        for unit in doc.units:
            assert clean_text(doc.raw[unit.start : unit.end]) == unit.text


def test_page_clutter_is_not_in_any_unit(guides):
    texts = " ".join(u.text for d in guides.values() for u in d.units)
    for clutter in ("Photo by", "Hire Developers", "View talent", "Related Articles", "](/", "[Home]", "•", "##"):
        assert clutter not in texts


def test_inline_headings_are_split_from_the_body_text(guides):
    sections = {u.section for u in guides["000_66311b75d3a066c9.txt"].units}
    assert "Mathematical Foundations for the Modern Era" in sections
    assert "Data Engineering and MLOps > MLOps Infrastructure" in sections
    first = next(u for u in guides["000_66311b75d3a066c9.txt"].units if u.section == "Mathematical Foundations for the Modern Era")
    assert first.text.startswith("You cannot hide from the math anymore.")


def test_editions_and_titles_come_from_the_page(guides):
    assert guides["000_66311b75d3a066c9.txt"].edition == "2024"
    assert guides["003_6cee5c8495e18b4b.txt"].edition == "2026"
    assert guides["003_6cee5c8495e18b4b.txt"].title.startswith("Essential Machine Learning Skills for 2026")


def test_breadcrumb_and_links_are_dropped_but_link_text_kept():
    raw = "My Guide 2025\n[Home](/a) > [Blog](/b) > My Guide 2025 Work from [Lisbon](/cities/lisbon) or Bali. It is fine."
    doc = parse_document("g.md", raw)
    assert [u.text for u in doc.units] == ["Work from Lisbon or Bali.", "It is fine."]
    assert doc.edition == "2025"


def test_sentence_split_keeps_abbreviations_and_closing_quotes():
    doc = parse_document("g.txt", "T\n\nUse tools (e.g. Docker) daily. 2024 is the year of the \"LLM Engineer.\" Next one.")
    assert [u.text for u in doc.units] == ["Use tools (e.g. Docker) daily.", '2024 is the year of the "LLM Engineer."', "Next one."]


def test_missing_or_empty_corpus_folder_is_a_clear_error(tmp_path: Path):
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "nope")
    with pytest.raises(CorpusError, match="no .txt or .md"):
        load_corpus(tmp_path)


def test_binary_empty_and_clutter_only_files_are_skipped_with_a_warning(tmp_path: Path, caplog):
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "empty.md").write_text("")
    (tmp_path / "clutter.txt").write_text("Photo by A on Unsplash\n\nHire Developers\n\nView talent\n")
    (tmp_path / "good.txt").write_text("A Guide 2030\n\nLearn linear algebra first. Then learn statistics.")
    docs = load_corpus(tmp_path)
    assert [d.doc for d in docs] == ["good.txt"]
    warned = caplog.text
    for name in ("binary.txt", "latin1.txt", "empty.md", "clutter.txt"):
        assert name in warned


def test_a_corpus_of_only_unusable_files_is_an_error(tmp_path: Path):
    (tmp_path / "empty.txt").write_text("   \n")
    with pytest.raises(CorpusError, match="no usable guide"):
        load_corpus(tmp_path)
