"""Parsing the scraped guides: clutter out, headings found, offsets into the raw file kept."""

from pathlib import Path

import pytest
from conftest import CORPUS

from rag.core.errors import CorpusError
from rag.core.text import clean_text
from rag.ingest.corpus import corpus_files, load_corpus, parse_document


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
    doc = parse_document("g.txt", raw)
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
    (tmp_path / "clutter.txt").write_text("Share this article\n\nTable of Contents\n")
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


def test_site_chrome_is_the_profiles_not_every_guides(tmp_path: Path):
    """A site's page furniture is dropped only from the guides whose profile names it."""
    chrome = "A Guide 2030\n\nHire Developers\n\nLearn linear algebra first.\n"
    (tmp_path / "site.txt").write_text(chrome)
    (tmp_path / "other.txt").write_text(chrome)
    (tmp_path / "guides.toml").write_text('[guides."site.txt"]\nprofile = "ml-guides"\n')
    texts = {d.doc: [u.text for u in d.units] for d in load_corpus(tmp_path)}
    assert texts["site.txt"] == ["Learn linear algebra first."]
    assert texts["other.txt"] == ["Hire Developers", "Learn linear algebra first."]


def test_catalogue_and_front_matter_say_what_a_guide_is(tmp_path: Path):
    (tmp_path / "a.md").write_text("---\ntitle: Kubernetes Security\nedition: 2026\nseries: k8s-sec\n---\n# Kubernetes Security\n\nUse RBAC.\n")
    (tmp_path / "b.txt").write_text("Essential Skills for 2024\n\nLearn SQL first.\n")
    (tmp_path / "guides.toml").write_text('[guides."b.txt"]\nseries = "skills"\nedition = "2024"\n')
    docs = {d.doc: d for d in load_corpus(tmp_path)}
    assert (docs["a.md"].title, docs["a.md"].series, docs["a.md"].edition) == ("Kubernetes Security", "k8s-sec", "2026")
    assert (docs["b.txt"].series, docs["b.txt"].edition) == ("skills", "2024")
    assert [u.text for u in docs["a.md"].units] == ["Use RBAC."]  # the title heading is not a section of its own
    assert docs["a.md"].raw[docs["a.md"].units[0].start : docs["a.md"].units[0].end] == "Use RBAC."


def test_markdown_headings_are_lines_and_lists_are_lists(tmp_path: Path):
    raw = ("# Notes\n\n## Feature engineering\nThe steps are:\n\n- Clean: drop outliers.\n- Scale: normalise features.\n\n"
           "Download speed: 50 Mbps.\nUpload speed: 10 Mbps.\n\nA closing paragraph.\n")
    units = parse_document("n.md", raw).units
    assert {u.section for u in units} == {"Feature engineering"}
    shape = [(u.text, u.block, u.item) for u in units]
    assert shape == [("The steps are:", 0, -1), ("Clean: drop outliers.", 1, 0), ("Scale: normalise features.", 1, 1),
                     ("Download speed: 50 Mbps.", 2, 0), ("Upload speed: 10 Mbps.", 2, 1), ("A closing paragraph.", 3, -1)]


def test_a_remark_inside_an_item_leaves_the_list():
    raw = "G 2030\n\n- Docker: containers. Tip: learn compose first.\n- Kubernetes: orchestration.\n"
    units = parse_document("g.txt", raw).units
    assert [(u.text, u.item) for u in units] == [("Docker: containers.", 0), ("Tip: learn compose first.", -1),
                                                 ("Kubernetes: orchestration.", 0)]


def test_a_symbolic_link_in_the_corpus_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("a file outside the corpus folder\n")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "guide.md").write_text("# Guide\n\nSome text about machine learning.\n")
    (corpus / "linked.txt").symlink_to(outside)
    with pytest.raises(CorpusError, match=r"symbolic links \(linked.txt\).*not followed"):
        corpus_files(corpus)
