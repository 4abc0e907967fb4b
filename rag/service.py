"""Assemble the parts from settings: the one place that wires index, retriever and generator."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from rag.build import BuildReport, build_index
from rag.embedding import Embedder, PassageEncoder
from rag.errors import IndexNotFoundError
from rag.extractive import ExtractiveGenerator
from rag.generation import Generator
from rag.index import Index, load_index
from rag.neighbours import NearTerms
from rag.pipeline import QAPipeline
from rag.retrieval import HybridRetriever
from rag.settings import RetrievalMode, Settings


@dataclass
class Engine:
    """A loaded index with its retriever and pipeline; swapped whole on reload."""

    index: Index
    retriever: HybridRetriever
    pipeline: QAPipeline


class QAService:
    """Holds the model (loaded once per process) and the current engine.

    `rebuild` builds into a staging folder while queries keep using the current
    engine, then swaps the engine reference: a request sees the old index or the
    new one, never a half-built one.
    """

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.embedder = embedder or Embedder()
        self._engine: Engine | None = None
        self._rebuild_lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._load()
        return self._engine

    def ensure_index(self) -> BuildReport | None:
        """Build the index if there is none; returns the build report if one ran."""
        try:
            self.engine
            return None
        except IndexNotFoundError:
            report = self.build()
            self._engine = self._load()
            return report

    def warm_up(self) -> None:
        """Load the model now, so the first request does not pay for it."""
        self.embedder.encode_queries(["warm up"])

    def build(self, force: bool = False, progress: bool = False, encoder: PassageEncoder | None = None) -> BuildReport:
        s = self.settings
        return build_index(s.corpus_dir, s.index_dir, s.index_settings(self.embedder), self.embedder, force=force,
                           progress=progress, encoder=encoder)

    def rebuild(self, force: bool = False) -> BuildReport:
        """Build, then swap the serving engine; one rebuild at a time."""
        with self._rebuild_lock:
            report = self.build(force=force)
            if report.status == "built" or self._engine is None:
                self._engine = self._load()
            return report

    def retriever(self, mode: RetrievalMode | None = None) -> HybridRetriever:
        if mode is None or mode == self.settings.retrieval_mode:
            return self.engine.retriever
        return HybridRetriever.from_settings(self.engine.index, self.embedder, self.settings, mode)

    def _load(self, folder: Path | None = None) -> Engine:
        index = load_index(folder or self.settings.index_dir, self.settings.index_settings(self.embedder))
        retriever = HybridRetriever.from_settings(index, self.embedder, self.settings)
        pipeline = QAPipeline(
            retriever, self._generator(index), self.settings.abstain_threshold, index.bm25.mentions, NearTerms(self.embedder)
        )
        return Engine(index, retriever, pipeline)

    def _generator(self, index: Index) -> Generator:
        extractive = ExtractiveGenerator(self.embedder, stored_vectors=index.sentence_vectors_of)
        if self.settings.generator != "llm":
            return extractive
        from rag.llm import LLMGenerator

        s = self.settings
        return LLMGenerator(s.llm_base_url, s.llm_model, s.llm_api_key.get_secret_value(), s.llm_timeout,
                            s.llm_context_tokens, fallback=extractive)
