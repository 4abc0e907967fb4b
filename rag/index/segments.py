"""The per-row vector files in segments: what an update links instead of copying.

The chunk vectors and the sentence vectors are stored in segments of about
SEGMENT_ROWS consecutive chunk rows: `segments/<name>.embeddings.npy` holds the
segment's chunk vectors, `segments/<name>.sentence_embeddings.npy` the vectors of
those chunks' sentences. The manifest lists the segments in row order; stacked in
that order they are the index's vectors, row-aligned with chunks.jsonl. Rows stay
global: a segment knows its row count, not where it starts.

An update keeps a segment whose rows are all carried over together (rows that
only moved keep their vectors, and a segment stores none of its position) and
hard-links its files from the serving index's folder instead of copying them
(copied where the filesystem cannot link). The rest of the rows are written as
new segments. Files are never changed once written: a linked file is shared
with the serving index, and a build only ever writes files it created.
At a million passages copying the two vector files was a third of a one-file update
(bench/README.md, "Scale").
"""

from __future__ import annotations

import os
import shutil
import uuid
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, computed_field

from rag.index.rows import RowFile

SEGMENTS_DIR = "segments"
VECTORS = "embeddings.npy"
SENTENCE_VECTORS = "sentence_embeddings.npy"
# Chunk rows per segment: a change rewrites the segments it touches (at 384 dimensions, ~25 MB of chunk
# vectors and as many per sentence a chunk); the other segments are linked. 1M rows make ~60.
SEGMENT_ROWS = 16384


class Segment(BaseModel, frozen=True):
    """A run of consecutive chunk rows and their sentences, as listed in the manifest."""

    name: str
    rows: int
    sentences: int

    @computed_field  # type: ignore[prop-decorator]  # in the manifest, for readers without our code
    @property
    def vectors(self) -> str:
        """Its chunk vectors' file, relative to the index folder."""
        return f"{SEGMENTS_DIR}/{self.name}.{VECTORS}"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def sentence_vectors(self) -> str:
        """Its sentence vectors' file, relative to the index folder."""
        return f"{SEGMENTS_DIR}/{self.name}.{SENTENCE_VECTORS}"


def vector_files(folder: Path, segments: Sequence[Segment]) -> tuple[RowFile, RowFile]:
    """The chunk vectors and the sentence vectors of `segments` in `folder`, each read as one matrix."""
    return (RowFile([folder / s.vectors for s in segments]), RowFile([folder / s.sentence_vectors for s in segments]))


@dataclass(frozen=True)
class Placed:
    """New rows `start:stop` as one segment: `linked` from the previous index, or written anew (None)."""

    start: int
    stop: int
    linked: Segment | None = None


def plan_segments(old: Sequence[Segment], moves: Sequence[tuple[int, int, int]], size: int) -> list[Placed]:
    """The segments of an index of `size` rows, where old rows `start:stop` moved to `to:` for each
    (start, stop, to) of `moves`: each old segment that moved whole is kept, the other rows are cut
    into new segments of at most SEGMENT_ROWS. Segments stay at least a quarter of that long however
    many small updates the index sees: shorter old ones are not kept, and a shorter run of new rows
    is written together with its next neighbour (the last one, with its previous)."""
    small = SEGMENT_ROWS // 4
    runs: list[Placed] = []
    for start, segment in _moved_whole(old, moves):
        if segment.rows >= small:
            runs += [Placed(runs[-1].stop if runs else 0, start)] if start > (runs[-1].stop if runs else 0) else []
            runs.append(Placed(start, start + segment.rows, segment))
    end = runs[-1].stop if runs else 0
    runs += [Placed(end, size)] if end < size else []
    merged: list[Placed] = []
    for run in runs:
        if merged and merged[-1].linked is None and (run.linked is None or merged[-1].stop - merged[-1].start < small):
            merged[-1] = Placed(merged[-1].start, run.stop)
        else:
            merged.append(run)
    if len(merged) > 1 and merged[-1].linked is None and merged[-1].stop - merged[-1].start < small:
        last = merged.pop()
        merged[-1] = Placed(merged[-1].start, last.stop)
    return [piece for run in merged for piece in ([run] if run.linked else _cut(run.start, run.stop))]


def _moved_whole(old: Sequence[Segment], moves: Sequence[tuple[int, int, int]]) -> list[tuple[int, Segment]]:
    """(new start, segment) of each old segment whose rows all lie in one move, in row order."""
    found: list[tuple[int, Segment]] = []
    ordered = sorted(moves)
    move_starts = [start for start, _, _ in ordered]
    at = 0
    for segment in old:
        i = bisect_right(move_starts, at) - 1
        if i >= 0 and ordered[i][1] >= at + segment.rows:
            found.append((ordered[i][2] + at - ordered[i][0], segment))
        at += segment.rows
    return found


def _cut(start: int, stop: int) -> list[Placed]:
    """Rows start:stop as the fewest segments of at most SEGMENT_ROWS, of near-equal size."""
    bounds = np.linspace(start, stop, -(-(stop - start) // SEGMENT_ROWS) + 1).round().astype(int).tolist()
    return [Placed(a, b) for a, b in zip(bounds, bounds[1:])]


@dataclass(frozen=True)
class RowSource:
    """Where the rows of a new matrix come from: rows `start:stop` of `previous` go to `to:` for each
    (start, stop, to) of `moves`, and `vectors[i]` is row `rows[i]`."""

    moves: Sequence[tuple[int, int, int]]
    previous: RowFile | None
    rows: np.ndarray
    vectors: np.ndarray

    def gather(self, start: int, stop: int, dim: int) -> np.ndarray:
        """Rows start:stop of the new matrix."""
        out = np.empty((stop - start, dim), dtype=np.float32)
        for old, old_stop, to in self.moves:
            a, b = max(start, to), min(stop, to + old_stop - old)
            if a < b and self.previous is not None:
                out[a - start : b - start] = self.previous[old + a - to : old + b - to]
        here = (self.rows >= start) & (self.rows < stop)
        out[self.rows[here] - start] = self.vectors[here]
        return out


def write_segments(folder: Path, placed: Sequence[Placed], previous: Path | None, offsets: np.ndarray,
                   chunks: RowSource, sentences: RowSource) -> tuple[list[Segment], set[str]]:
    """Write (or link from the index in `previous`) the segments `placed` into `folder`; chunk row r's
    sentences are rows offsets[r]:offsets[r + 1]. Returns the segments and the files linked."""
    (folder / SEGMENTS_DIR).mkdir(parents=True, exist_ok=True)
    segments: list[Segment] = []
    linked: set[str] = set()
    dim = chunks.vectors.shape[1]
    for p in placed:
        if p.linked is not None and previous is not None:
            segments.append(p.linked)
            linked |= {name for name in (p.linked.vectors, p.linked.sentence_vectors) if _link(previous / name, folder / name)}
            continue
        first, last = int(offsets[p.start]), int(offsets[p.stop])
        segment = Segment(name=uuid.uuid4().hex[:16], rows=p.stop - p.start, sentences=last - first)
        np.save(folder / segment.vectors, chunks.gather(p.start, p.stop, dim))
        np.save(folder / segment.sentence_vectors, sentences.gather(first, last, dim))
        segments.append(segment)
    return segments, linked


def _link(source: Path, target: Path) -> bool:
    """Hard-link `source` at `target` (True), or copy it where linking fails, e.g. across filesystems (False)."""
    try:
        os.link(source, target)
        return True
    except OSError:
        shutil.copyfile(source, target)
        return False
