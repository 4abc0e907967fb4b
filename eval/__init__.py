"""Evaluation helpers for guides-qa (retrieval and answer metrics)."""
