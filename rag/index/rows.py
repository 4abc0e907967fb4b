"""Row files: a matrix stored as one or more .npy files (segments), read row by row with pread.

A memory map of a vector file looks cheap, but on this kernel a fault maps the
page cache's whole large folio around it: 800 scattered rows of a 365 MB
embeddings.npy mapped all of it into the process (RSS +365 MB, measured; madvise
RANDOM did not help). Reading the candidate rows with pread copies 1.5 KB a row;
runs of consecutive rows are read at once. A matrix of up to IN_MEMORY_BYTES is simply
read whole at load: then a query makes no system call (a syscall per row was a
third of the CPU of a request at the guides' size). The files are opened when the
index is loaded, so a swapped-in newer build does not change what a loaded index reads.
"""

from __future__ import annotations

import os
from bisect import bisect_right
from collections.abc import Sequence
from pathlib import Path

import numpy as np

IN_MEMORY_BYTES = 64 << 20


def npy_header(path: Path) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """A .npy file's shape, Fortran order, dtype, and where its data starts."""
    with path.open("rb") as f:
        major, _ = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
        return shape, fortran, np.dtype(dtype), f.tell()


class RowFile:
    """The rows of 2-d .npy files (C order, one width and dtype) stacked in order, read on demand."""

    def __init__(self, paths: Path | Sequence[Path]) -> None:
        paths = [paths] if isinstance(paths, Path) else list(paths)
        headers = [npy_header(path) for path in paths]
        if not headers or any(len(shape) != 2 or fortran or shape[1:] != headers[0][0][1:] or dtype != headers[0][2]
                              for shape, fortran, dtype, _ in headers):
            raise ValueError(f"{', '.join(map(str, paths)) or 'no file'}: not C-order matrices of one width and dtype")
        self._starts = [0]
        for shape, *_ in headers:
            self._starts.append(self._starts[-1] + shape[0])
        self.shape: tuple[int, int] = (self._starts[-1], headers[0][0][1])
        self.dtype = np.dtype(headers[0][2])
        self._row_bytes = self.shape[1] * self.dtype.itemsize
        self._offsets = [offset for *_, offset in headers]
        self._fds = [os.open(path, os.O_RDONLY) for path in paths]
        small = sum(os.fstat(fd).st_size for fd in self._fds) <= IN_MEMORY_BYTES
        self._whole: np.ndarray | None = self.ranges(np.array([0]), np.array([self.shape[0]])) if small else None

    def __len__(self) -> int:
        return self.shape[0]

    def __del__(self) -> None:
        for fd in getattr(self, "_fds", ()):
            os.close(fd)

    def __getitem__(self, rows: int | slice | np.ndarray) -> np.ndarray:
        if isinstance(rows, slice):
            start, stop, step = rows.indices(self.shape[0])
            if step == 1:
                return self.ranges(np.array([start]), np.array([max(start, stop)]))
            rows = np.arange(start, stop, step)
        if np.ndim(rows) == 0:
            return self[np.array([rows])][0]
        rows = np.asarray(rows, dtype=np.int64)
        if self._whole is not None:
            return self._whole[rows]
        if len(rows) == 0:
            return np.empty((0, self.shape[1]), dtype=self.dtype)
        runs = np.flatnonzero(np.diff(rows) != 1) + 1  # where a run of consecutive rows breaks
        return self.ranges(rows[np.r_[0, runs]], rows[np.r_[runs - 1, len(rows) - 1]] + 1)

    def ranges(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Rows starts[0]:ends[0], then starts[1]:ends[1], ..., one read per range and file."""
        starts, ends = np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)
        lengths = ends - starts
        whole = getattr(self, "_whole", None)  # None while __init__ reads it
        if whole is not None:
            bounds = np.cumsum(lengths)
            return whole[np.repeat(starts - bounds + lengths, lengths) + np.arange(bounds[-1] if len(bounds) else 0)]
        out = np.empty((int(lengths.sum()), self.shape[1]), dtype=self.dtype)
        if not out.size:
            return out
        flat = memoryview(out).cast("B")
        at = 0
        for start, length in zip(starts.tolist(), lengths.tolist()):
            if not 0 <= start <= start + length <= self.shape[0]:
                raise IndexError(f"rows {start}:{start + length} of {self.shape[0]}")
            at = self._read(start, start + length, flat, at)
        return out

    def _read(self, start: int, stop: int, into: memoryview, at: int) -> int:
        """Rows start:stop into `into` from byte `at` on, a read per file they lie in; returns where they end."""
        while start < stop:
            part = bisect_right(self._starts, start) - 1  # the file holding row `start` (empty files are skipped)
            end = min(stop, self._starts[part + 1])
            size = (end - start) * self._row_bytes
            where = self._offsets[part] + (start - self._starts[part]) * self._row_bytes
            if os.preadv(self._fds[part], [into[at : at + size]], where) != size:
                raise OSError(f"short read of rows {start}:{end}")
            start, at = end, at + size
        return at

    def __array__(self, dtype: np.dtype | None = None, copy: bool | None = None) -> np.ndarray:
        whole = self[:]
        return whole if dtype is None else whole.astype(dtype, copy=False)  # already a fresh array: no second copy
