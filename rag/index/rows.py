"""A .npy matrix read row by row with pread: a query costs the rows it reads, not the file.

A memory map of a vector file looks cheap, but on this kernel a fault maps the
page cache's whole large folio around it: 800 scattered rows of a 365 MB
embeddings.npy mapped all of it into the process (RSS +365 MB, measured; madvise
RANDOM did not help). Reading the candidate rows with pread copies 1.5 KB a row;
runs of consecutive rows are read at once. A file up to IN_MEMORY_BYTES is simply
read whole at load: then a query makes no system call (a syscall per row was a
third of the CPU of a request at the guides' size). The file is opened when the
index is loaded, so a swapped-in newer build does not change what a loaded index reads.
"""

from __future__ import annotations

import os
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


def copy_rows(source: Path, target: Path, moves: list[tuple[int, int, int]]) -> None:
    """Rows `start:stop` of the .npy `source` into rows `to:` of the .npy `target` (same row size), for each
    (start, stop, to) of `moves`, copied by the kernel (copy_file_range): no page of either passes
    through the process."""
    shape, _, dtype, source_offset = npy_header(source)
    target_offset = npy_header(target)[3]
    row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
    with source.open("rb") as src, target.open("r+b") as dst:
        for start, stop, to in moves:
            at, size = 0, (stop - start) * row_bytes
            while at < size:
                copied = os.copy_file_range(src.fileno(), dst.fileno(), size - at, source_offset + start * row_bytes + at,
                                            target_offset + to * row_bytes + at)
                if copied <= 0:
                    raise OSError(f"could not copy rows {start}:{stop} of {source}")
                at += copied


class RowFile:
    """The rows of a 2-d .npy file (C order), read on demand."""

    def __init__(self, path: Path) -> None:
        shape, fortran, dtype, self._offset = npy_header(path)
        if len(shape) != 2 or fortran:
            raise ValueError(f"{path} is not a C-order matrix")
        self.shape: tuple[int, int] = shape
        self.dtype = np.dtype(dtype)
        self._row_bytes = shape[1] * self.dtype.itemsize
        self._fd = os.open(path, os.O_RDONLY)
        small = os.fstat(self._fd).st_size <= IN_MEMORY_BYTES
        self._whole: np.ndarray | None = self.ranges(np.array([0]), np.array([shape[0]])) if small else None

    def __len__(self) -> int:
        return self.shape[0]

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
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
        """Rows starts[0]:ends[0], then starts[1]:ends[1], ..., one read per range."""
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
            size = length * self._row_bytes
            if size and os.preadv(self._fd, [flat[at : at + size]], self._offset + start * self._row_bytes) != size:
                raise OSError(f"short read of rows {start}:{start + length}")
            at += size
        return out

    def __array__(self, dtype: np.dtype | None = None, copy: bool | None = None) -> np.ndarray:
        whole = self[:]
        return whole if dtype is None else whole.astype(dtype)
