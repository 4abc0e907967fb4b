"""guides-qa: retrieval-augmented question answering over machine-learning career guides."""

__version__ = "0.1.0"
