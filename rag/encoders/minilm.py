"""all-MiniLM-L6-v2 in plain torch: its BERT forward pass, mean pooling and normalisation.

The same operations, in the same order, as sentence-transformers running
transformers' BertModel (SDPA attention, its boolean padding mask, exact GELU),
so the vectors are the same bit for bit, in float32 and under bfloat16 autocast
(tests/test_minilm.py). Importing sentence-transformers and transformers' model
code takes seconds (torch._dynamo, scipy, scikit-learn); a cold `rag ask` pays
only for torch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional


class MiniLM:
    """Tokenizer (tokenizer.json), 6 BERT layers from model.safetensors, mean pooling over the mask, L2.

    Under bfloat16 autocast the linear layers read bfloat16 copies of their weights, made once.
    Autocast would cast them again on every call (it caches casts only of weights that require a
    gradient): 62% of a one-question forward pass was that copying. A weight cast once is the same
    weight autocast makes, so the vectors are unchanged bit for bit."""

    def __init__(self, model_path: Path, max_seq_length: int) -> None:
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        config = json.loads((model_path / "config.json").read_text())
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config["layer_norm_eps"])
        self.weights = load_file(str(model_path / "model.safetensors"))
        self._cast: dict[torch.dtype, dict[str, torch.Tensor]] = {}
        self.tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_seq_length)
        self.tokenizer.enable_padding(pad_id=self.tokenizer.token_to_id("[PAD]"), pad_token="[PAD]")

    def encode(self, texts: list[str]) -> np.ndarray:
        """One batch of texts → unit vectors (float32), in order."""
        encodings = self.tokenizer.encode_batch(texts)
        ids = torch.tensor([e.ids for e in encodings], dtype=torch.long)
        mask = torch.tensor([e.attention_mask for e in encodings], dtype=torch.long)
        types = torch.tensor([e.type_ids for e in encodings], dtype=torch.long)
        with torch.inference_mode():
            tokens = self._forward(ids, mask, types)
            summing = torch.float32 if tokens.dtype in (torch.float16, torch.bfloat16) else tokens.dtype
            weights = mask.unsqueeze(-1).to(tokens.dtype)
            total = (tokens * weights).sum(dim=1, dtype=summing)
            mean = (total / torch.clamp(weights.sum(dim=1, dtype=summing), min=1e-9)).to(tokens.dtype)
            return functional.normalize(mean, p=2, dim=-1).float().numpy()

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        """BERT's last hidden states for a padded batch."""
        w = self.weights
        batch, length = ids.shape
        x = functional.embedding(ids, w["embeddings.word_embeddings.weight"])
        x = x + functional.embedding(types, w["embeddings.token_type_embeddings.weight"])
        x = x + functional.embedding(torch.arange(length).unsqueeze(0), w["embeddings.position_embeddings.weight"])
        x = self._norm(x, "embeddings.LayerNorm")
        # No mask without padding, as transformers does (it lets SDPA pick its fastest kernel).
        attend = None if bool(mask.all()) else mask.bool()[:, None, None, :].expand(batch, 1, length, length)
        heads = (batch, length, self.heads, -1)
        for i in range(self.layers):
            layer = f"encoder.layer.{i}."
            q, k, v = (self._linear(x, f"{layer}attention.self.{name}").view(heads).transpose(1, 2)
                       for name in ("query", "key", "value"))
            attended = functional.scaled_dot_product_attention(q, k, v, attn_mask=attend, scale=q.shape[-1] ** -0.5)
            attended = attended.transpose(1, 2).contiguous().reshape(batch, length, -1).contiguous()
            x = self._norm(self._linear(attended, f"{layer}attention.output.dense") + x,
                           f"{layer}attention.output.LayerNorm")
            hidden = functional.gelu(self._linear(x, f"{layer}intermediate.dense"))
            x = self._norm(self._linear(hidden, f"{layer}output.dense") + x, f"{layer}output.LayerNorm")
        return x

    def _linear(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return functional.linear(x, self._linear_weight(f"{name}.weight"), self._linear_weight(f"{name}.bias"))

    def _linear_weight(self, key: str) -> torch.Tensor:
        """A linear layer's weight in the dtype autocast runs it in (as stored without autocast)."""
        if not torch.is_autocast_enabled("cpu"):
            return self.weights[key]
        dtype = torch.get_autocast_dtype("cpu")
        cast = self._cast.setdefault(dtype, {})
        if key not in cast:
            cast[key] = self.weights[key].to(dtype)
        return cast[key]

    def _norm(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return functional.layer_norm(x, (x.shape[-1],), self.weights[f"{name}.weight"], self.weights[f"{name}.bias"],
                                     self.eps)
