"""The answerability checks: evidence strength and the expected answer type."""

import re

import pytest

from rag.answer.answerability import (
    abstain_reason,
    answer_type,
    asks_for_quantity,
    content_free,
    evidence_strength,
    gives_figure,
    has_quantity,
    is_answerable,
    names,
    unknown_terms,
    unmade_comparison,
)
from rag.answer.neighbours import NearTerms
from rag.core.types import Chunk, ScoredChunk
from rag.index.words import load_word_vectors


def _passage(text: str, dense: float) -> ScoredChunk:
    return ScoredChunk(Chunk("g:0001", "g.txt", "S", text, 0, len(text)), score=1.0, dense=dense)


@pytest.mark.parametrize("question", ["How much does the course cost?", "What is the exam fee?",
                                      "How many GPUs were used?", "What hourly rate should I charge?",
                                      "What percentage of ML jobs are remote?"])
def test_quantity_questions_are_recognised(question):
    assert asks_for_quantity(question)


@pytest.mark.parametrize("question", ["Which MLOps tools should I learn?", "Is my better score real or a fluke?",
                                      "When does a model overfit?", "What is the error rate of a biased model?"])
def test_other_questions_are_not_quantity_questions(question):
    assert not asks_for_quantity(question)


@pytest.mark.parametrize(("text", "expected"), [
    ("80% of an engineer's time is spent here.", True),
    ("from 32-bit to 8-bit", True),
    ("It costs $300 a month.", True),
    ("models like GPT-4, Claude 3.5, or Llama 3", False),
    ("In 2026, AI is infrastructure.", False),
])
def test_quantities_exclude_years_and_model_names(text, expected):
    assert has_quantity(text) is expected


def test_weak_evidence_is_not_answerable():
    assert evidence_strength([_passage("a", 0.1), _passage("b", 0.3)]) == 0.3
    assert not is_answerable("Which tools?", [_passage("Docker and Kubernetes.", 0.1)], min_strength=0.2)
    assert is_answerable("Which tools?", [_passage("Docker and Kubernetes.", 0.5)], min_strength=0.2)


def test_quantity_question_needs_a_number_in_the_top_passages():
    no_number = [_passage("The AWS certification is a good first step.", 0.6)]
    with_number = [_passage("The exam costs 150 dollars.", 0.6)]
    assert not is_answerable("What is the exam fee?", no_number, min_strength=0.2)
    assert is_answerable("What is the exam fee?", with_number, min_strength=0.2)


@pytest.mark.parametrize(("question", "expected"), [
    ("Is Rust a good language for machine learning?", ["Rust"]),
    ("How does LoRA work for fine-tuning LLMs?", ["LoRA", "LLMs"]),
    ("CUDA kernels: how do I write them?", ["CUDA"]),
    ("What should I use, and when I'm done, what next?", []),  # the pronoun is not a name
    ("Which vector databases should I learn?", []),  # a capital at the start is not a name
    ("CAN MY APP KEEP WORKING WITHOUT WI-FI?", []),  # shouting: capitals say nothing
    ("How Do I Deploy Models Offline?", []),  # Title Case likewise
    ("How much can the Behmor 2000AB hold?", ["Behmor", "2000AB"]),  # a model number whole, not "AB"
    ("Is it OK to let Kafka topics grow forever?", ["Kafka"]),  # "OK" frames the question: no name
])
def test_names_are_capitalised_mid_sentence_or_have_inner_capitals(question, expected):
    assert names(question) == expected


@pytest.mark.parametrize(("question", "expected"), [
    ("Which books should I read to learn deep learning?", "books"),
    ("What coding questions are asked in interviews?", "questions"),
    ("At which stages of the ML pipeline can I mitigate bias?", "pipeline"),
    ("Which open-source reinforcement learning frameworks should I practice with?", "frameworks"),
    ("What is DVC and why would I use it?", None),
    ("Can an AI work out what someone is trying to achieve?", None),  # "what" mid-sentence
    ("Which countries offer tax breaks?", None),  # no auxiliary verb to find the noun by
])
def test_answer_type_is_the_noun_a_which_or_what_question_asks_for(question, expected):
    assert answer_type(question) == expected


KNOWN = {"python", "databases", "frameworks", "ml", "tools", "kubeflow", "argo", "pipelines", "cost"}


def _mentions(term: str) -> bool:
    return term.lower() in KNOWN


def test_unknown_terms_are_the_names_and_answer_type_the_guides_never_mention():
    assert unknown_terms("Is Rust better than Python for ML?", _mentions) == ["Rust"]
    assert unknown_terms("Which books should I read?", _mentions) == ["books"]
    assert unknown_terms("Which frameworks should I learn for Python?", _mentions) == []


def test_abstain_reason_says_why():
    strong = [_passage("Python is the main language.", 0.6)]
    assert abstain_reason("Is Rust good for ML?", strong, 0.2, _mentions) == "They never mention Rust."
    assert abstain_reason("Which tools?", [_passage("x", 0.1)], 0.2, _mentions) == "No passage is close enough to the question."
    assert abstain_reason("How much does it cost?", strong, 0.2, _mentions) == "The closest passages give no figure for it."
    assert abstain_reason("Which tools should I use with Python?", strong, 0.2, _mentions) is None
    # Without a vocabulary the name check is skipped.
    assert abstain_reason("Is Rust good for ML?", strong, 0.2) is None


def test_price_comparisons_are_quantity_questions():
    assert asks_for_quantity("Is Pinecone cheaper than Weaviate?")
    assert asks_for_quantity("Which is the least expensive option?")
    assert not asks_for_quantity("What cheap hardware can I practise on?")  # cheap things, not their price
    assert asks_for_quantity("Which cloud is more expensive?")


def test_the_index_vocabulary_knows_the_guides_terms(service):
    mentions = service.engine.index.bm25.mentions
    assert mentions("MLflow") and mentions("databases") and mentions("Database")  # stemmed, any case
    assert not mentions("Rust") and not mentions("LoRA")
    assert mentions("the")  # stop-words carry no term to miss


def test_the_pipeline_abstains_on_a_name_the_guides_never_mention(service):
    answer = service.engine.pipeline.ask("Is Julia worth learning for machine learning?").answer
    assert answer.abstained and not answer.citations
    assert "They never mention Julia." in answer.answer


def test_a_choice_the_guides_never_make_is_not_answered_by_a_list_of_both():
    listing = [_passage("ML Orchestration: Using tools like Kubeflow, Apache Airflow, or Argo Workflows.", 0.6)]
    ranking = [_passage("Kubeflow is better than Argo for teams on Kubernetes.", 0.6)]
    question = "Is Kubeflow or Argo the better choice for pipelines?"
    assert unmade_comparison(question, listing) == ["Kubeflow", "Argo"]
    assert unmade_comparison(question, ranking) == []
    assert unmade_comparison("Which tools does the guide name, Kubeflow or Argo?", listing) == []  # no comparison asked
    assert abstain_reason(question, listing, 0.2, _mentions) == "They never compare Kubeflow and Argo."


def test_language_names_with_symbols_are_names_even_in_lower_case():
    assert names("should i learn c++ for faster inference") == ["c++"]
    python_only = [_passage("Python is the main language.", 0.6)]
    assert unknown_terms("should i learn c++ for faster inference", lambda t: True, python_only) == ["c++"]
    assert unknown_terms("Is C# used?", lambda t: True, [_passage("C# is used in Unity.", 0.6)]) == []


def test_figures_in_words_or_after_a_capitalised_verb_count():
    assert has_quantity("Learn the Frameworks: Build 3 projects using PyTorch.")
    assert has_quantity("Spend three months on the math.")
    assert not has_quantity("Models like GPT-4, Claude 3.5, or Llama 3.")
    assert not has_quantity("The 2024 guide says so.")
    build = [_passage("Learn the Frameworks: Build 3 projects using PyTorch.", 0.6)]
    assert gives_figure("How many projects should I build?", build)
    assert not gives_figure("How much does the exam cost?", build)  # a figure, but not about the exam


def test_a_price_is_answered_by_money_not_by_another_figure_about_the_thing():
    lamp = [_passage("Hang a heat lamp so the area under the heating plate reaches 95°F.", 0.6)]
    assert gives_figure("How hot should the heating plate be?", lamp)
    assert not gives_figure("How much does a brooder heating plate cost?", lamp)
    priced = [_passage("A heating plate costs about $60 and lasts for years.", 0.6)]
    assert gives_figure("How much does a brooder heating plate cost?", priced)
    assert gives_figure("What is the price of a heating plate?", [_passage("The heating plate is free with the kit.", 0.6)])
    # Costs kept low ask for a way, not an amount.
    assert gives_figure("How can I keep heating plate costs low?", lamp)


def test_variants_of_a_name_count_as_mentions(service):
    mentions = service.engine.index.bm25.mentions
    assert mentions("Medellin") and not mentions("Rust")


def test_a_near_neighbour_in_the_passages_stands_in_for_a_missing_name(service):
    near = NearTerms(service.embedder)
    passages = service.retriever().retrieve("Which AI regulations should I know?", k=3)
    assert any("EU" in p.chunk.text for p in passages)
    assert near("European", passages)
    assert not near("Rust", passages) and not near("Germany", passages)
    answer = service.engine.pipeline.ask("Which European AI regulations should I know about?").answer
    assert not answer.abstained and "EU AI Act" in answer.answer


def test_the_guides_words_come_encoded_by_the_build(service, built_index):
    """Only the names the guides never use are encoded when a question asks: the build encoded their words."""
    known = load_word_vectors(built_index)
    assert {"EU", "Python", "MLOps"} <= set(known)
    asked: list[str] = []

    class Counting:
        def encode_queries(self, texts: list[str]):
            asked.extend(texts)
            return service.embedder.encode_queries(texts)

    near = NearTerms(Counting(), known)  # type: ignore[arg-type]
    passages = service.retriever().retrieve("Which AI regulations should I know?", k=3)
    assert near("European", passages) and not near("Rust", passages)
    assert set(asked) <= {"European", "Rust"}
    eu = service.embedder.encode_queries(["EU"])[0]
    assert float(known["EU"] @ eu) > 0.999  # the build's vector is the one the service would make


def test_the_pipeline_abstains_on_a_comparison_the_guides_never_make(service):
    answer = service.engine.pipeline.ask("Which is more accurate for sales forecasting, Prophet or ARIMA?").answer
    assert answer.abstained and "They never compare Prophet and ARIMA." in answer.answer


@pytest.mark.parametrize("question", ["?!?!;;;", "%$#@ ^&* ~~", "123 456", "a", "lorem ipsum dolor", "the of and"])
def test_a_question_without_a_word_the_guides_use_is_content_free(question):
    assert content_free(question, _mentions)
    assert abstain_reason(question, [_passage("Python is the main language.", 0.9)], 0.2, _mentions) == (
        "The question has no words the guides could answer about.")


@pytest.mark.parametrize("question", ["python?", "Which tools should I learn?", "ml", "lorem ipsum python"])
def test_a_question_with_a_word_the_guides_use_has_content(question):
    assert not content_free(question, _mentions)



# ---------------------------------------------------------------------------
# The fitted decline: detail questions about a thing the passages only name
# ---------------------------------------------------------------------------

def _passage(text: str, dense: float = 0.5):
    from rag.core.types import Chunk, ScoredChunk

    spans = [(m.start(), m.end()) for m in re.finditer(r"[^.]+\.", text)]
    sentences = tuple((a + len(text[a:b]) - len(text[a:b].lstrip()), b, a, b) for a, b in spans)
    return ScoredChunk(Chunk("g:1", "g.txt", "Tools", text, 0, len(text), sentences=sentences), 1.0, dense=dense)


def test_aspect_gap_lists_what_no_sentence_naming_the_thing_says():
    from rag.answer.answerability import aspect_gap

    passages = [_passage("Weaviate and Pinecone store vectors. Hybrid search mixes keywords and vectors.")]
    gap = aspect_gap("How does Weaviate's hybrid search work?", passages)
    assert gap.named == ("Weaviate",)
    assert set(gap.missing) == {"hybrid", "search", "work"}
    covered = aspect_gap("Which vector stores does the guide name besides Weaviate?", passages)
    assert "vector" not in covered.missing and covered.coverage > gap.coverage
    own = aspect_gap("Can I run Weaviate's hybrid search from my laptop?", passages)
    assert set(own.aspect) == {"run", "hybrid", "search", "laptop"}  # function words ("can", "from", "my") are no aspect


def test_fitted_decline_names_the_thing_and_the_missing_detail():
    import numpy as np

    from rag.answer.abstention import AbstentionModel

    model = AbstentionModel(np.array([-2.5, 0.0, 2.5]), 0.0, threshold=0.6)
    passages = [_passage("PyTorch and TensorFlow are the main frameworks.", dense=0.4)]
    reason = model.reason("Which version of PyTorch does the guide recommend?", passages)
    assert reason is not None and reason.startswith("They name PyTorch") and '"version"' in reason
    assert model.reason("Which frameworks does the guide name beside PyTorch?", passages) is None
    long = model.reason("Which exact version, build, licence, checksum and mirror of PyTorch should I install?", passages)
    assert long is not None and long.count('"') == 6 and "more of the words asked" in long


def test_shipped_decline_model_loads_and_keeps_a_strong_match():
    from rag.answer.abstention import load_abstention

    model = load_abstention()
    assert model is not None and 0.0 < model.threshold < 1.0
    passages = [_passage("Docker packages a model with its dependencies.", dense=0.8)]
    assert model.reason("What does Docker package?", passages) is None
