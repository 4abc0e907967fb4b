"""The citation check (rag.answer.grounding): wrong markers off, unsupported sentences out."""

from __future__ import annotations

import pytest

from rag.answer.grounding import SUPPORT_MIN, check_citations, content_terms, sentences, settled_text

PASSAGES = [
    "Docker and Kubernetes are essential for deploying models consistently.",
    "Tools like Pinecone, Weaviate, and Milvus handle high-dimensional vector data.",
    "MLflow and Weights & Biases track every training run and its hyperparameters.",
]


def test_supported_sentences_keep_their_markers() -> None:
    text = "Deploy models with Docker and Kubernetes [1]. Pinecone and Milvus store vectors [2]."
    assert check_citations(text, PASSAGES) == (text, [1, 2])


def test_a_sentence_citing_a_passage_that_does_not_say_it_is_dropped() -> None:
    text = "Docker and Kubernetes deploy models [1]. Pinecone stores vectors [3]."
    assert check_citations(text, PASSAGES) == ("Docker and Kubernetes deploy models [1].", [1])


def test_a_wrong_marker_is_taken_off_when_another_cited_passage_supports_the_sentence() -> None:
    text = "MLflow tracks training runs [2][3]."
    assert check_citations(text, PASSAGES) == ("MLflow tracks training runs [3].", [3])


def test_a_sentence_with_words_no_passage_has_is_dropped_even_if_it_shares_one() -> None:
    # shares "models" with passage 1, but "Rust", "compiles", "fast", "binaries" are nowhere
    text = "Rust compiles models into fast binaries [1]. Kubernetes deploys models [1]."
    assert check_citations(text, PASSAGES) == ("Kubernetes deploys models [1].", [1])


def test_unmarked_sentences_are_checked_against_the_passages_the_answer_cites() -> None:
    text = "Kubernetes deploys models consistently. Rust is the future of AI. Docker too [1]."
    assert check_citations(text, PASSAGES) == ("Kubernetes deploys models consistently. Docker too [1].", [1])


def test_answer_framing_words_are_not_content() -> None:
    text = "Both guides name Docker [1]; only the 2026 guide adds Kubernetes [1]."
    assert content_terms(text) == {"docker", "kubernet"}
    assert check_citations(text, PASSAGES)[1] == [1]


def test_support_threshold_is_the_share_of_content_words_in_the_cited_passages() -> None:
    # four content words: docker, kubernet, orchestr, cluster; the passage has two of them
    half = "Docker and Kubernetes orchestrate clusters [1]."
    assert len(content_terms(half)) == 4 and SUPPORT_MIN == 0.5
    assert check_citations(half, PASSAGES)[1] == [1]
    less = "Docker orchestrates huge serverless clusters [1]."
    assert check_citations(less, PASSAGES) == ("", [])


def test_out_of_range_markers_are_dropped_and_list_items_checked_one_by_one() -> None:
    text = "The tools:\n- Pinecone [2]\n- Milvus [2] [7]\n- Chroma [2]"
    kept, cited = check_citations(text, PASSAGES)
    assert kept == "The tools:\n- Pinecone [2]\n- Milvus [2]"  # "tools" is in passage 2
    assert cited == [2]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tools (e.g. Docker) help [1]. Next one.", ["Tools (e.g. Docker) help [1]. ", "Next one."]),
        ("One. [1] Two [2].", ["One. [1] ", "Two [2]."]),
        ("- a [1]\n- b [2]", ["- a [1]\n", "- b [2]"]),
    ],
)
def test_sentences_keep_their_markers_and_join_back(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected
    assert "".join(sentences(text)) == text


@pytest.mark.parametrize(
    "reply",
    [
        "MLflow tracks every training run [3]. Recruiters love infographics [2]. Pinecone handles vector data [2].",
        "Here is what the guides say:\n- MLflow tracks every training run [3]\n- Rust is key [1]\n- Pinecone handles vector data [2]\n",
        "In short, tracking matters. MLflow tracks every training run [3]. Pinecone handles vector data [2].",
        "Learn Rust first [1]. Kaggle medals matter most [2].",
        "The guides don't cover this.",
    ],
)
def test_what_a_stream_shows_is_always_the_start_of_the_checked_answer(reply: str) -> None:
    final, cited = check_citations(reply, PASSAGES)
    shown = [settled_text(reply[:end], PASSAGES) for end in range(len(reply) + 1)]
    for before, after in zip(shown, shown[1:]):
        assert after.startswith(before)  # text once shown is never taken back
    for text in shown:
        assert final.startswith(text), (text, final)
        assert not text or cited  # nothing is shown of a reply that ends up citing nothing
    assert "Recruiters" not in "".join(shown) and "Rust" not in "".join(shown)


def test_a_stream_holds_an_unmarked_claim_until_the_whole_reply_is_in() -> None:
    reply = "In short, tracking matters. MLflow tracks every training run [3]. Pinecone handles vector data [2]."
    assert settled_text(reply, PASSAGES) == ""
    assert settled_text("MLflow tracks every training run [3]. Pinecone", PASSAGES) == "MLflow tracks every training run [3]. "
    listed = "- MLflow tracks every training run [3]\n- Rust is key [1]\n- Pine"
    assert settled_text(listed, PASSAGES) == "- MLflow tracks every training run [3]\n"  # the Rust line is dropped
