"""Vectors a build keeps for the next one, by text: the editions' headings and items (rag.index.alignment)
and the guides' words (rag.index.words). They are caches: a missing or unreadable file means encoding
everything again, never a failed build or a failed load."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

Encode = Callable[[list[str]], np.ndarray]


class CachedEncode:
    """`encode` for the texts not in `known` (what the previous build encoded); remembers every
    text it was asked for, with its vector, for the next build (`save`)."""

    def __init__(self, encode: Encode, known: dict[str, np.ndarray]) -> None:
        self.encode = encode
        self.known = known
        self.used: dict[str, np.ndarray] = {}

    def __call__(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in texts if t not in self.known]
        fresh = dict(zip(missing, self.encode(missing))) if missing else {}
        self.used = {t: self.known[t] if t in self.known else fresh[t] for t in texts}
        return np.stack([self.used[t] for t in texts]) if texts else np.zeros((0, 0), dtype=np.float32)

    @classmethod
    def load(cls, encode: Encode, folder: Path | None, name: str) -> CachedEncode:
        """With the vectors the index in `folder` keeps in the file `name` (none when it has no readable file)."""
        return cls(encode, read_vectors(folder / name) if folder is not None else {})

    def save(self, folder: Path, name: str) -> None:
        texts = sorted(self.used)
        vectors = np.stack([self.used[t] for t in texts]).astype(np.float32) if texts else np.zeros((0, 0), np.float32)
        np.savez(folder / name, texts=np.array(texts, dtype=str), vectors=vectors)


def read_vectors(path: Path) -> dict[str, np.ndarray]:
    """Text → vector, as `CachedEncode.save` wrote them; empty when the file is missing or unreadable (they are
    a cache: whatever is not there is encoded when it is needed)."""
    try:
        with np.load(path) as data:
            return dict(zip(data["texts"].tolist(), data["vectors"]))
    except (OSError, ValueError, KeyError):
        return {}
