"""Assemble the parts from settings: the one place that wires index, retriever and generator."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from rag.answer.abstention import load_abstention
from rag.answer.extractive.generator import ExtractiveGenerator
from rag.answer.extractive.model import PLAIN_MODEL_FILE, SelectionModel, load_model
from rag.answer.generation import Generator
from rag.answer.neighbours import NearTerms
from rag.core.errors import IndexBuildError, IndexIncompatibleError, IndexNotFoundError
from rag.core.types import QueryEncoder
from rag.encoders.batching import BatchingEncoder, BatchObserver
from rag.encoders.embedding import Embedder, PassageEncoder, torch_threads
from rag.encoders.onnx import OnnxQueryEncoder
from rag.index.build import BuildReport, Progress, build_index, build_lock
from rag.index.freshness import CorpusWatch, Staleness
from rag.index.store import Index, load_index
from rag.index.words import load_word_vectors
from rag.pipeline import QAPipeline
from rag.query.request import check_names
from rag.retrieve.hybrid import Filters, HybridRetriever
from rag.settings import RetrievalMode, Settings

log = logging.getLogger(__name__)


@dataclass
class Engine:
    """A loaded index with its retriever and pipeline; swapped whole on reload."""

    index: Index
    retriever: HybridRetriever
    pipeline: QAPipeline
    folder_id: tuple[int, int] | None = None  # (device, inode) of the index folder it was loaded from


class QAService:
    """Holds the model (loaded once per process) and the current engine.

    `rebuild` builds into a staging folder while queries keep using the current
    engine, then swaps the engine reference: a request sees the old index or the
    new one, never a half-built one.

    Questions are encoded by `query_encoder` (torch, or int8 ONNX with
    `query_encoder="onnx-int8"`); passages always by the torch `embedder`. A
    server calls `start_inference_worker` so that every question is encoded on
    one thread, in batches (rag.encoders.batching).
    """

    def __init__(self, settings: Settings, embedder: Embedder | None = None, fitted: bool = True) -> None:
        """`fitted=False` answers without the fitted models (an untrained sentence scorer, no decline
        model): what `rag tune` needs to refit models whose features changed (loading them would refuse)."""
        self.settings = settings
        self.fitted = fitted
        self.embedder = embedder or Embedder(embed_dtype=settings.embed_dtype)
        self._plain_encoder = self._make_query_encoder()
        self.query_encoder: QueryEncoder = self._plain_encoder
        self.batcher: BatchingEncoder | None = None
        self._torch_threads = 0  # torch's thread count before the worker set it to one
        self._engine: Engine | None = None
        self._rebuild_lock = threading.Lock()
        self._corpus = CorpusWatch(settings.corpus_dir)

    @property
    def ready(self) -> bool:
        """An index is loaded and questions have their encoder worker: requests can be served."""
        return self._engine is not None and self.batcher is not None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._load()
        return self._engine

    def ensure_index(self, progress: Progress | None = None) -> BuildReport | None:
        """Build the index if there is none, or if it cannot serve (built by other settings or
        code, or damaged); returns the build report if one ran."""
        self.remove_stale_staging()
        try:
            _ = self.engine
            return None
        except (IndexNotFoundError, IndexIncompatibleError) as e:
            log.info("building the index: %s", e)
            report = self.build(force=isinstance(e, IndexIncompatibleError), progress=progress)  # a damaged index may list the same files
            self._engine = self._load()
            return report

    def staleness(self) -> Staleness:
        """How the corpus differs from what the serving index was built from (rag.index.freshness)."""
        return self._corpus.staleness(self.engine.index.manifest)

    def remove_stale_staging(self) -> None:
        """Remove what a killed build left beside the index (its staging folder), unless a build runs now."""
        try:
            with build_lock(self.settings.index_dir):  # cleans up once it holds the lock
                pass
        except IndexBuildError as e:
            log.info("stale staging folders not checked: %s", e)

    def warm_up(self) -> None:
        """Load the model and run it once, so the first request does not pay for it.

        Call it on the main thread before any other thread encodes: when torch's
        OpenMP pool is first started from another thread, every encode there runs
        ~100x slower (1.2 s instead of 12 ms, measured) until the main thread has
        run one."""
        self.query_encoder.encode_queries(["warm up"])

    def start_inference_worker(self, on_batch: BatchObserver | None = None) -> BatchingEncoder:
        """Route every question encode through one batching worker thread (see rag.encoders.batching)."""
        self.stop_inference_worker()
        s = self.settings
        on_start = None
        if isinstance(self._plain_encoder, Embedder):
            # Torch on one thread while the worker runs (see rag.encoders.batching). The setting is the process's:
            # an index rebuild in a running server embeds on one thread too, leaving a core to questions.
            self._torch_threads = torch_threads()
            on_start = partial(torch_threads, 1)
        self.batcher = BatchingEncoder(self._plain_encoder, max_batch=s.batch_max, max_wait_ms=s.batch_wait_ms,
                                       max_queue=s.queue_max, on_batch=on_batch, on_start=on_start)
        self._use_query_encoder(self.batcher)
        return self.batcher

    def stop_inference_worker(self) -> None:
        """Finish the queued questions, stop the worker; questions are then encoded by the calling thread."""
        if self.batcher is not None:
            self.batcher.close()
            self.batcher = None
            if self._torch_threads:
                torch_threads(self._torch_threads)
            self._use_query_encoder(self._plain_encoder)

    def _use_query_encoder(self, encoder: QueryEncoder) -> None:
        self.query_encoder = encoder
        if self._engine is not None:
            self._engine = self._load()

    def _make_query_encoder(self) -> Embedder | OnnxQueryEncoder:
        if self.settings.query_encoder == "onnx-int8":
            return OnnxQueryEncoder(self.embedder)
        return self.embedder

    def build(self, force: bool = False, progress: Progress | None = None, encoder: PassageEncoder | None = None) -> BuildReport:
        s = self.settings
        return build_index(s.corpus_dir, s.index_dir, s.index_settings(self.embedder), self.embedder, force=force,
                           progress=progress, encoder=encoder)

    def rebuild(self, force: bool = False, progress: Progress | None = None) -> BuildReport:
        """Build, then swap the serving engine; one rebuild at a time."""
        with self._rebuild_lock:
            report = self.build(force=force, progress=progress)
            if report.status == "built" or self._engine is None:
                self._engine = self._load()
            return report

    def filters(self, docs: Iterable[str] | None = None, editions: Iterable[str] | None = None) -> Filters | None:
        """Filters to these documents and editions; naming one the index does not hold is an InvalidRequestError
        that lists those it does (rag.query.request.check_names)."""
        index = self.engine.index
        check_names(docs, index.manifest.documents, "document")
        check_names(editions, index.editions, "edition")
        return Filters.of(docs, editions)

    def reload_if_swapped(self) -> bool:
        """Load the index again if its folder was swapped for a newer build since it was loaded (by this
        process, another worker, or `rag index build`); True if it was. A newer index that does not
        load leaves the current one serving (the error is raised)."""
        engine = self._engine
        if engine is None or folder_id(self.settings.index_dir) in (None, engine.folder_id):
            return False
        with self._rebuild_lock:
            self._engine = self._load()
        return True

    def retriever(self, mode: RetrievalMode | None = None) -> HybridRetriever:
        if mode is None or mode == self.settings.retrieval_mode:
            return self.engine.retriever
        return self.settings.retriever(self.engine.index, self.query_encoder, mode)

    def _load(self) -> Engine:
        folder = self.settings.index_dir
        while True:  # a build swapping the folder in the middle of the load: load the new one whole
            loaded_from = folder_id(folder)
            index = load_index(folder, self.settings.index_settings(self.embedder))
            if folder_id(folder) == loaded_from:
                break
        self._check_query_encoder(index)
        retriever = self.settings.retriever(index, self.query_encoder)
        near = NearTerms(self.query_encoder, load_word_vectors(index.folder))  # type: ignore[arg-type]
        pipeline = QAPipeline(
            retriever, self._generator(index), self.settings.abstain_threshold, index.bm25.mentions, near,
            load_abstention(index.folder) if self.fitted else None,
        )
        return Engine(index, retriever, pipeline, loaded_from)

    def _check_query_encoder(self, index: Index) -> None:
        """Questions must land in the passages' vector space: the same model, the same width."""
        built, encoder = index.manifest.settings, self._plain_encoder
        if (built.model, built.dim) != (encoder.model_name, encoder.dim):
            raise IndexIncompatibleError(
                f"the index was built with {built.model} ({built.dim}-d); the {self.settings.query_encoder} query encoder "
                f"is {encoder.model_name} ({encoder.dim}-d) — set RAG_QUERY_ENCODER=torch or run 'rag index build --force'"
            )

    def _generator(self, index: Index) -> Generator:
        model = load_model(index.folder) if self.fitted else SelectionModel.untrained()
        plain = load_model(index.folder, PLAIN_MODEL_FILE) if self.fitted else None
        extractive = ExtractiveGenerator(self.query_encoder, model,  # type: ignore[arg-type]
                                         stored_vectors=index.sentence_vectors_of, outline=index.outline,
                                         alignment=index.alignment, plain_model=plain)
        if self.settings.generator != "llm":
            return extractive
        from rag.answer.llm.generator import LLMGenerator

        s = self.settings
        return LLMGenerator(s.llm_base_url, s.llm_model, s.llm_api_key.get_secret_value(), s.llm_timeout,
                            s.llm_context_tokens, fallback=extractive, topic=index.outline.topic())



def folder_id(folder: Path) -> tuple[int, int] | None:
    """What tells one index folder from the next build swapped in at the same path; None while there is none."""
    try:
        st = os.stat(folder)
    except OSError:
        return None
    return st.st_dev, st.st_ino
