"""Line files written partly from another file's bytes (rag.index.lines)."""

from pathlib import Path

import pytest

from rag.index import lines
from rag.index.lines import line_starts, write_parts


def test_line_starts_counts_newlines_across_blocks(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(lines, "_BLOCK", 7)  # lines that straddle blocks
    text = [f"line {i} {'é' * i}\n".encode() for i in range(12)]
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"".join(text))
    offsets = [sum(len(t) for t in text[:i]) for i in range(13)]
    assert line_starts(path, list(range(13))) == offsets
    assert line_starts(path, [0, 5, 12]) == [offsets[0], offsets[5], path.stat().st_size]
    with pytest.raises(ValueError, match="has 12 lines, not 13"):
        line_starts(path, [3, 13])


def test_write_parts_keeps_the_order_of_new_bytes_and_copied_ranges(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(lines, "_PENDING", 4)
    source = tmp_path / "old"
    source.write_bytes(b"0123456789")
    parts = [b"a", (2, 4), (4, 5), b"bc", b"defg", b"h", (0, 1), (9, 10), b"i"]
    write_parts(tmp_path / "new", parts, source)
    assert (tmp_path / "new").read_bytes() == b"a234bcdefgh09i"
    write_parts(tmp_path / "bytes only", [b"x", b"y"])
    assert (tmp_path / "bytes only").read_bytes() == b"xy"
