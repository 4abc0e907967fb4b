"""Follow-up questions (rag.query.conversation): detection, contextualising, and answers on the real index."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.golden import load_golden
from eval.harness import evaluate
from rag.core.types import Turn
from rag.query.conversation import contextualise, edition_phrase, is_followup, topic_terms

FOLLOWUPS = Path(__file__).resolve().parents[1] / "eval" / "golden" / "followups.jsonl"

VECTOR_DBS = [Turn("user", "What does the 2024 guide say about vector databases?")]


@pytest.mark.parametrize(
    "question",
    ["Which ones does it name?", "Why does that matter?", "And the 2026 one?", "What about pruning?",
     "How can you defend against them?", "Examples?", "Which tools does it mention for that?",
     "What does the second one do?", "What is Amazon's one for?", "Which concepts become relevant there?",
     "Which of those does the 2026 guide also cover?", "Does the 2026 guide define it the same way?",
     "Does the 2026 edition still mention it?", "Same question for the 2026 guide's experiment tracking."],
)
def test_points_back_ellipsis_and_short_questions_are_followups(question: str) -> None:
    assert is_followup(question)


@pytest.mark.parametrize(
    "question",
    ["What is DVC and why would I use it?", "Which MLOps tools should I learn?",
     "How can a distributed team avoid 'it works on my machine' problems?", "What does the 2026 guide say about RAG?",
     "How do I keep a chatbot's knowledge current without retraining it?",
     "Which of those tools that turn a sentence into artwork should an illustrator learn?"],
)
def test_questions_that_stand_alone_are_not_followups(question: str) -> None:
    assert not is_followup(question)


def test_a_standalone_question_is_left_as_asked_whatever_the_history() -> None:
    asked = contextualise("Which MLOps tools should I learn?", VECTOR_DBS)
    assert (asked.question, asked.followup) == ("Which MLOps tools should I learn?", False)


def test_a_followup_gets_the_earlier_topic_and_edition() -> None:
    asked = contextualise("Which ones does it name?", VECTOR_DBS)
    assert asked.followup
    assert asked.question == "vector databases which ones does it name? (the 2024 guide)"


def test_an_edition_named_in_the_followup_replaces_the_earlier_one() -> None:
    asked = contextualise("And the 2026 one?", [Turn("user", "Which edge ML frameworks does the 2024 guide list?")])
    assert "2024" not in asked.question and "2026" in asked.question
    assert "edge ML frameworks" in asked.question


def test_a_chain_of_followups_keeps_the_first_topic() -> None:
    history = [*VECTOR_DBS, Turn("assistant", "Tools like Pinecone… [1]"), Turn("user", "Which ones does it name?")]
    asked = contextualise("Why do they matter?", history)
    assert "vector databases" in asked.question and "(the 2024 guide)" in asked.question


def test_assistant_turns_alone_give_no_context() -> None:
    assert not contextualise("Which ones does it name?", [Turn("assistant", "Hello")]).followup


def test_topic_terms_drop_the_question_frame() -> None:
    assert topic_terms("What does the 2026 guide say about causal inference?") == "causal inference"


@pytest.mark.parametrize(
    ("question", "phrase"),
    [("What does the 2024 guide say?", "the 2024 guide"), ("What does the newer edition add?", "the newer guide"),
     ("How do the 2024 and 2026 guides differ?", "both guides"), ("Which skills matter?", "")],
)
def test_edition_phrase(question: str, phrase: str) -> None:
    assert edition_phrase(question) == phrase


def test_followup_is_answered_from_the_earlier_topic_in_the_earlier_edition(service) -> None:
    pipeline = service.engine.pipeline
    result = pipeline.ask("Which ones does it name?", history=VECTOR_DBS)
    assert not result.answer.abstained
    assert "pinecone" in result.answer.answer.lower()
    assert {c.edition for c in result.answer.citations} == {"2024"}
    alone = pipeline.ask("Which ones does it name?")
    assert "pinecone" not in alone.answer.answer.lower()


def test_standalone_question_with_history_is_answered_as_without(service) -> None:
    pipeline = service.engine.pipeline
    question = "Which MLOps tools should I learn?"
    with_history, without = pipeline.ask(question, history=VECTOR_DBS), pipeline.ask(question)
    assert with_history.answer.to_json() == without.answer.to_json()
    assert [p.chunk.chunk_id for p in with_history.passages] == [p.chunk.chunk_id for p in without.passages]


def test_eval_followup_modes_read_history_differently(service) -> None:
    questions = load_golden(FOLLOWUPS)  # all of them: a few can be found without their history
    recall = {
        mode: evaluate(questions, service.engine.retriever, followup=mode).summary()["overall"]["context_recall@2000"]
        for mode in ("alone", "context")
    }
    assert recall["context"] > recall["alone"]


def test_followup_golden_set_is_grounded_and_has_a_first_question() -> None:
    corpus = {p.name: p.read_text(encoding="utf-8") for p in (FOLLOWUPS.parents[2] / "corpus").iterdir()}
    questions = load_golden(FOLLOWUPS)
    assert len(questions) >= 20
    for q in questions:
        assert q.history and q.history[0].role == "user", q.id
        evidence = " ".join(e.text for e in q.evidence).lower()
        for e in q.evidence:
            assert e.text in corpus[e.doc] and 40 <= len(e.text) <= 300, q.id
        assert all(k in evidence for k in q.answer_keywords), q.id


@pytest.mark.parametrize(
    ("earlier", "followup", "expected"),
    [("Which experiment tracking tools does the 2026 guide mention?", "And for monitoring?",
      "Which tools does the 2026 guide name for monitoring?"),
     ("What does the 2024 guide say about quantization?", "And pruning?", "What does the 2024 guide say about pruning?"),
     ("Which vector databases does the 2024 guide name?", "And which cloud AI suites?",
      "which cloud AI suites does the 2024 guide name?"),
     # A pronoun after the follow-up's own topic stands for it, not for the earlier topic.
     ("Which experiment tracking tools does the 2026 guide mention?", "What about for checking datasets when they change?",
      "Which tools does the 2026 guide name for checking datasets when they change?")],
)
def test_an_ellipsis_with_a_new_topic_keeps_the_frame_and_swaps_the_topic(earlier: str, followup: str, expected: str) -> None:
    asked = contextualise(followup, [Turn("user", earlier)])
    assert asked.followup and asked.question == expected
    assert "experiment" not in asked.question and "quantization" not in asked.question


@pytest.mark.parametrize("followup", ["What about it do I need to know?", "And the 2026 guide?", "What about its cost?"])
def test_an_ellipsis_that_points_back_keeps_the_earlier_topic(followup: str) -> None:
    asked = contextualise(followup, [Turn("user", "What does the 2024 guide say about Grid Search?")])
    assert "Grid Search" in asked.question


@pytest.mark.parametrize("followup", ["And the 2026 guide?", "What about the newer edition?",
                                      "What does the 2026 edition list?", "What does the 2026 guide say about it?"])
def test_a_followup_naming_only_another_edition_asks_the_earlier_question_of_it(followup: str) -> None:
    earlier = [Turn("user", "Which experiment tracking tools does the 2024 guide list?")]
    asked = contextualise(followup, earlier)
    assert asked.followup and asked.question.startswith("Which experiment tracking tools does the ")
    assert "2024" not in asked.question and asked.question.endswith(" list?")


def test_an_edition_switch_after_a_section_followup_keeps_the_place() -> None:
    history = [Turn("user", "What does the MLOps infrastructure part of the 2024 guide say about Docker and Kubernetes?"),
               Turn("user", "What else does that section recommend?")]
    asked = contextualise("And the 2026 guide?", history)
    assert asked.place_of == "What does the MLOps infrastructure part of the 2026 guide say about Docker and Kubernetes?"
    assert asked.question.startswith("What else does that section recommend?") and "2024" not in asked.question
    assert asked.carried.startswith("MLOps infrastructure")


def test_a_question_about_the_earlier_answers_place_is_looked_up_there() -> None:
    earlier = [Turn("user", "What does the 2026 guide say about calculus in its math section?")]
    asked = contextualise("What else is in that section?", earlier)
    assert is_followup("What else is in that section?") and asked.followup
    assert asked.place_of == earlier[0].content
    assert "calculus" not in asked.question and asked.question.endswith("(the 2026 guide)")


def test_a_section_followup_is_answered_from_the_earlier_answers_section(service) -> None:
    from rag.pipeline import retrieve_in_context

    history = [Turn("user", "What does the 2026 guide say about calculus in its math section?")]
    first = service.engine.retriever.retrieve(history[0].content, k=1)[0].chunk
    asked, passages = retrieve_in_context(service.engine.retriever, "What else is in that section?", history, 5)
    assert passages and {(p.chunk.doc, p.chunk.section) for p in passages} == {(first.doc, first.section)}


def test_what_else_about_a_section_gets_the_rest_of_its_list(service) -> None:
    history = [Turn("user", "What does the 2024 guide's MLOps infrastructure section say about CI/CD?")]
    answer = service.engine.pipeline.ask("What else does that section recommend?", history=history).answer.answer
    assert "Docker and Kubernetes" in answer and "Model Monitoring" in answer


def test_eval_answers_followups_as_the_service_does(service) -> None:
    """The harness scores the answer a reader gets: placed passages answered from, no fitted decline on
    follow-ups (rag.pipeline.QAPipeline.steps)."""
    questions = [q for q in load_golden(FOLLOWUPS) if q.history]
    run = evaluate(questions, service.engine.retriever, pipeline=service.engine.pipeline)
    for q, scored in zip(questions, run.answers, strict=True):
        served = service.engine.pipeline.ask(q.question, k=10, history=[Turn(t.role, t.content) for t in q.history]).answer
        assert scored["abstained"] == served.abstained, q.id
