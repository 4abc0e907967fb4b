"""The sentence that compares what two editions name."""

from rag.answer.extractive.comparison import compare_editions, named_terms


def test_named_terms_are_item_terms_enumerations_and_acronyms():
    assert named_terms("ML Orchestration: Using tools like Kubeflow, Apache Airflow, or Argo Workflows to manage pipelines.") == [
        "ML Orchestration", "Kubeflow", "Apache Airflow", "Argo Workflows"]
    assert named_terms("LIME (Local Interpretable Model-agnostic Explanations): Explains predictions.") == ["LIME"]
    assert named_terms("Practical Tip: Hands-on experience with SQL is non-negotiable.") == ["SQL"]
    assert named_terms("It allows an LLM to access private data.") == ["LLM"]


def test_shared_and_edition_only_names():
    older = ["TensorFlow Lite: A lightweight version of TensorFlow.", "Core ML: Apple's framework for iOS apps."]
    newer = ["Edge ML Frameworks: Proficiency with frameworks like TensorFlow Lite, ONNX Runtime, and PyTorch Mobile."]
    assert compare_editions("2024", "2026", older, newer) == (
        "In short, both guides name TensorFlow Lite; only the 2024 guide has Core ML; "
        "only the 2026 guide adds Edge ML Frameworks, ONNX Runtime and PyTorch Mobile."
    )


def test_a_name_inside_a_longer_one_counts_as_shared():
    sentence = compare_editions("2024", "2026", ["Quantization: Reducing precision."], ["Model Quantization: Reducing precision."])
    assert sentence == "In short, both guides name Quantization."


def test_nothing_to_compare_gives_no_sentence():
    assert compare_editions("2024", "2026", ["It helps a lot."], ["This matters."]) is None
    # Names on one side only say nothing about the other edition.
    assert compare_editions("2024", "2026", ["Tools like Pinecone and Milvus."], ["This matters."]) is None
