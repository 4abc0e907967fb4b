"""One settings object, read from the environment (RAG_*) at the edge and passed in."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from rag.core.types import QueryEncoder
from rag.encoders.embedding import Embedder, EmbedDtype, PassageTemplate
from rag.index.bm25 import BM25Settings
from rag.index.store import Index, IndexSettings
from rag.ingest.chunking import ChunkerSettings
from rag.ingest.corpus import PARSER_VERSION
from rag.retrieve.hybrid import FusionMethod, HybridRetriever, RetrievalMode
from rag.retrieve.query_map import load_query_map


class Settings(BaseSettings):
    """Defaults are the tuned values (see README, "How the defaults were chosen")."""

    model_config = SettingsConfigDict(env_prefix="RAG_", extra="ignore")

    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")

    # Defaults live with the stage they configure (ChunkerSettings, BM25Settings).
    chunk_max_tokens: int = Field(default=ChunkerSettings().max_tokens, ge=16, le=512)
    chunk_overlap_tokens: int = Field(default=ChunkerSettings().overlap_tokens, ge=0, le=256)
    passage_template: PassageTemplate = "title_section"
    embed_dtype: EmbedDtype = "auto"
    bm25_k1: float = BM25Settings().k1
    bm25_b: float = BM25Settings().b

    retrieval_mode: RetrievalMode = "hybrid"
    fusion: FusionMethod = "rrf"
    dense_weight: float = Field(default=0.7, ge=0, le=1)
    rrf_k: int = Field(default=60, ge=1)
    dedup_overlap: float = Field(default=0.5, ge=0, le=1)
    sentence_weight: float = Field(default=0.5, ge=0, le=1)
    query_map: bool = True  # search with the fitted query map (rag.retrieve.query_map) when one fits the model

    abstain_threshold: float = 0.16
    generator: Literal["extractive", "llm"] = "extractive"
    llm_base_url: str = "http://127.0.0.1:11434/v1"
    llm_model: str = "llama3.2"
    llm_api_key: SecretStr = SecretStr("")
    llm_timeout: float = Field(default=30.0, gt=0)
    llm_context_tokens: int = Field(default=3000, ge=256)

    admin_token: SecretStr | None = None
    max_question_chars: int = Field(default=2000, ge=16)

    # Serving (rag serve): the query encoder, its batching queue, and the limits at the edge.
    query_encoder: Literal["torch", "onnx-int8"] = "torch"
    batch_max: int = Field(default=16, ge=1, le=256)
    batch_wait_ms: float = Field(default=0.0, ge=0, le=100)
    queue_max: int = Field(default=64, ge=1)
    worker_threads: int = Field(default=32, ge=1, le=256)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    keep_alive_timeout_s: int = Field(default=5, ge=1)
    request_read_timeout_s: float = Field(default=10.0, gt=0)
    request_deadline_s: float = Field(default=30.0, gt=0)  # to receive a whole request, however it trickles in
    graceful_shutdown_s: int = Field(default=30, ge=1)

    def chunker(self) -> ChunkerSettings:
        return ChunkerSettings(max_tokens=self.chunk_max_tokens, overlap_tokens=self.chunk_overlap_tokens)

    def bm25(self) -> BM25Settings:
        return BM25Settings(k1=self.bm25_k1, b=self.bm25_b)

    def index_settings(self, embedder: Embedder) -> IndexSettings:
        return IndexSettings(
            model=embedder.model_name,
            dim=embedder.dim,
            max_wordpieces=embedder.max_wordpieces,
            chunker=self.chunker(),
            passage_template=self.passage_template,
            bm25=self.bm25(),
            parser_version=PARSER_VERSION,
            embed_dtype=embedder.embed_dtype,
        )

    def retriever(self, index: Index, embedder: QueryEncoder, mode: RetrievalMode | None = None) -> HybridRetriever:
        """The retriever these settings describe (in `mode`, default the configured one)."""
        built = index.manifest.settings
        query_map = load_query_map(index.folder, built.model, built.dim) if self.query_map else None
        return HybridRetriever(index, embedder, mode=mode or self.retrieval_mode, fusion=self.fusion,
                               dense_weight=self.dense_weight, rrf_k=self.rrf_k, dedup_overlap=self.dedup_overlap,
                               sentence_weight=self.sentence_weight, query_map=query_map)
