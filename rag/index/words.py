"""The guides' words and their vectors, encoded at build time for `rag.answer.neighbours`.

Before the service declines a question over a name the guides never use, it looks
for a word of the top passages that means nearly the same. Encoded on demand, the
first such question over a passage encoded all its words with the model on the
request's thread: 6.5 ms of the 9.4 ms a golden question cost more on its first
pass than on its second, and the slowest answers under load after a start. The
build encodes the guides' words once (2494 words for the two ML guides, ~1.6 s),
reusing the previous build's vectors by word, and the service starts with them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from rag.core.types import Chunk
from rag.index.vector_cache import read_vectors

#: A word as `rag.answer.neighbours` compares them: letters and digits, with inner "+#-" ("C++", "scikit-learn").
WORD = re.compile(r"[A-Za-z][A-Za-z0-9+#-]*[A-Za-z0-9+#]|[A-Z]")
WORD_VECTORS = "word_vectors.npz"
#: At most this many words are stored (the most frequent): ~30 MB of float32 vectors.
MAX_WORDS = 20_000


def guide_words(chunks: Iterable[Chunk], kept: Mapping[str, np.ndarray] | None = None) -> list[str]:
    """The words of `chunks`, most frequent first, then those of `kept` (the words of guides carried over
    from the previous build as they were), up to `MAX_WORDS`."""
    counts = Counter(w for c in chunks for w in WORD.findall(c.text))
    words = [w for w, _ in counts.most_common(MAX_WORDS)]
    return list(dict.fromkeys(words + sorted(kept or {})))[:MAX_WORDS]


def load_word_vectors(folder: Path) -> dict[str, np.ndarray]:
    """The vectors the build stored for the guides' words (none for an index built before they were)."""
    return read_vectors(folder / WORD_VECTORS)
