"""Reading the answer shape a question asks for."""

import pytest

from rag.query.intent import asks_for_list, read_intent

EDITIONS = frozenset({"2024", "2026"})


@pytest.mark.parametrize("question", [
    "Which vector databases should I learn?",
    "What kinds of bias should I watch for in data and models?",
    "What are the core principles for building agentic AI systems?",
    "List the steps of the final roadmap.",
    "What hardware accelerators exist for running AI on edge devices?",
    "Which data warehouse and data lake systems should I be familiar with?",
])
def test_questions_that_ask_for_a_list(question):
    assert asks_for_list(question)


@pytest.mark.parametrize("question", [
    "What is DVC and why would I use it?",
    "How much of an AI engineer's time goes into data cleaning?",
    "Are ARIMA and Prophet still worth using for forecasting?",
    "What is the process for deploying a model?",
])
def test_questions_that_ask_for_one_fact(question):
    assert not asks_for_list(question)


@pytest.mark.parametrize(("question", "rest"), [
    ("What else does that section cover?", True),
    ("Which other libraries does it list?", True),
    ("What is DVC and why would I use it?", False),
])
def test_questions_that_ask_for_the_rest_of_the_items(question, rest):
    intent = read_intent(question, EDITIONS)
    assert intent.wants_rest is rest and (intent.wants_list or not rest)


def test_editions_named_or_both():
    assert read_intent("What does the 2024 guide say about RAG?", EDITIONS).edition == "2024"
    both = read_intent("How does the cloud advice differ between the 2024 and 2026 guides?", EDITIONS)
    assert both.both_editions and both.edition is None
    assert not read_intent("How do the guides differ on RAG?", frozenset({"2026"})).both_editions


def test_named_kinds():
    assert read_intent("Which tools can I use to orchestrate ML pipelines?", EDITIONS).wants_names
    assert not read_intent("Which skills matter most?", EDITIONS).wants_names
