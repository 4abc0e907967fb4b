"""What a comparison of two editions states, read off their alignment."""

from dataclasses import replace

from rag.answer.extractive.comparison import Topic, compare
from rag.index.alignment import ITEM, EditionPair, Match, Node

OLD, NEW = "old.txt", "new.txt"


def item(doc: str, text: str, block: int = 1, start: int = 0) -> Node:
    name = text.split(":")[0] if ":" in text else None
    return Node(ITEM, doc, "2024" if doc == OLD else "2026", "Tools", text, name, start, start + len(text), block, None)


def pair(*matches: Match) -> EditionPair:
    return EditionPair("series", "2024", "2026", OLD, NEW, (), matches)


TEXTS = {OLD: "TensorFlow Lite: a small TensorFlow. Core ML: Apple's framework. Quantization: fewer bits.",
         NEW: "Edge ML Frameworks: TensorFlow Lite and PyTorch Mobile. Model Quantization: fewer bits. Knowledge Distillation: a small student."}
TOPIC = Topic(frozenset({1}), frozenset())


def test_shared_only_and_contained_names():
    lite_old, core = item(OLD, "TensorFlow Lite: a small TensorFlow."), item(OLD, "Core ML: Apple's framework.", start=40)
    quant = item(OLD, "Quantization: fewer bits.", start=70)
    frameworks = item(NEW, "Edge ML Frameworks: TensorFlow Lite and PyTorch Mobile.")
    model_quant = item(NEW, "Model Quantization: fewer bits.", start=60)
    distil = item(NEW, "Knowledge Distillation: a small student.", start=90)
    claims = compare(pair(Match(lite_old, frameworks, 0.7), Match(core, None), Match(quant, None), Match(None, model_quant),
                          Match(None, distil)), TOPIC, TOPIC, TEXTS.__getitem__)
    assert [c.text for c in claims] == [
        "Both guides name TensorFlow Lite.",
        "Only the 2024 guide names Core ML.",
        # Model Quantization is not new beside the older Quantization, though the alignment left both alone.
        "Only the 2026 guide adds Knowledge Distillation.",
    ]
    assert claims[0].names == {"2024": ("TensorFlow Lite",), "2026": ("TensorFlow Lite",)}
    assert claims[0].nodes == (lite_old, frameworks)
    assert claims[2].names == {"2026": ("Knowledge Distillation",)}


def test_a_name_the_other_edition_mentions_anywhere_is_not_only_in_one():
    docker = item(NEW, "Docker: containers.")
    texts = {OLD: "Ship it in Docker containers.", NEW: "Docker: containers."}
    assert compare(pair(Match(None, docker)), TOPIC, TOPIC, texts.__getitem__) == []


def test_a_renamed_item_is_stated_only_when_its_words_carry_over():
    azure_old, azure_new = item(OLD, "Azure AI: the suite."), item(NEW, "Microsoft Azure: Azure AI services and more.")
    core, frameworks = item(OLD, "Core ML: Apple's framework.", start=30), item(NEW, "Edge ML Frameworks: many.", start=60)
    claims = compare(pair(Match(azure_old, azure_new, 0.6), Match(core, frameworks, 0.6)), TOPIC, TOPIC, TEXTS.__getitem__)
    # "Azure AI" is inside the newer item's text, so the pair is named in both: shared, not renamed.
    assert [c.text for c in claims] == ["Both guides name Azure AI."]
    monitoring, alerting = item(OLD, "Model Monitoring: alerts."), item(NEW, "Drift Alerting: watch the monitoring of each model.")
    claims = compare(pair(Match(monitoring, alerting, 0.7)), TOPIC, TOPIC, TEXTS.__getitem__)
    assert [c.text for c in claims] == ["What the 2024 guide calls Model Monitoring, the 2026 guide covers as Drift Alerting."]


def test_items_outside_the_topic_and_prose_are_not_stated():
    elsewhere = item(OLD, "Feature Stores: serve features.", block=7)
    prose = Node(ITEM, OLD, "2024", "Tools", "Tools like Pinecone matter.", None, 0, 27, 1, None)
    assert compare(pair(Match(elsewhere, None), Match(prose, None)), TOPIC, TOPIC, TEXTS.__getitem__) == []


def test_topic_is_the_quoted_lists_or_else_the_sections():
    listed = Topic.of([("Tools", 3, True), ("Tools", 2, False)])
    assert listed.holds(item(OLD, "A: b.", block=3)) and not listed.holds(item(OLD, "A: b.", block=2))
    prose = Topic.of([("Tools", 2, False)])
    assert prose.holds(item(OLD, "A: b.", block=9)) and not prose.holds(replace(item(OLD, "A: b."), section="Other"))
