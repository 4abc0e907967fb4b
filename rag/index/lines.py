"""Line files (chunks.jsonl, outline.jsonl) written partly from the previous build's bytes.

An update carries the lines of unchanged guides over: it finds where they lie in the
serving index's file by counting newlines (no line is parsed) and has the kernel copy
those byte ranges (copy_file_range), so they never pass through Python as objects.
At a million passages re-making chunks.jsonl from passages.sqlite and re-serialising
the outline was a quarter to a third of a one-file update (bench/README.md, "Scale").
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import nullcontext
from pathlib import Path

import numpy as np

_BLOCK = 1 << 24  # bytes scanned for newlines at a time
_PENDING = 1 << 20  # new bytes gathered before a write
# copy_file_range refused (an older kernel, a filesystem without it, across filesystems): copy by hand.
_NO_COPY_RANGE = {errno.ENOSYS, errno.EXDEV, errno.EINVAL, errno.EOPNOTSUPP}

#: Bytes to write as they are, or a byte range (start, stop) of the source file.
Part = bytes | tuple[int, int]


def line_starts(path: Path, lines: Sequence[int]) -> list[int]:
    """The byte offset at which each of `lines` (ascending line numbers, from 0) starts in `path`:
    line i starts after the i-th newline, so the number of lines gives the file's end. The file
    is read only as far as the last of `lines`."""
    found: list[int] = []
    newlines = at = 0  # newlines counted, bytes read, before the current block
    block = np.empty(_BLOCK, dtype=np.uint8)
    with path.open("rb", buffering=0) as f:
        while len(found) < len(lines) and lines[len(found)] == 0:
            found.append(0)
        while len(found) < len(lines) and (size := f.readinto(memoryview(block))):
            ends = np.flatnonzero(block[:size] == ord("\n"))
            while len(found) < len(lines) and lines[len(found)] <= newlines + len(ends):
                found.append(at + int(ends[lines[len(found)] - newlines - 1]) + 1)
            newlines, at = newlines + len(ends), at + size
    if len(found) < len(lines):
        raise ValueError(f"{path} has {newlines} lines, not {lines[len(found)]}")
    return found


def write_parts(path: Path, parts: Iterable[Part], source: Path | None = None) -> None:
    """Write `path` from `parts` in order: bytes as they are, each (start, stop) as bytes start:stop
    of `source`, copied by the kernel."""
    with path.open("wb", buffering=0) as out, source.open("rb", buffering=0) if source else nullcontext() as src:
        for part in _coalesced(parts):
            if isinstance(part, bytes):
                view = memoryview(part)
                while view:
                    view = view[out.write(view) :]
            elif src is None:
                raise ValueError(f"a byte range {part} to copy into {path}, but no file to copy it from")
            else:
                _copy_range(src.fileno(), out.fileno(), *part)


def _coalesced(parts: Iterable[Part]) -> Iterator[Part]:
    """`parts` with runs of bytes joined into writes of about _PENDING bytes and adjacent ranges merged."""
    pending: list[bytes] = []
    size = 0
    span: tuple[int, int] | None = None
    for part in parts:
        if isinstance(part, bytes):
            if span is not None:
                yield span
                span = None
            pending.append(part)
            size += len(part)
            if size >= _PENDING:
                yield b"".join(pending)
                pending, size = [], 0
            continue
        if pending:
            yield b"".join(pending)
            pending, size = [], 0
        if span is not None and span[1] == part[0]:
            span = (span[0], part[1])
        else:
            if span is not None:
                yield span
            span = part
    if span is not None:
        yield span
    if pending:
        yield b"".join(pending)


def _copy_range(src: int, dst: int, start: int, stop: int) -> None:
    """Bytes start:stop of `src` written at `dst`'s position: by the kernel, or through a buffer where it cannot."""
    while start < stop:
        try:
            copied = os.copy_file_range(src, dst, stop - start, start)
        except OSError as e:
            if e.errno not in _NO_COPY_RANGE:
                raise
            copied = os.write(dst, os.pread(src, min(stop - start, _BLOCK), start))
        if copied == 0:
            raise OSError(f"the source ends before byte {stop} of a range to copy")
        start += copied
