"""Reading which guide edition a question asks about."""

import pytest

from eval.suite import load_suite, service_for
from rag.query.editions import edition_references, preferred_edition, spans_editions, without_edition_references
from rag.retrieve.hybrid import Filters

AVAILABLE = frozenset({"2024", "2026"})


@pytest.mark.parametrize(("question", "edition"), [
    ("Which probability distributions does the 2026 guide say I should know?", "2026"),
    ("What should my toolkit include, per the 2024 handbook?", "2024"),
    ("What does the guide for 2024 say about SQL?", "2024"),
    ("What does the 2024 ML guide say about SQL?", "2024"),
    ("What does the latest guide say about RAG?", "2026"),
    ("What did the previous edition recommend?", "2024"),
])
def test_one_named_edition_is_preferred(question, edition):
    assert preferred_edition(question, AVAILABLE) == edition


@pytest.mark.parametrize("question", [
    "What key changes are reshaping ML skill requirements in 2026?",  # a year as topic, not an edition
    "How did the advice change from the 2024 guide to the 2026 guide?",
    "How did prompting grow between the 2024 and 2026 guides?",
    "Do both editions describe quantization the same way, and what does the 2026 one add?",
    "What did the older guide say about transformers, and what does the newer one add?",
    "What does the 2025 guide say?",  # no such edition
    "Which vector databases should I learn?",
])
def test_no_single_edition_is_preferred(question):
    assert preferred_edition(question, AVAILABLE) is None


@pytest.mark.parametrize("question", [
    "How did the tyre pressure advice change from the 2022 to the 2025 handbook?",
    "What changed between the 2022 and the 2025 editions?",
])
def test_years_joined_before_one_edition_word_name_both(question):
    assert edition_references(question) == {"2022", "2025"} and spans_editions(question)


def test_relative_names_need_known_editions():
    assert edition_references("the newer guide") == {"newest"}
    assert preferred_edition("What does the newer guide add?", frozenset()) is None


@pytest.mark.parametrize(("question", "several"), [
    ("What does each edition say about graph neural networks?", True),
    ("What did the older guide say, and what does the newer one add?", True),
    ("How does the 2024 guide differ from the 2026 guide?", True),
    ("What does the 2026 guide say about RAG?", False),
    ("Which vector databases should I learn?", False),
    ("What should I use to stop my Python library versions from conflicting?", False),
    ("Do both editions describe quantization the same way?", True),
])
def test_questions_about_several_editions(question, several):
    assert spans_editions(question) is several


@pytest.mark.parametrize(("edition", "other"), [("2024", "2026"), ("2026", "2024")])
def test_the_named_editions_passages_come_first(service, edition, other):
    question = f"Which NLP tasks does the {edition} guide say I should master?"
    results = service.retriever().retrieve(question, k=10)
    editions = [r.chunk.edition for r in results]
    assert editions[0] == edition
    # Stable partition: every passage of the named edition ranks above the other edition's.
    assert other not in editions or editions.index(other) > max(i for i, e in enumerate(editions) if e == edition)
    scores = [r.score for r in results]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_scores_fall_down_the_list_in_every_mode(service, mode):
    scores = [r.score for r in service.retriever(mode).retrieve("What does the 2024 guide say about NLP?", k=20)]
    assert scores == sorted(scores, reverse=True)


def test_filters_still_apply_when_an_edition_is_named(service):
    results = service.retriever().retrieve("What does the 2024 guide say about NLP?", k=5, filters=Filters.of(editions=["2026"]))
    assert results and {r.chunk.edition for r in results} == {"2026"}


@pytest.mark.parametrize(("question", "topic"), [
    ("Compare how the 2024 and 2026 guides describe CI/CD for ML.", "Compare how describe CI/CD for ML."),
    ("Which NLP tasks does the 2024 guide say I should master?", "Which NLP tasks does say I should master?"),
    ("What did the older guide say about transformers, and what does the newer one add?",
     "What did say about transformers, and what does add?"),
    ("What does each edition say about graph neural networks?", "What does say about graph neural networks?"),
    ("What key changes are reshaping ML skill requirements in 2026?",
     "What key changes are reshaping ML skill requirements in 2026?"),  # a year as topic stays
    ("The 2024 guide?", "The 2024 guide?"),  # nothing would be left: kept whole
])
def test_edition_references_are_taken_out_of_the_topic(question, topic):
    assert without_edition_references(question) == topic


def test_edition_words_do_not_steer_what_the_passages_are_about(service):
    retriever = service.retriever()
    with_words = retriever.retrieve("What does each edition say about feature stores?", k=10)
    without = retriever.retrieve("What does say about feature stores?", k=10)
    assert [r.chunk.chunk_id for r in with_words] == [r.chunk.chunk_id for r in without]


@pytest.fixture(scope="module")
def two_series(service, tmp_path_factory):
    """corpus/ (a guide in 2024 and 2026) and the chickens guide (2023 and 2025) in one index."""
    spec = next(s for s in load_suite() if s.corpus is not None and s.corpus.name == "backyard-chickens")
    return service_for(service, spec, tmp_path_factory.mktemp("two-series"))


@pytest.mark.parametrize(("question", "edition"), [
    ("Which predators does the newer guide warn about?", "2025"),
    ("What does the older edition say about heat lamps in the coop?", "2023"),
    ("Which MLOps tools does the newer guide name?", "2026"),
])
def test_a_relative_edition_is_read_within_the_series_of_the_topic(two_series, question, edition):
    """"The newer guide" is the newer of the guide the question is about, not the newest in the index."""
    found = two_series.retriever().retrieve(question, k=5)
    assert found[0].chunk.edition == edition
    answer = two_series.engine.pipeline.ask(question).answer
    assert not answer.abstained and {c.edition for c in answer.citations} == {edition}
