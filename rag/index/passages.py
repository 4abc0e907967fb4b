"""The passages of an index in one SQLite file, read by row as queries need them.

`passages.sqlite` holds one record per chunk (row-aligned with the vectors): the
chunk as JSON, its embedding key and its sentences' keys, with lookups by
`chunk_id` and by (`doc`, `start`). Loading an index opens it read-only and
parses nothing: a million passages cost a million rows on disk, not in memory.

The connection is opened when the index is loaded and kept: the folder may be
swapped for a newer build (rag.index.build), and an open file stays the version
the rest of the loaded index (vectors, FAISS) belongs to.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import overload

from rag.core.errors import IndexIncompatibleError
from rag.core.types import Chunk

PASSAGES = "passages.sqlite"
_CACHED_CHUNKS = 8192

_SCHEMA = """
CREATE TABLE chunks (row INTEGER PRIMARY KEY, chunk_id TEXT NOT NULL, doc TEXT NOT NULL, start INTEGER NOT NULL,
                     edition TEXT, hash TEXT NOT NULL, sentence_hashes TEXT NOT NULL, record TEXT NOT NULL);
CREATE TABLE editions (edition TEXT PRIMARY KEY);
"""
_INDEXES = """
CREATE UNIQUE INDEX chunks_by_id ON chunks (chunk_id);
CREATE INDEX chunks_by_place ON chunks (doc, start);
"""


def write_passages(path: Path, chunks: Sequence[Chunk], hashes: Sequence[str], sentence_hashes: Sequence[list[str]]) -> None:
    """Write the chunk records, row r being chunks[r], into a new SQLite file at `path`."""
    con = _open_for_writing(path)
    try:
        con.executescript(_SCHEMA)
        _insert(con, range(len(chunks)), chunks, hashes, sentence_hashes)
        con.executescript(_INDEXES)
        con.commit()
    finally:
        con.close()


def update_passages(path: Path, previous: Path, moves: Sequence[tuple[int, int, int]], rows: Sequence[int],
                    chunks: Sequence[Chunk], hashes: Sequence[str], sentence_hashes: Sequence[list[str]]) -> None:
    """Write at `path` a copy of `previous` in which old rows `start:stop` become rows `to:` for each
    (start, stop, to) of `moves`, the other old rows are gone, and `chunks[i]` is row `rows[i]`.

    A copy and a few statements instead of a rewrite: at a million passages rewriting
    the file was ~10% of a one-file update (bench/README.md, "Scale")."""
    shutil.copyfile(previous, path)
    con = _open_for_writing(path)
    try:
        old_count = con.execute("SELECT count(*) FROM chunks").fetchone()[0]
        for start, stop in dropped_rows(moves, old_count):
            con.execute("DELETE FROM chunks WHERE row >= ? AND row < ?", (start, stop))
        # Two passes through negative rows, so that no row takes a number another one still holds.
        for start, stop, to in moves:
            if to != start:
                con.execute("UPDATE chunks SET row = -1 - (row + ?) WHERE row >= ? AND row < ?", (to - start, start, stop))
        con.execute("UPDATE chunks SET row = -1 - row WHERE row < 0")
        _insert(con, rows, chunks, hashes, sentence_hashes)
        con.execute("DELETE FROM editions")
        con.execute("INSERT INTO editions SELECT DISTINCT edition FROM chunks WHERE edition IS NOT NULL")
        con.commit()
    finally:
        con.close()


def dropped_rows(moves: Sequence[tuple[int, int, int]], count: int) -> list[tuple[int, int]]:
    """The row ranges `start:stop` of `count` old rows that no (start, stop, to) of `moves` carries over."""
    kept = sorted(moves)
    bounds = zip([0] + [stop for _, stop, _ in kept], [start for start, _, _ in kept] + [count], strict=True)
    return [(start, stop) for start, stop in bounds if start < stop]


def _open_for_writing(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(path)
    con.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;")  # a staging file: a crash discards it whole
    return con


def _insert(con: sqlite3.Connection, rows: Sequence[int], chunks: Sequence[Chunk], hashes: Sequence[str],
            sentence_hashes: Sequence[list[str]]) -> None:
    records = ((r, c.chunk_id, c.doc, c.start, c.edition, h, json.dumps(s), json.dumps(c.to_json(), ensure_ascii=False))
               for r, c, h, s in zip(rows, chunks, hashes, sentence_hashes, strict=True))
    con.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?)", records)
    editions = sorted({c.edition for c in chunks if c.edition})
    con.executemany("INSERT OR IGNORE INTO editions VALUES (?)", ((e,) for e in editions))


class Passages(Sequence[Chunk]):
    """The chunks of an index, row by row, from its passages.sqlite (read-only, shared by threads)."""

    def __init__(self, path: Path) -> None:
        self._con = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro&immutable=1", uri=True, check_same_thread=False)
        self._lock = threading.Lock()
        self._count = self._found("SELECT count(*) FROM chunks")[0]
        self._chunk = lru_cache(maxsize=_CACHED_CHUNKS)(self._read_chunk)
        # Answers ask for the chunks of list items and aligned sections again and again (a query each:
        # ~5% of a served request's CPU); the file never changes, so what a query found stays true.
        self._row_at = lru_cache(maxsize=_CACHED_CHUNKS)(self._read_row_at)

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, row: int) -> Chunk: ...

    @overload
    def __getitem__(self, row: slice) -> list[Chunk]: ...

    def __getitem__(self, row: int | slice) -> Chunk | list[Chunk]:
        if isinstance(row, slice):
            return [self[r] for r in range(*row.indices(self._count))]
        row = int(row)
        if not -self._count <= row < self._count:
            raise IndexError(row)
        return self._chunk(row % self._count)

    def __iter__(self) -> Iterator[Chunk]:
        with self._lock:
            records = self._con.execute("SELECT record FROM chunks ORDER BY row").fetchall()
        return (Chunk.from_json(json.loads(r)) for (r,) in records)

    def row_of(self, chunk_id: str) -> int | None:
        found = self._one("SELECT row FROM chunks WHERE chunk_id = ?", chunk_id)
        return found[0] if found else None

    def at(self, doc: str, offset: int) -> Chunk | None:
        """The chunk of `doc` that holds raw offset `offset`: the last one to start at or before it."""
        row = self._row_at(doc, offset)
        chunk = self[row] if row is not None else None
        return chunk if chunk is not None and chunk.start <= offset < chunk.end else None

    def editions(self) -> frozenset[str]:
        with self._lock:
            return frozenset(e for (e,) in self._con.execute("SELECT edition FROM editions"))

    def keys(self, start: int = 0, stop: int | None = None) -> tuple[list[str], list[list[str]]]:
        """The embedding key of rows `start:stop` (default: all), and their sentences' keys, in row order
        (what a build reuses)."""
        with self._lock:
            rows = self._con.execute("SELECT hash, sentence_hashes FROM chunks WHERE row >= ? AND row < ? ORDER BY row",
                                     (start, self._count if stop is None else stop)).fetchall()
        return [h for h, _ in rows], [json.loads(s) for _, s in rows]

    def doc_rows(self) -> dict[str, tuple[int, int]]:
        """Each document's rows `start:stop`, for documents whose rows are consecutive (a build's always are)."""
        with self._lock:
            found = self._con.execute("SELECT doc, min(row), max(row) + 1, count(*) FROM chunks GROUP BY doc").fetchall()
        return {doc: (start, stop) for doc, start, stop, count in found if stop - start == count}

    def close(self) -> None:
        self._con.close()

    def _read_chunk(self, row: int) -> Chunk:
        return Chunk.from_json(json.loads(self._found("SELECT record FROM chunks WHERE row = ?", row)[0]))

    def _read_row_at(self, doc: str, offset: int) -> int | None:
        found = self._one("SELECT row FROM chunks WHERE doc = ? AND start <= ? ORDER BY start DESC, row DESC LIMIT 1",
                          doc, offset)
        return found[0] if found else None

    def _found(self, sql: str, *args: object) -> tuple:
        """The one row a query must find (a count, or a row number the index itself holds)."""
        row = self._one(sql, *args)
        if row is None:
            raise IndexIncompatibleError("passages.sqlite lacks a row the index refers to — run 'rag index build --force'")
        return row

    def _one(self, sql: str, *args: object) -> tuple | None:
        with self._lock:
            return self._con.execute(sql, args).fetchone()
