"""Is the index older than the corpus? Which files changed, were added or removed since it was built.

The index manifest records every corpus file's sha256 (CONTRACTS §5); the corpus
now is hashed the way a build hashes it (rag.ingest.corpus.corpus_digests). The
hashes are recomputed only when a file's size or modification time changed, so a
check per request costs a directory listing.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.core.errors import CorpusError
from rag.index.store import REBUILD_HINT, IndexManifest
from rag.ingest.corpus import corpus_digests

LISTED = 3  # files named in a message; beyond that, a count


@dataclass(frozen=True)
class Staleness:
    """The corpus files that differ from what the index was built from (empty lists: the index is current)."""

    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    @property
    def stale(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    @property
    def files(self) -> str:
        """'changed a.txt; added b.md', naming up to LISTED files per kind."""
        parts = (named_files(label, names) for label, names in
                 (("changed", self.changed), ("added", self.added), ("removed", self.removed)) if names)
        return "; ".join(parts)

    @property
    def message(self) -> str:
        """One line for people, empty when the index is current."""
        if not self.stale:
            return ""
        return f"the index is older than the corpus ({self.files}); answers come from the old text — {REBUILD_HINT}"

    def to_json(self) -> dict:
        return {"message": self.message, "added": list(self.added), "changed": list(self.changed),
                "removed": list(self.removed)}


def compare(indexed: dict[str, str], now: dict[str, str]) -> Staleness:
    """Staleness of an index built from `indexed` (name → sha256) against the corpus `now`."""
    return Staleness(
        added=tuple(sorted(set(now) - set(indexed))),
        changed=tuple(sorted(n for n in now if n in indexed and indexed[n] != now[n])),
        removed=tuple(sorted(set(indexed) - set(now))),
    )


def indexed_files(manifest: IndexManifest) -> dict[str, str]:
    """Every corpus file the build saw, the skipped ones too (as a build compares them)."""
    return {**manifest.files, **manifest.skipped}


class CorpusWatch:
    """The corpus folder's digests, rehashed only when some file's name, size or mtime changed."""

    def __init__(self, corpus_dir: Path) -> None:
        self.corpus_dir = corpus_dir
        self._lock = threading.Lock()
        self._signature: tuple | None = None
        self._digests: dict[str, str] | None = {}

    def digests(self) -> dict[str, str] | None:
        """name → sha256 of the guide files and catalogue; empty when the folder is missing or has no guides;
        None when it cannot be read as a corpus (a build would refuse it and say why: nothing is known
        to have changed, so nothing is reported stale)."""
        signature = self._stat_signature()
        with self._lock:
            if signature != self._signature:
                try:
                    self._digests = corpus_digests(self.corpus_dir)
                except CorpusError:
                    self._digests = None
                except OSError:
                    self._digests = {}
                self._signature = signature
            return self._digests

    def staleness(self, manifest: IndexManifest) -> Staleness:
        now = self.digests()
        return Staleness() if now is None else compare(indexed_files(manifest), now)

    def _stat_signature(self) -> tuple:
        try:
            entries = sorted(self.corpus_dir.iterdir())
        except OSError:
            return ()
        signature = []
        for path in entries:
            try:
                st = path.stat()
            except OSError:
                continue
            signature.append((path.name, st.st_size, st.st_mtime_ns, st.st_ino))
        return tuple(signature)


def named_files(label: str, names: Sequence[str]) -> str:
    """"changed a.txt, b.md", or "changed 500 files" when there are more than LISTED."""
    if len(names) <= LISTED:
        return f"{label} {', '.join(names)}"
    return f"{label} {len(names):,} files"
