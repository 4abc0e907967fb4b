"""Filler sentences: flagged by a named rule at index time, never quoted by an answer."""

import json

import pytest
from conftest import CORPUS

from rag.ingest.corpus import load_corpus
from rag.ingest.profile import load_profile

filler_rule = load_profile("ml-guides").filler_rule


@pytest.mark.parametrize(("sentence", "rule"), [
    ("Check out our city guides to find locations with budding tech scenes.", "promotional"),
    ("Our article on Cloud Skills for Digital Nomads offers more detailed guidance.", "promotional"),
    ("Networking: Join our community of digital nomads to discuss the latest tech trends.", "promotional"),
    ("These skills are central to our AI & Machine Learning and DevOps & Cloud categories.", "promotional"),
    ("As a remote worker, you might present a model to a CEO while you are sitting in a cafe in Bali.", "lifestyle"),
    ("Real-world Example: An ML engineer based in Bali is part of a remote team building a model.", "lifestyle"),
    ("These skills are highly sought after and often command premium rates in the remote jobs market.", "lifestyle"),
    ("This opens up opportunities for consultants and freelance ML engineers who can adapt solutions.", "sales pitch"),
])
def test_filler_is_flagged_with_the_rule_that_caught_it(sentence, rule):
    assert filler_rule(sentence) == rule


@pytest.mark.parametrize("sentence", [
    "DVC is like \"Git for data.\"",
    "For remote teams, containerization ensures everyone's development environment is consistent.",
    "For example, Austin has a booming AI hardware scene, while Tallinn is a hub for AI-driven government services.",
    # A list item that ends in a lifestyle aside is still the item.
    "Edge AI: Models that run on devices reduce reliance on stable internet, a common concern for nomads.",
    "Here are the key takeaways from this guide:",
])
def test_content_is_not_filler(sentence):
    assert filler_rule(sentence) is None


def test_both_guides_have_flagged_filler_and_mostly_content():
    for doc in load_corpus(CORPUS):
        flagged = [u for u in doc.units if u.filler]
        assert 5 <= len(flagged) <= 0.15 * len(doc.units), doc.doc
        assert all(u.filler in {"promotional", "lifestyle", "sales pitch"} for u in flagged)


def test_the_index_records_each_sentences_filler_rule(built_index):
    rows = [json.loads(line) for line in (built_index / "chunks.jsonl").read_text().splitlines()]
    assert all(len(r["filler"]) == len(r["sentences"]) for r in rows)
    flagged = [(r["text"], rule) for r in rows for rule in r["filler"] if rule]
    assert any(rule == "promotional" for _, rule in flagged) and any(rule == "lifestyle" for _, rule in flagged)
